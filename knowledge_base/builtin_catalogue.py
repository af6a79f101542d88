"""The project's own catalogue of common citizen procedures (``knowledge_base/builtin/*.yaml``).

Written by us: facts (codes, fees, deadlines, document names, legal-basis numbers) come from the
official catalogue; the prose and the citizen words are ours. Each YAML file is a list of
procedures in the shape of :class:`knowledge_base.model.Procedure`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from knowledge_base.model import Procedure

BUILTIN_DIR = Path(__file__).with_name("builtin")


@lru_cache(maxsize=1)
def load_builtin() -> tuple[Procedure, ...]:
    """All built-in procedures, validated; a duplicate code is a programming error."""
    procedures: dict[str, Procedure] = {}
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            procedure = Procedure.model_validate({**raw, "builtin": True})
            if procedure.code in procedures:
                raise ValueError(f"{path.name}: duplicate built-in procedure {procedure.code}")
            procedures[procedure.code] = procedure
    return tuple(procedures.values())
