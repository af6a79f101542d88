"""What the durable inbox and the outbox share: rows kept per (channel, party) in id order.

Both tables have ``id``, ``channel``, ``status`` and ``next_attempt_at``, plus the party whose rows must
go in order (the inbox's ``sender_id``, the outbox's ``recipient_id``). A party's oldest pending row
blocks its later rows: only when that row is due is the party due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

PENDING = "pending"

RowT = TypeVar("RowT")


def due_parties(
    session: Session, model: type[Any], party: InstrumentedAttribute[str], now: datetime, limit: int
) -> list[tuple[str, str]]:
    """(channel, party) pairs whose oldest pending row is due, oldest first (their later rows wait)."""
    firsts = select(func.min(model.id)).where(model.status == PENDING).group_by(model.channel, party)
    rows = session.execute(
        select(model.channel, party)
        .where(model.id.in_(firsts), model.next_attempt_at <= now)
        .order_by(model.id)
        .limit(limit)
    ).all()
    return [(channel, party_id) for channel, party_id in rows]


def next_due(
    session: Session,
    model: type[RowT],
    party: InstrumentedAttribute[str],
    channel: str,
    party_id: str,
    now: datetime,
) -> RowT | None:
    """The party's oldest pending row if it is due (None otherwise: later rows wait behind it).

    One gateway process works on a database (its lanes keep a citizen's rows to one task), so no lease
    is written here."""
    table: Any = model
    row: Any = session.scalar(
        select(table)
        .where(table.channel == channel, party == party_id, table.status == PENDING)
        .order_by(table.id)
        .limit(1)
    )
    return row if row is not None and row.next_attempt_at <= now else None
