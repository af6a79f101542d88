"""Portal importer: load a province's whole catalogue with one command (``motcua kb import PATH``).

``run_import`` reads every record from PATH (see ``readers`` for the formats), recovers the
structure of the flattened portal fields (``portal``), and upserts each procedure into the store.
A bad record is skipped with its reason; it never aborts the import. Importing the same data
twice reports every record unchanged the second time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, Protocol

from tqdm import tqdm

from knowledge_base.importer.convert import RecordError, convert
from knowledge_base.importer.readers import UnsupportedFormat, detect_format, iter_records
from knowledge_base.importer.report import ImportReport
from knowledge_base.model import Procedure

__all__ = ["ImportReport", "ProcedureSink", "UnsupportedFormat", "detect_format", "run_import"]


class ProcedureSink(Protocol):
    """What the importer needs from the catalogue store."""

    def upsert_official(
        self, procedure: Procedure, *, partial: bool = False
    ) -> Literal["imported", "updated", "unchanged"]: ...


def run_import(path: Path, store: ProcedureSink, *, progress: bool = True) -> ImportReport:
    """Import every record under ``path`` into ``store``; return what happened.

    Raises ``FileNotFoundError`` / ``UnsupportedFormat`` before anything is written when the path
    itself cannot be read; individual bad records only show up in the report.
    """
    path = Path(path)
    report = ImportReport(source=str(path))
    records = iter_records(path)
    show = progress and sys.stderr.isatty()
    with tqdm(records, desc="Importing", unit=" records", disable=not show, file=sys.stderr) as bar:
        for raw in bar:
            report.read += 1
            if raw.error:
                report.skip(raw.source, raw.error)
                continue
            try:
                converted = convert(raw)
            except RecordError as exc:
                report.skip(raw.source, str(exc))
                continue
            except Exception as exc:  # a parser bug must not lose the rest of the catalogue
                report.skip(raw.source, f"unparseable record: {type(exc).__name__}: {exc}")
                continue
            for warning in converted.warnings:
                report.warn(raw.source, warning)
            if not raw.partial:
                report.parsed(converted.present, converted.failures)
            report.count(store.upsert_official(converted.procedure, partial=raw.partial))
    return report
