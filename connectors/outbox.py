"""The outbox: messages waiting to be delivered to citizens, and the transcript written with them.

``enqueue`` is what the gateway (bot replies), the back office (officer replies) and the notification
pump call, inside the caller's transaction: the message is queued if and only if the caller commits.
The gateway's dispatcher delivers pending rows per recipient in id order (see ``connectors.gateway``).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.base import Button, OutgoingMessage
from core.clock import system_clock
from core.models import ChatMessageRow, OutboxMessageRow
from knowledge_base.text import nfc

PENDING, SENT, FAILED = "pending", "sent", "failed"


def enqueue(session: Session, message: OutgoingMessage, *, inbox_id: int | None = None, delivered: bool = False) -> int:
    """Queue ``message`` and add it to the transcript; returns the outbox row id.

    ``delivered`` (the gateway only): the message was handed over synchronously (the webchat's
    ``POST /api/chat`` answer), so it is recorded as sent instead of queued."""
    now = system_clock()
    text = nfc(message.text)
    buttons = [{"title": nfc(b.title), "payload": b.payload} for b in message.buttons]
    row = OutboxMessageRow(
        channel=message.channel,
        recipient_id=message.recipient_id,
        inbox_id=inbox_id,
        author=message.author,
        text=text,
        buttons=buttons,
        image_url=message.image_url,
        status=SENT if delivered else PENDING,
        attempts=1 if delivered else 0,
        created_at=now,
        next_attempt_at=now,
        sent_at=now if delivered else None,
    )
    session.add(row)
    session.flush()
    payload: dict[str, object] = {"outbox_id": row.id}
    if message.image_url:
        payload["image_url"] = message.image_url
    session.add(
        ChatMessageRow(
            channel=message.channel,
            sender_id=message.recipient_id,
            direction="out",
            author=message.author,
            text=text,
            buttons=buttons,
            payload=payload,
            created_at=now,
        )
    )
    return int(row.id)


def outgoing(row: OutboxMessageRow) -> OutgoingMessage:
    """The message an outbox row stands for (with its id, for the channels that show it)."""
    return OutgoingMessage(
        channel=row.channel,
        recipient_id=row.recipient_id,
        text=row.text,
        buttons=tuple(Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in row.buttons or []),
        image_url=row.image_url,
        author=row.author,
        outbox_id=row.id,
    )


# --- splitting long texts ---------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+")


def _pack(pieces: list[str], separator: str, limit: int) -> list[str]:
    """Greedily join ``pieces`` with ``separator`` into chunks of at most ``limit`` characters."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_piece(piece: str, limit: int) -> list[str]:
    """One paragraph longer than ``limit``: at line breaks, then sentence ends, then spaces, then hard."""
    if len(piece) <= limit:
        return [piece]
    for pattern, separator in ((re.compile(r"\n"), "\n"), (_SENTENCE_END, " "), (re.compile(r"\s+"), " ")):
        parts = [p for p in pattern.split(piece) if p.strip()]
        if len(parts) > 1:
            return [chunk for part in _pack(parts, separator, limit) for chunk in _split_piece(part, limit)]
    return [piece[i : i + limit] for i in range(0, len(piece), limit)]


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in chunks of at most ``limit`` characters, cut at paragraph boundaries where possible."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    pieces = [chunk for paragraph in paragraphs for chunk in _split_piece(paragraph, limit)]
    return _pack(pieces, "\n\n", limit)


# --- what the dispatcher does with rows -------------------------------------------------------------


def due_recipients(session: Session, now: datetime, limit: int) -> list[tuple[str, str]]:
    """Recipients whose oldest pending message is due (their later messages wait behind it)."""
    firsts = (
        select(func.min(OutboxMessageRow.id))
        .where(OutboxMessageRow.status == PENDING)
        .group_by(OutboxMessageRow.channel, OutboxMessageRow.recipient_id)
    )
    rows = session.execute(
        select(OutboxMessageRow.channel, OutboxMessageRow.recipient_id)
        .where(OutboxMessageRow.id.in_(firsts), OutboxMessageRow.next_attempt_at <= now)
        .order_by(OutboxMessageRow.id)
        .limit(limit)
    ).all()
    return [(channel, recipient) for channel, recipient in rows]


def next_due(session: Session, channel: str, recipient_id: str, now: datetime) -> OutboxMessageRow | None:
    """The oldest pending row of this recipient if it is due (None otherwise: later rows wait behind it).

    One gateway process works on a database (its lanes keep a citizen's rows to one task), so no lease
    is written here."""
    row = session.scalar(
        select(OutboxMessageRow)
        .where(
            OutboxMessageRow.channel == channel,
            OutboxMessageRow.recipient_id == recipient_id,
            OutboxMessageRow.status == PENDING,
        )
        .order_by(OutboxMessageRow.id)
        .limit(1)
    )
    return row if row is not None and row.next_attempt_at <= now else None


def mark_sent(session: Session, outbox_id: int, now: datetime) -> None:
    session.execute(
        update(OutboxMessageRow)
        .where(OutboxMessageRow.id == outbox_id)
        .values(status=SENT, sent_at=now, attempts=OutboxMessageRow.attempts + 1, last_error="")
    )
    session.commit()


def mark_retry(session: Session, outbox_id: int, error: str, next_attempt_at: datetime, *, final: bool) -> None:
    """Count a failed attempt: try again at ``next_attempt_at``, or give up when ``final``."""
    values: dict[str, object] = {"attempts": OutboxMessageRow.attempts + 1, "last_error": error[:2000]}
    values.update({"status": FAILED} if final else {"next_attempt_at": next_attempt_at})
    session.execute(update(OutboxMessageRow).where(OutboxMessageRow.id == outbox_id).values(**values))
    session.commit()
