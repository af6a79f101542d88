"""The outbox: messages waiting to be delivered to citizens, and the transcript written with them.

``enqueue`` is what the gateway (bot replies), the back office (officer replies) and the notification
pump call, inside the caller's transaction: the message is queued if and only if the caller commits.
The gateway's dispatcher delivers pending rows per recipient in id order (see ``connectors.gateway``).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from connectors import queue_rows
from connectors.base import Button, OutgoingMessage, SendError
from core.clock import system_clock
from core.models import ChatMessageRow, OutboxMessageRow
from knowledge_base.text import nfc

PENDING = queue_rows.PENDING  # the status both queues share
SENT, FAILED, DISMISSED = "sent", "failed", "dismissed"


def enqueue(
    session: Session,
    message: OutgoingMessage,
    *,
    inbox_id: int | None = None,
    delivered: bool = False,
    kind: str = "",
) -> int:
    """Queue ``message`` and add it to the transcript; returns the outbox row id.

    ``delivered`` (the gateway only): the message was handed over synchronously (the webchat's
    ``POST /api/chat`` answer), so it is recorded as sent instead of queued. ``kind``: a notification's
    kind (dossier_status…), shown to staff when it cannot be delivered."""
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
        chunks_sent=0,
        kind=kind[:32],
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
    return queue_rows.due_parties(session, OutboxMessageRow, OutboxMessageRow.recipient_id, now, limit)


def next_due(session: Session, channel: str, recipient_id: str, now: datetime) -> OutboxMessageRow | None:
    """The oldest pending row of this recipient if it is due (None otherwise)."""
    return queue_rows.next_due(session, OutboxMessageRow, OutboxMessageRow.recipient_id, channel, recipient_id, now)


def record_chunk(session: Session, outbox_id: int, chunks_sent: int) -> None:
    """A part of a split message was delivered: a restart goes on with the next part, not the first."""
    session.execute(update(OutboxMessageRow).where(OutboxMessageRow.id == outbox_id).values(chunks_sent=chunks_sent))
    session.commit()


def mark_sent(session: Session, outbox_id: int, now: datetime, *, chunks_sent: int = 1) -> None:
    session.execute(
        update(OutboxMessageRow)
        .where(OutboxMessageRow.id == outbox_id)
        .values(
            status=SENT, sent_at=now, attempts=OutboxMessageRow.attempts + 1, last_error="", chunks_sent=chunks_sent
        )
    )
    session.commit()


def mark_retry(session: Session, outbox_id: int, error: str, next_attempt_at: datetime, *, final: bool) -> None:
    """Count a failed attempt: try again at ``next_attempt_at``, or give up when ``final``."""
    values: dict[str, object] = {"attempts": OutboxMessageRow.attempts + 1, "last_error": error[:2000]}
    values.update({"status": FAILED} if final else {"next_attempt_at": next_attempt_at})
    session.execute(update(OutboxMessageRow).where(OutboxMessageRow.id == outbox_id).values(**values))
    session.commit()


def failure_text(error: SendError | None, channel: str, *, detail: str = "", gave_up_after: int = 0) -> str:
    """What staff read about a failed delivery: the Vietnamese reason, then the technical detail in
    brackets (never the message text). ``gave_up_after``: the attempts made, when retries ran out."""
    reason = error.reason if error is not None and error.reason else f"Gửi qua kênh {channel} không thành công."
    if gave_up_after:
        reason = f"Đã thử gửi {gave_up_after} lần nhưng không thành công. Lỗi lần cuối: {reason}"
    technical = detail or (str(error) if error is not None else "")
    return f"{reason} [{technical[:300]}]" if technical else reason


def retry_failed(session: Session, outbox_id: int, now: datetime) -> bool:
    """Staff's "Gửi lại": a failed row is pending again, due now, with a fresh count of attempts
    (parts of a long text already delivered stay delivered). False if the row is not failed."""
    return bool(
        session.execute(
            update(OutboxMessageRow)
            .where(OutboxMessageRow.id == outbox_id, OutboxMessageRow.status == FAILED)
            .values(status=PENDING, attempts=0, next_attempt_at=now)
        ).rowcount  # type: ignore[attr-defined]
    )


def dismiss_failed(session: Session, outbox_id: int) -> bool:
    """Staff's "Bỏ qua": a failed row leaves the list (kept, with its error, for the record)."""
    return bool(
        session.execute(
            update(OutboxMessageRow)
            .where(OutboxMessageRow.id == outbox_id, OutboxMessageRow.status == FAILED)
            .values(status=DISMISSED)
        ).rowcount  # type: ignore[attr-defined]
    )
