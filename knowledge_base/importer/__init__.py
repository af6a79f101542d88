"""Portal importer: load a province's whole catalogue with one command (``motcua kb import PATH``).

``run_import`` reads every record from PATH (see ``readers`` for the formats), recovers the
structure of the flattened portal fields (``portal``), and upserts each procedure into the store.
A bad record is skipped with its reason; it never aborts the import. Importing the same data
twice reports every record unchanged the second time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from tqdm import tqdm

from knowledge_base.importer.convert import RecordError, convert
from knowledge_base.importer.readers import UnsupportedFormat, detect_format, iter_records
from knowledge_base.importer.report import ImportReport
from knowledge_base.model import Procedure

__all__ = ["BatchSink", "ImportReport", "ProcedureSink", "UnsupportedFormat", "detect_format", "run_import"]

Outcome = Literal["imported", "updated", "unchanged"]
BATCH_SIZE = 250  # records per transaction when the sink can take batches


class ProcedureSink(Protocol):
    """What the importer needs from the catalogue store."""

    def upsert_official(self, procedure: Procedure, *, partial: bool = False) -> Outcome: ...


@runtime_checkable
class BatchSink(Protocol):
    """A sink that can also write many records in one transaction (the SQL store)."""

    def upsert_official(self, procedure: Procedure, *, partial: bool = False) -> Outcome: ...

    def upsert_official_many(self, items: Sequence[tuple[Procedure, bool]]) -> list[Outcome]: ...


def run_import(path: Path, store: ProcedureSink, *, progress: bool = True) -> ImportReport:
    """Import every record under ``path`` into ``store``; return what happened.

    Raises ``FileNotFoundError`` / ``UnsupportedFormat`` before anything is written when the path
    itself cannot be read; individual bad records only show up in the report.
    """
    path = Path(path)
    report = ImportReport(source=str(path))
    records = iter_records(path)
    show = progress and sys.stderr.isatty()
    pending: list[tuple[str, Procedure, bool]] = []
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
            pending.append((raw.source, converted.procedure, raw.partial))
            if len(pending) >= BATCH_SIZE:
                _flush(pending, store, report)
        _flush(pending, store, report)
    return report


def _flush(pending: list[tuple[str, Procedure, bool]], store: ProcedureSink, report: ImportReport) -> None:
    """Write the pending records: in one transaction when the sink can, else one by one. When the batch
    fails as a whole, each record is retried on its own so one bad record only skips itself."""
    if not pending:
        return
    batch = list(pending)
    pending.clear()
    if isinstance(store, BatchSink) and len(batch) > 1:
        try:
            outcomes = store.upsert_official_many([(procedure, partial) for _, procedure, partial in batch])
        except Exception:  # retried record by record below, where each failure is reported
            pass
        else:
            for outcome in outcomes:
                report.count(outcome)
            return
    for source, procedure, partial in batch:
        try:
            report.count(store.upsert_official(procedure, partial=partial))
        except Exception as exc:  # a record the store rejects must not lose the rest
            report.skip(source, f"could not be stored: {type(exc).__name__}: {exc}")
