"""Satisfaction feedback (đánh giá mức độ hài lòng), the three levels of Nghị định 61/2018/NĐ-CP."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.clock import Clock, system_clock
from core.models import FeedbackPromptRow, FeedbackRow
from knowledge_base.text import nfc

MAX_COMMENT_CHARS = 2000


class SatisfactionLevel(str, Enum):
    VERY_SATISFIED = "rat_hai_long"
    SATISFIED = "hai_long"
    DISSATISFIED = "khong_hai_long"


LEVEL_LABELS = {
    SatisfactionLevel.VERY_SATISFIED.value: "Rất hài lòng",
    SatisfactionLevel.SATISFIED.value: "Hài lòng",
    SatisfactionLevel.DISSATISFIED.value: "Không hài lòng",
}


class FeedbackError(ValueError):
    """Feedback the service will not store as given; ``str(exc)`` is a sentence for the citizen."""


class FeedbackService:
    def __init__(self, engine: Engine, *, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.clock = clock

    def already_asked(self, conversation_id: str) -> bool:
        """Whether this conversation was asked for feedback already (or gave it unasked)."""
        with Session(self.engine) as session:
            if session.get(FeedbackPromptRow, conversation_id) is not None:
                return True
            found = session.scalar(
                select(FeedbackRow.id).where(FeedbackRow.conversation_id == conversation_id).limit(1)
            )
            return found is not None

    def mark_asked(self, conversation_id: str) -> bool:
        """Record that the question is being asked; True only for the first caller (so ask only then).

        Atomic (INSERT … ON CONFLICT DO NOTHING), so two concurrent turns cannot both ask."""
        if self.already_asked(conversation_id):
            return False
        with Session(self.engine) as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            result = session.execute(
                insert(FeedbackPromptRow)
                .values(conversation_id=conversation_id, asked_at=self.clock())
                .on_conflict_do_nothing()
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def record(
        self,
        level: SatisfactionLevel | str,
        *,
        channel: str,
        sender_id: str,
        conversation_id: str,
        comment: str = "",
        procedure_code: str | None = None,
        flow: str = "",
    ) -> int:
        """Store one rating; returns its id. ``flow`` says what was rated (procedure, dossier, …)."""
        try:
            value = SatisfactionLevel(level).value
        except ValueError as exc:
            raise FeedbackError("Mức đánh giá phải là Rất hài lòng, Hài lòng hoặc Không hài lòng.") from exc
        text = nfc(comment or "").strip()
        if len(text) > MAX_COMMENT_CHARS:
            raise FeedbackError(f"Góp ý dài quá {MAX_COMMENT_CHARS} ký tự; anh/chị vui lòng rút gọn.")
        with Session(self.engine) as session, session.begin():
            row = FeedbackRow(
                level=value,
                comment=text,
                procedure_code=procedure_code or None,
                flow=flow,
                channel=channel,
                sender_id=sender_id,
                conversation_id=conversation_id,
                created_at=self.clock(),
            )
            session.add(row)
            session.flush()
            return row.id

    def counts(self, since: datetime | None = None) -> dict[str, int]:
        """Ratings per level (every level present, 0 when none), e.g. for the dashboard."""
        query = select(FeedbackRow.level, func.count()).group_by(FeedbackRow.level)
        if since is not None:
            query = query.where(FeedbackRow.created_at >= since)
        with Session(self.engine) as session:
            found = {level: count for level, count in session.execute(query).all()}
        return {level.value: int(found.get(level.value, 0)) for level in SatisfactionLevel}
