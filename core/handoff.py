"""Conversations and handoff to an officer (chuyển cán bộ): who is talking to whom, queue, wait estimate.

The gateway asks ``status`` for every incoming message to route it (bot, or the officer inbox);
the handoff action calls ``request``; the back office calls ``take``, ``return_to_bot`` and ``close``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import Clock, as_utc, system_clock
from core.models import ConversationRow, HandoffRow
from core.working_hours import OfficerHours, describe_moment
from knowledge_base.text import nfc


class ConversationStatus(str, Enum):
    BOT = "bot"
    WAITING = "waiting"  # chờ cán bộ
    WITH_OFFICER = "with_officer"  # cán bộ đang trả lời
    CLOSED = "closed"


OPEN = (ConversationStatus.BOT.value, ConversationStatus.WAITING.value, ConversationStatus.WITH_OFFICER.value)


@dataclass(frozen=True)
class Conversation:
    id: int
    channel: str
    sender_id: str
    status: str
    assigned_officer: str | None
    started_at: datetime
    last_message_at: datetime | None


@dataclass(frozen=True)
class HandoffTicket:
    """The answer to "I want to talk to an officer"."""

    conversation_id: int
    handoff_id: int
    status: str  # waiting | with_officer
    position: int  # 1 = next in line (0 when an officer already has the conversation)
    on_duty: bool
    estimated_wait: timedelta
    next_start: datetime | None  # when officers are back, if they are off duty now

    def message(self, hours: OfficerHours) -> str:
        """Vietnamese sentence for the citizen."""
        if self.status == ConversationStatus.WITH_OFFICER.value:
            return "Cán bộ đang hỗ trợ anh/chị trong cuộc trò chuyện này."
        minutes = max(1, math.ceil(self.estimated_wait.total_seconds() / 60))
        if self.on_duty:
            return (
                f"Anh/chị đang ở vị trí số {self.position} trong hàng chờ. Cán bộ sẽ trả lời trong khoảng "
                f"{minutes} phút."
            )
        back = describe_moment(self.next_start, hours.tz) if self.next_start else "giờ làm việc tiếp theo"
        return (
            f"Hiện ngoài giờ làm việc ({hours.describe()}). Yêu cầu của anh/chị đã được ghi nhận ở vị trí số "
            f"{self.position}; cán bộ sẽ trả lời từ {back}."
        )


def _conversation(row: ConversationRow) -> Conversation:
    return Conversation(
        row.id, row.channel, row.sender_id, row.status, row.assigned_officer, row.started_at, row.last_message_at
    )


class HandoffService:
    def __init__(
        self,
        engine: Engine,
        *,
        hours: OfficerHours | None = None,
        clock: Clock = system_clock,
        minutes_per_waiting: float = 5.0,
    ) -> None:
        self.engine = engine
        self.hours = hours or OfficerHours.parse("mon-fri 07:30-11:30,13:30-17:00")
        self.clock = clock
        self.minutes_per_waiting = minutes_per_waiting

    # --- working hours -------------------------------------------------------------------------

    def on_duty_now(self) -> bool:
        """Is an officer on duty now (officer working hours; public holidays are not known)."""
        return self.hours.is_on_duty(self.clock())

    def estimate_wait(self, position: int) -> timedelta:
        """Rough wait for the citizen at ``position`` (1 = next): minutes per citizen ahead, plus the
        time until officers are back when they are off duty."""
        now = self.clock()
        wait = timedelta(minutes=self.minutes_per_waiting * max(position, 1))
        if not self.hours.is_on_duty(now):
            wait += self.hours.next_start(now) - as_utc(now)
        return wait

    # --- conversations -------------------------------------------------------------------------

    def _open_row(self, session: Session, channel: str, sender_id: str) -> ConversationRow | None:
        return session.scalar(
            select(ConversationRow).where(
                ConversationRow.channel == channel,
                ConversationRow.sender_id == sender_id,
                ConversationRow.status.in_(OPEN),
            )
        )

    def open(self, channel: str, sender_id: str) -> Conversation:
        """The sender's open conversation on this channel, started if there is none."""
        with Session(self.engine) as session:
            row = self._open_row(session, channel, sender_id)
            if row is not None:
                return _conversation(row)
        now = self.clock()
        try:
            with Session(self.engine) as session, session.begin():
                row = ConversationRow(
                    channel=channel, sender_id=sender_id, status=ConversationStatus.BOT.value,
                    started_at=now, updated_at=now,
                )  # fmt: skip
                session.add(row)
                session.flush()
                return _conversation(row)
        except IntegrityError:  # another message of the same sender opened it first
            with Session(self.engine) as session:
                row = self._open_row(session, channel, sender_id)
                if row is None:
                    raise
                return _conversation(row)

    def touch(self, channel: str, sender_id: str) -> Conversation:
        """Record an incoming message; returns the conversation (its status tells where to route)."""
        conversation = self.open(channel, sender_id)
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation.id)
                .values(last_message_at=now, updated_at=now)
            )
        return Conversation(**{**conversation.__dict__, "last_message_at": now})

    def status(self, channel: str, sender_id: str) -> str:
        """bot | waiting | with_officer (a sender without an open conversation talks to the bot)."""
        with Session(self.engine) as session:
            row = self._open_row(session, channel, sender_id)
            return row.status if row else ConversationStatus.BOT.value

    def get(self, conversation_id: int) -> Conversation | None:
        with Session(self.engine) as session:
            row = session.get(ConversationRow, conversation_id)
            return _conversation(row) if row else None

    # --- handoff -------------------------------------------------------------------------------

    def request(self, channel: str, sender_id: str, reason: str = "") -> HandoffTicket:
        """Put the sender in the officers' queue (idempotent while a request is open)."""
        conversation = self.open(channel, sender_id)
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            row = session.get(ConversationRow, conversation.id, with_for_update=True)
            assert row is not None
            handoff = session.scalar(
                select(HandoffRow)
                .where(HandoffRow.conversation_id == row.id, HandoffRow.returned_at.is_(None))
                .order_by(HandoffRow.id.desc())
            )
            if handoff is None or row.status == ConversationStatus.BOT.value:
                handoff = HandoffRow(conversation_id=row.id, reason=nfc(reason).strip(), requested_at=now)
                session.add(handoff)
                row.status = ConversationStatus.WAITING.value
                row.updated_at = now
            session.flush()
            status, handoff_id, requested_at = row.status, handoff.id, handoff.requested_at
        position = self.position(requested_at, handoff_id) if status == ConversationStatus.WAITING.value else 0
        on_duty = self.hours.is_on_duty(now)
        return HandoffTicket(
            conversation_id=conversation.id,
            handoff_id=handoff_id,
            status=status,
            position=position,
            on_duty=on_duty,
            estimated_wait=self.estimate_wait(position) if position else timedelta(0),
            next_start=None if on_duty else self.hours.next_start(now),
        )

    def position(self, requested_at: datetime, handoff_id: int | None = None) -> int:
        """1 + number of open requests made before ``requested_at`` that no officer has taken yet
        (requests made at the same instant are ordered by id when ``handoff_id`` is given)."""
        earlier = HandoffRow.requested_at < requested_at
        if handoff_id is not None:
            earlier = or_(earlier, and_(HandoffRow.requested_at == requested_at, HandoffRow.id < handoff_id))
        with Session(self.engine) as session:
            ahead = session.scalar(
                select(func.count())
                .select_from(HandoffRow)
                .join(ConversationRow, ConversationRow.id == HandoffRow.conversation_id)
                .where(
                    ConversationRow.status == ConversationStatus.WAITING.value,
                    HandoffRow.taken_at.is_(None),
                    HandoffRow.returned_at.is_(None),
                    earlier,
                )
            )
        return int(ahead or 0) + 1

    def waiting(self) -> list[tuple[Conversation, datetime, str]]:
        """The queue for the officers' inbox: (conversation, requested at, reason), oldest first."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(ConversationRow, HandoffRow)
                .join(HandoffRow, HandoffRow.conversation_id == ConversationRow.id)
                .where(
                    ConversationRow.status == ConversationStatus.WAITING.value,
                    HandoffRow.taken_at.is_(None),
                    HandoffRow.returned_at.is_(None),
                )
                .order_by(HandoffRow.requested_at, HandoffRow.id)
            ).all()
            return [(_conversation(c), h.requested_at, h.reason) for c, h in rows]

    def waiting_count(self) -> int:
        return len(self.waiting())

    def take(self, conversation_id: int, officer: str) -> bool:
        """An officer takes a waiting conversation. False if it is not waiting (someone else took it)."""
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            taken = session.execute(
                update(ConversationRow)
                .where(
                    ConversationRow.id == conversation_id,
                    ConversationRow.status == ConversationStatus.WAITING.value,
                )
                .values(status=ConversationStatus.WITH_OFFICER.value, assigned_officer=officer, updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if not taken:
                return False
            session.execute(
                update(HandoffRow)
                .where(HandoffRow.conversation_id == conversation_id, HandoffRow.taken_at.is_(None))
                .values(taken_at=now, officer=officer)
            )
            return True

    def return_to_bot(self, conversation_id: int) -> None:
        """The officer is done: the bot answers again (the conversation stays open)."""
        self._end(conversation_id, ConversationStatus.BOT)

    def close(self, conversation_id: int) -> None:
        self._end(conversation_id, ConversationStatus.CLOSED)

    def _end(self, conversation_id: int, status: ConversationStatus) -> None:
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(status=status.value, assigned_officer=None, updated_at=now)
            )
            session.execute(
                update(HandoffRow)
                .where(HandoffRow.conversation_id == conversation_id, HandoffRow.returned_at.is_(None))
                .values(returned_at=now)
            )


def handoff_service_from_settings(settings: Any, engine: Engine, *, clock: Clock = system_clock) -> HandoffService:
    return HandoffService(
        engine,
        hours=OfficerHours.parse(settings.officer_hours, settings.timezone),
        clock=clock,
        minutes_per_waiting=settings.handoff_minutes_per_waiting,
    )
