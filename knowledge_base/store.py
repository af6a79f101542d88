"""The catalogue store: procedures as validated JSON documents in the shared SQL database.

The built-in catalogue is always present (``ensure_builtin``), also under a fresh data directory.
Importing an official record refreshes the official fields and keeps our own words.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.db import create_all
from core.models import ProcedureRow
from knowledge_base.builtin_catalogue import load_builtin
from knowledge_base.model import Procedure

UpsertOutcome = Literal["imported", "updated", "unchanged"]


class CatalogueStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_all(engine)

    # --- reading ------------------------------------------------------------------------------
    def get(self, code: str) -> Procedure | None:
        with Session(self.engine) as session:
            row = session.get(ProcedureRow, code)
            return Procedure.model_validate(row.document) if row else None

    def get_many(self, codes: Iterable[str]) -> dict[str, Procedure]:
        wanted = list(codes)
        with Session(self.engine) as session:
            rows = session.scalars(select(ProcedureRow).where(ProcedureRow.code.in_(wanted)))
            return {row.code: Procedure.model_validate(row.document) for row in rows}

    def all(self) -> Iterator[Procedure]:
        with Session(self.engine) as session:
            for row in session.scalars(select(ProcedureRow).order_by(ProcedureRow.code)):
                yield Procedure.model_validate(row.document)

    def count(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(ProcedureRow)) or 0)

    # --- writing ------------------------------------------------------------------------------
    def ensure_builtin(self) -> list[str]:
        """Insert missing built-in procedures and refresh our words on existing ones.

        Returns the codes that changed.
        """
        changed: list[str] = []
        with Session(self.engine) as session, session.begin():
            for builtin in load_builtin():
                row = session.get(ProcedureRow, builtin.code)
                if row is None:
                    session.add(_row(builtin, official=False))
                    changed.append(builtin.code)
                    continue
                current = Procedure.model_validate(row.document)
                ours = {"summary": builtin.summary, "citizen_terms": builtin.citizen_terms, "builtin": True}
                merged = current.model_copy(update=ours)
                if merged != current:
                    _update(row, merged)
                    changed.append(builtin.code)
        return changed

    def upsert_official(self, procedure: Procedure, *, partial: bool = False) -> UpsertOutcome:
        """Insert or refresh one official record; ``partial`` only overwrites non-empty fields."""
        return self.upsert_official_many([(procedure, partial)])[0]

    def upsert_official_many(self, items: Sequence[tuple[Procedure, bool]]) -> list[UpsertOutcome]:
        """``upsert_official`` for many (procedure, partial) pairs in one transaction, in order.

        One commit per batch instead of one per record: importing the whole national catalogue is
        dominated by commits otherwise. A later item with the same code sees the earlier one."""
        if not items:
            return []
        with Session(self.engine) as session, session.begin():
            codes = list({procedure.code for procedure, _ in items})
            rows = {row.code: row for row in session.scalars(select(ProcedureRow).where(ProcedureRow.code.in_(codes)))}
            return [_merge_official(session, rows, procedure, partial) for procedure, partial in items]


def _merge_official(
    session: Session, rows: dict[str, ProcedureRow], procedure: Procedure, partial: bool
) -> UpsertOutcome:
    row = rows.get(procedure.code)
    if row is None:
        row = _row(procedure.model_copy(update={"builtin": False}), official=True)
        session.add(row)
        rows[procedure.code] = row
        return "imported"
    current = Procedure.model_validate(row.document)
    if partial:
        fresh = {k: v for k, v in procedure.official_fields().items() if v not in (None, "", [])}
        merged = Procedure.model_validate({**current.model_dump(), **fresh})
    else:
        merged = current.with_official(procedure)
    if merged == current and row.official:
        return "unchanged"
    _update(row, merged)
    row.official = True
    return "updated"


def _row(procedure: Procedure, *, official: bool) -> ProcedureRow:
    return ProcedureRow(
        code=procedure.code,
        name=procedure.name,
        builtin=procedure.builtin,
        official=official,
        document=procedure.model_dump(mode="json"),
    )


def _update(row: ProcedureRow, procedure: Procedure) -> None:
    row.name = procedure.name
    row.builtin = procedure.builtin
    row.document = procedure.model_dump(mode="json")
