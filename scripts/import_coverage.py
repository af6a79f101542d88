"""Parse coverage per portal field for an import path (nothing is written anywhere).

    .venv/bin/python scripts/import_coverage.py /work/shared/data/catalogue/procedures.jsonl.gz
    .venv/bin/python scripts/import_coverage.py PATH --json   # JSON only

Prints the coverage as JSON, then as a table: for each field, the records where it has content,
those parsed cleanly and the ratio; "field.problem" rows break a structured field's failures down
(time / fee of cách thức thực hiện, counts of thành phần hồ sơ, numbers of căn cứ pháp lý).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge_base.importer import run_import
from knowledge_base.model import Procedure


class _Sink:
    """Keeps the last version of each procedure in memory, like the store would."""

    def __init__(self) -> None:
        self.procedures: dict[str, Procedure] = {}

    def upsert_official(
        self, procedure: Procedure, *, partial: bool = False
    ) -> Literal["imported", "updated", "unchanged"]:
        old = self.procedures.get(procedure.code)
        self.procedures[procedure.code] = procedure
        if old is None:
            return "imported"
        return "unchanged" if old == procedure else "updated"


def channel_stats(procedures: list[Procedure]) -> dict[str, float | int]:
    """Channel-level detail: how many channels carry a numeric time and a known fee."""
    channels = [c for p in procedures for c in p.channels]
    timed = sum(1 for c in channels if any(t.value is not None for t in c.times))
    priced = sum(1 for c in channels if c.fees)
    amounts = sum(1 for c in channels if any(f.amount is not None for f in c.fees))
    documents = [d for p in procedures for case in p.cases for d in case.documents]
    counted = sum(1 for d in documents if d.originals is not None or d.copies is not None)
    laws = [lb for p in procedures for lb in p.legal_basis]
    numbered = sum(1 for lb in laws if lb.number)
    n = max(len(channels), 1)
    return {
        "channels": len(channels),
        "channels_with_time_value": timed,
        "channels_with_fee": priced,
        "channels_with_fee_amount": amounts,
        "time_value_ratio": round(timed / n, 4),
        "fee_amount_ratio": round(amounts / n, 4),
        "documents": len(documents),
        "documents_with_count": counted,
        "documents_with_form": sum(1 for d in documents if d.form),
        "legal_basis": len(laws),
        "legal_basis_with_number": numbered,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    sink = _Sink()
    report = run_import(args.path, sink, progress=not args.json)
    result = {
        "path": str(args.path),
        "read": report.read,
        "accepted": report.accepted,
        "skipped": len(report.skipped),
        "warnings": len(report.warnings),
        "coverage": report.coverage(),
        "detail": channel_stats(list(sink.procedures.values())),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if not args.json:
        print()
        print(report.render())
        print()
        for key, value in result["detail"].items():
            print(f"  {key:<28} {value:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
