"""What the handoff inbox shows: the queue with waiting times, who has which conversation, transcripts.

Conversations carry no agency (a citizen asks for "an officer", not for a department), so every
officer sees the whole queue; a conversation taken by an officer is answered by that officer, and
supervisors and admins can see and release it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.inbox import attachments_of
from core.clock import as_utc
from core.handoff import Conversation, ConversationStatus, HandoffService
from core.handoff import _conversation as conversation_view
from core.models import ChatMessageRow, ConversationRow, HandoffRow, InboxMessageRow

TRANSCRIPT_LIMIT = 200  # last messages shown to the officer
PREVIEW_CHARS = 120

CHANNEL_LABELS = {"zalo": "Zalo", "telegram": "Telegram", "webchat": "Trang web"}
STATUS_LABELS = {
    ConversationStatus.BOT.value: "trợ lý ảo đang trả lời",
    ConversationStatus.WAITING.value: "đang chờ cán bộ",
    ConversationStatus.WITH_OFFICER.value: "cán bộ đang trả lời",
    ConversationStatus.CLOSED.value: "đã kết thúc",
}


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def describe_wait(wait: timedelta) -> str:
    """'vừa xong', '4 phút', '1 giờ 5 phút', '2 ngày 3 giờ' (Vietnamese, coarse)."""
    minutes = max(int(wait.total_seconds() // 60), 0)
    if minutes < 1:
        return "vừa xong"
    if minutes < 60:
        return f"{minutes} phút"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} giờ {minutes} phút" if minutes else f"{hours} giờ"
    days, hours = divmod(hours, 24)
    return f"{days} ngày {hours} giờ" if hours else f"{days} ngày"


@dataclass(frozen=True)
class WaitingItem:
    conversation: Conversation
    requested_at: datetime
    reason: str
    waited: timedelta
    last_text: str  # the citizen's last message, shortened

    @property
    def wait_label(self) -> str:
        return describe_wait(self.waited)

    @property
    def channel_label(self) -> str:
        return channel_label(self.conversation.channel)


@dataclass(frozen=True)
class ActiveItem:
    """A conversation an officer is answering now."""

    conversation: Conversation
    officer: str
    taken_at: datetime | None
    last_text: str

    @property
    def channel_label(self) -> str:
        return channel_label(self.conversation.channel)


@dataclass(frozen=True)
class TranscriptLine:
    id: int
    direction: str  # in | out
    author: str  # citizen | bot | officer:<username> | system
    text: str
    at: datetime
    # What the message carried besides its text: image URLs (Zalo, the widget, a bot's image) or
    # Telegram file ids (opened through the back office, which holds the bot token).
    attachments: tuple[str, ...] = ()

    @property
    def author_label(self) -> str:
        if self.author == "citizen" or self.direction == "in":
            return "Người dân"
        if self.author == "bot":
            return "Trợ lý ảo"
        if self.author.startswith("officer:"):
            return f"Cán bộ {self.author.split(':', 1)[1]}"
        return "Hệ thống"


def _last_citizen_text(session: Session, channel: str, sender_id: str) -> str:
    text = session.scalar(
        select(ChatMessageRow.text)
        .where(
            ChatMessageRow.channel == channel,
            ChatMessageRow.sender_id == sender_id,
            ChatMessageRow.direction == "in",
        )
        .order_by(ChatMessageRow.id.desc())
        .limit(1)
    )
    text = " ".join((text or "").split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def waiting(handoffs: HandoffService, engine: Engine, now: datetime) -> list[WaitingItem]:
    """The queue, oldest request first, with how long each citizen has waited."""
    queue = handoffs.waiting()
    with Session(engine) as session:
        return [
            WaitingItem(
                conversation=conversation,
                requested_at=requested_at,
                reason=reason,
                waited=as_utc(now) - as_utc(requested_at),
                last_text=_last_citizen_text(session, conversation.channel, conversation.sender_id),
            )
            for conversation, requested_at, reason in queue
        ]


def active(engine: Engine, officer: str | None = None) -> list[ActiveItem]:
    """Conversations with an officer (only ``officer``'s when given), longest-running first."""
    query = (
        select(ConversationRow, HandoffRow.taken_at)
        .outerjoin(
            HandoffRow,
            (HandoffRow.conversation_id == ConversationRow.id) & HandoffRow.returned_at.is_(None),
        )
        .where(ConversationRow.status == ConversationStatus.WITH_OFFICER.value)
        .order_by(HandoffRow.taken_at, ConversationRow.id)
    )
    if officer is not None:
        query = query.where(ConversationRow.assigned_officer == officer)
    with Session(engine) as session:
        items: dict[int, ActiveItem] = {}
        for row, taken_at in session.execute(query).all():
            if row.id in items:
                continue
            items[row.id] = ActiveItem(
                conversation=conversation_view(row),
                officer=row.assigned_officer or "",
                taken_at=taken_at,
                last_text=_last_citizen_text(session, row.channel, row.sender_id),
            )
        return list(items.values())


def transcript(engine: Engine, channel: str, sender_id: str, *, limit: int = TRANSCRIPT_LIMIT) -> list[TranscriptLine]:
    """The last ``limit`` messages between this citizen and us on this channel, oldest first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(ChatMessageRow)
            .where(ChatMessageRow.channel == channel, ChatMessageRow.sender_id == sender_id)
            .order_by(ChatMessageRow.id.desc())
            .limit(limit)
        ).all()
        carried = _inbox_attachments(session, [row for row in rows if row.direction == "in"])
        return [
            TranscriptLine(
                id=row.id,
                direction=row.direction,
                author=row.author,
                text=row.text,
                at=row.created_at,
                attachments=tuple(carried.get(row.id, ())) if row.direction == "in" else _sent_images(row),
            )
            for row in reversed(rows)
        ]


def message_attachments(engine: Engine, conversation: Conversation, message_id: int) -> list[str]:
    """What the citizen's message ``message_id`` of this conversation carried ([] when it is not theirs)."""
    with Session(engine) as session:
        row = session.get(ChatMessageRow, message_id)
        if row is None or (row.channel, row.sender_id) != (conversation.channel, conversation.sender_id):
            return []
        return _inbox_attachments(session, [row]).get(row.id, []) if row.direction == "in" else []


def _inbox_attachments(session: Session, rows: list[ChatMessageRow]) -> dict[int, list[str]]:
    """{transcript row id: attachments} for incoming rows; the files live on the inbox row they came from."""
    inbox_ids = {row.id: (row.payload or {}).get("inbox_id") for row in rows}
    wanted = {i for i in inbox_ids.values() if isinstance(i, int)}
    if not wanted:
        return {}
    query = select(InboxMessageRow.id, InboxMessageRow.payload).where(InboxMessageRow.id.in_(wanted))
    payloads: dict[int, dict[str, object]] = {inbox: payload for inbox, payload in session.execute(query).tuples()}
    return {row: attachments_of(payloads[inbox]) for row, inbox in inbox_ids.items() if inbox in payloads}


def _sent_images(row: ChatMessageRow) -> tuple[str, ...]:
    image = (row.payload or {}).get("image_url")
    return (str(image),) if image else ()


def last_officer(engine: Engine, conversation_id: int) -> str | None:
    """The officer of the conversation's latest handoff (who may still look at it after returning it)."""
    with Session(engine) as session:
        return session.scalar(
            select(HandoffRow.officer)
            .where(HandoffRow.conversation_id == conversation_id)
            .order_by(HandoffRow.id.desc())
            .limit(1)
        )
