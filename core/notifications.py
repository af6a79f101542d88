"""Dossier subscriptions and the notification outbox the gateway drains.

A store that changes something a citizen subscribed to queues a ``notifications`` row in the same
transaction as the change (outbox pattern), so a message is queued if and only if the change commits.
The gateway reads ``pending()``, sends, then calls ``mark_sent`` or ``mark_failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from core.clock import Clock, system_clock
from core.models import DossierSubscriptionRow, NotificationRow

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class Notification:
    id: int
    channel: str
    sender_id: str
    kind: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0


def subscribe(session: Session, dossier_code: str, channel: str, sender_id: str, *, clock: Clock) -> None:
    """Follow a dossier (idempotent; re-activates an ended subscription)."""
    row = session.scalar(
        select(DossierSubscriptionRow).where(
            DossierSubscriptionRow.dossier_code == dossier_code,
            DossierSubscriptionRow.channel == channel,
            DossierSubscriptionRow.sender_id == sender_id,
        )
    )
    if row is None:
        session.add(
            DossierSubscriptionRow(
                dossier_code=dossier_code, channel=channel, sender_id=sender_id, created_at=clock()
            )
        )
    else:
        row.active = True


def subscribers(session: Session, dossier_code: str) -> list[DossierSubscriptionRow]:
    return list(
        session.scalars(
            select(DossierSubscriptionRow)
            .where(
                DossierSubscriptionRow.dossier_code == dossier_code,
                DossierSubscriptionRow.active.is_(True),
            )
            .order_by(DossierSubscriptionRow.id)
        )
    )


def enqueue(
    session: Session,
    *,
    channel: str,
    sender_id: str,
    kind: str,
    text: str,
    payload: dict[str, Any] | None = None,
    clock: Clock = system_clock,
) -> NotificationRow:
    """Queue a message inside the caller's transaction."""
    row = NotificationRow(
        channel=channel,
        sender_id=sender_id,
        kind=kind,
        text=text,
        payload=payload or {},
        status=PENDING,
        attempts=0,
        created_at=clock(),
    )
    session.add(row)
    return row


class Outbox:
    """What the gateway's sender uses: read pending messages, record the outcome of each send."""

    def __init__(self, engine: Engine, *, clock: Clock = system_clock, max_attempts: int = 5) -> None:
        self.engine = engine
        self.clock = clock
        self.max_attempts = max_attempts

    def pending(self, limit: int = 50) -> list[Notification]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(NotificationRow)
                .where(NotificationRow.status == PENDING)
                .order_by(NotificationRow.id)
                .limit(limit)
            ).all()
            return [
                Notification(r.id, r.channel, r.sender_id, r.kind, r.text, dict(r.payload or {}), r.attempts)
                for r in rows
            ]

    def mark_sent(self, notification_id: int) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(NotificationRow)
                .where(NotificationRow.id == notification_id)
                .values(status=SENT, sent_at=self.clock(), attempts=NotificationRow.attempts + 1)
            )

    def mark_failed(self, notification_id: int, error: str, *, permanent: bool = False) -> str:
        """Count a failed send; the row stays pending until ``max_attempts`` (or ``permanent``).

        Returns the new status."""
        with Session(self.engine) as session, session.begin():
            row = session.get(NotificationRow, notification_id, with_for_update=True)
            if row is None:
                raise KeyError(notification_id)
            row.attempts += 1
            row.last_error = error[:2000]
            if permanent or row.attempts >= self.max_attempts:
                row.status = FAILED
            return row.status
