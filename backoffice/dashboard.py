"""Dashboard figures for a period of calendar days (office time zone), straight from the shared tables.

Definitions (also shown on the page):
- conversations: conversations active in the period (started in it, or with a message in it);
- messages: transcript messages in and out (citizen, bot, officer) written in the period;
- understood: bot turns whose outcome is not ``fallback`` (a procedure not in the catalogue was still
  understood as a question; it is listed under questions without an answer);
- handoff rate: requests to talk to an officer made in the period / conversations;
- questions without an answer: bot turns with outcome ``not_found`` or ``fallback``, grouped by the
  question folded (case, diacritics and tone placement ignored), most asked first;
- complaints: received in the period, closed in the period, and received in the period that are still
  open after their due date (as of today).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.complaints import ComplaintStatus
from core.feedback import LEVEL_LABELS, SatisfactionLevel
from core.models import (
    BotTurnRow,
    ChatMessageRow,
    ComplaintRow,
    ConversationRow,
    FeedbackRow,
    HandoffRow,
    ProcedureRow,
)
from knowledge_base.text import fold, has_diacritics, nfc

DEFAULT_DAYS = 30
MAX_DAYS = 366
UNANSWERED_OUTCOMES = ("not_found", "fallback")
OPEN_COMPLAINT_STATUSES = (
    ComplaintStatus.NEW.value,
    ComplaintStatus.ASSIGNED.value,
    ComplaintStatus.IN_PROGRESS.value,
)


class PeriodError(ValueError):
    """A period the dashboard cannot show; ``str(exc)`` is a Vietnamese sentence for the officer."""


@dataclass(frozen=True)
class Period:
    """Calendar days ``start`` … ``end`` (both included) in the office's time zone."""

    start: date
    end: date
    tz: str = "Asia/Ho_Chi_Minh"

    @classmethod
    def parse(cls, raw_from: str | None, raw_to: str | None, *, today: date, tz: str) -> Period:
        """From ``from``/``to`` query values (YYYY-MM-DD, either may be empty): default the last 30 days."""
        end = _parse_day(raw_to, "đến ngày") if raw_to and raw_to.strip() else today
        start = _parse_day(raw_from, "từ ngày") if raw_from and raw_from.strip() else end - timedelta(DEFAULT_DAYS - 1)
        if start > end:
            raise PeriodError("Ngày bắt đầu phải trước hoặc bằng ngày kết thúc.")
        if (end - start).days + 1 > MAX_DAYS:
            raise PeriodError(f"Khoảng thời gian tối đa là {MAX_DAYS} ngày; vui lòng chọn khoảng ngắn hơn.")
        return cls(start, end, tz)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(n) for n in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) in aware UTC."""
        zone = ZoneInfo(self.tz)
        first = datetime.combine(self.start, time.min, zone)
        after = datetime.combine(self.end + timedelta(1), time.min, zone)
        return first.astimezone(ZoneInfo("UTC")), after.astimezone(ZoneInfo("UTC"))


def _parse_day(raw: str | None, label: str) -> date:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        raise PeriodError(f"Ngày không hợp lệ ở ô “{label}”; vui lòng nhập theo dạng năm-tháng-ngày.") from None


@dataclass(frozen=True)
class UnansweredQuestion:
    text: str  # the most frequent wording of the question (with diacritics when tied)
    count: int
    outcome: str  # not_found | fallback (the more frequent one)
    last_at: datetime


@dataclass(frozen=True)
class ProcedureCount:
    code: str
    name: str  # from the catalogue; "" when the code is no longer in it
    count: int


@dataclass
class DashboardStats:
    period: Period
    conversations: int = 0
    messages: int = 0
    turns: int = 0
    understood: int = 0
    handoffs: int = 0
    complaints_opened: int = 0
    complaints_closed: int = 0
    complaints_overdue: int = 0
    satisfaction: dict[str, int] = field(default_factory=dict)  # level -> count, every level present
    unanswered: list[UnansweredQuestion] = field(default_factory=list)
    top_procedures: list[ProcedureCount] = field(default_factory=list)
    daily_messages: list[tuple[date, int]] = field(default_factory=list)

    @property
    def understood_pct(self) -> float | None:
        return round(100 * self.understood / self.turns, 1) if self.turns else None

    @property
    def handoff_rate_pct(self) -> float | None:
        return round(100 * self.handoffs / self.conversations, 1) if self.conversations else None

    @property
    def feedback_total(self) -> int:
        return sum(self.satisfaction.values())

    def satisfaction_rows(self) -> list[tuple[str, str, int]]:
        """(level, Vietnamese label, count) in Decree-61 order."""
        return [
            (level.value, LEVEL_LABELS[level.value], self.satisfaction.get(level.value, 0))
            for level in SatisfactionLevel
        ]


def _within(column: Any, first: datetime, after: datetime) -> ColumnElement[bool]:
    return and_(column >= first, column < after)


def _count(session: Session, model: type, condition: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(condition)) or 0)


def compute(
    engine: Engine, period: Period, *, today: date, top: int = 10, unanswered_limit: int = 200
) -> DashboardStats:
    """Every figure of the dashboard for ``period``; ``today`` (office time zone) decides what is overdue."""
    first, after = period.bounds()
    stats = DashboardStats(period)
    with Session(engine) as session:
        stats.conversations = _count(
            session,
            ConversationRow,
            and_(
                ConversationRow.started_at < after,
                or_(ConversationRow.started_at >= first, _within(ConversationRow.last_message_at, first, after)),
            ),
        )
        stats.messages = _count(session, ChatMessageRow, _within(ChatMessageRow.created_at, first, after))
        in_period = _within(BotTurnRow.at, first, after)
        stats.turns = _count(session, BotTurnRow, in_period)
        stats.understood = _count(session, BotTurnRow, and_(in_period, BotTurnRow.outcome != "fallback"))
        stats.handoffs = _count(session, HandoffRow, _within(HandoffRow.requested_at, first, after))
        received = _within(ComplaintRow.received_at, first, after)
        stats.complaints_opened = _count(session, ComplaintRow, received)
        closed_at = func.coalesce(ComplaintRow.closed_at, ComplaintRow.updated_at)  # older rows lack closed_at
        stats.complaints_closed = _count(
            session,
            ComplaintRow,
            and_(ComplaintRow.status == ComplaintStatus.CLOSED.value, _within(closed_at, first, after)),
        )
        stats.complaints_overdue = _count(
            session,
            ComplaintRow,
            and_(received, ComplaintRow.status.in_(OPEN_COMPLAINT_STATUSES), ComplaintRow.due_date < today),
        )
        levels = dict(
            session.execute(
                select(FeedbackRow.level, func.count())
                .where(_within(FeedbackRow.created_at, first, after))
                .group_by(FeedbackRow.level)
            ).all()
        )
        stats.satisfaction = {level.value: int(levels.get(level.value, 0)) for level in SatisfactionLevel}
        stats.unanswered = _unanswered(session, first, after, unanswered_limit)
        stats.top_procedures = _top_procedures(session, first, after, top)
        stats.daily_messages = _daily_messages(session, period)
    return stats


def _unanswered(session: Session, first: datetime, after: datetime, limit: int) -> list[UnansweredQuestion]:
    rows = session.execute(
        select(BotTurnRow.text, BotTurnRow.outcome, func.count(), func.max(BotTurnRow.at))
        .where(_within(BotTurnRow.at, first, after), BotTurnRow.outcome.in_(UNANSWERED_OUTCOMES))
        .group_by(BotTurnRow.text, BotTurnRow.outcome)
    ).all()
    wordings: dict[str, Counter[str]] = defaultdict(Counter)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    last: dict[str, datetime] = {}
    for text, outcome, count, last_at in rows:
        cleaned = " ".join(nfc(text or "").split())
        if not cleaned:
            continue
        key = fold(cleaned)
        wordings[key][cleaned] += int(count)
        outcomes[key][outcome] += int(count)
        last[key] = max(last.get(key, last_at), last_at)
    found = [
        UnansweredQuestion(
            text=max(wordings[key].items(), key=lambda item: (item[1], has_diacritics(item[0]), item[0]))[0],
            count=sum(wordings[key].values()),
            outcome=outcomes[key].most_common(1)[0][0],
            last_at=last[key],
        )
        for key in wordings
    ]
    found.sort(key=lambda q: (-q.count, -q.last_at.timestamp(), q.text))
    return found[:limit]


def _top_procedures(session: Session, first: datetime, after: datetime, top: int) -> list[ProcedureCount]:
    counted = session.execute(
        select(BotTurnRow.procedure_code, func.count().label("n"))
        .where(_within(BotTurnRow.at, first, after), BotTurnRow.procedure_code.is_not(None))
        .where(BotTurnRow.procedure_code != "")
        .group_by(BotTurnRow.procedure_code)
        .order_by(func.count().desc(), BotTurnRow.procedure_code)
        .limit(top)
    ).all()
    pairs = [(str(code), int(n)) for code, n in counted]
    names = procedure_names(session, [code for code, _ in pairs])
    return [ProcedureCount(code, names.get(code, ""), n) for code, n in pairs]


def procedure_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = list(codes)
    if not wanted:
        return {}
    return dict(
        session.execute(select(ProcedureRow.code, ProcedureRow.name).where(ProcedureRow.code.in_(wanted))).all()
    )


def _daily_messages(session: Session, period: Period) -> list[tuple[date, int]]:
    """Messages per local calendar day, every day of the period present (0 when none)."""
    first, after = period.bounds()
    column = ChatMessageRow.created_at
    if session.get_bind().dialect.name == "postgresql":
        day = func.date(func.timezone(period.tz, column))
    else:  # SQLite stores UTC text; shift by the zone's offset (Việt Nam has no daylight saving time)
        middle = datetime.combine(period.start, time(12), ZoneInfo(period.tz))
        offset = middle.utcoffset() or timedelta(0)
        day = func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")
    counted = session.execute(
        select(day.label("day"), func.count()).where(_within(column, first, after)).group_by("day")
    ).all()
    by_day = {(d if isinstance(d, date) else date.fromisoformat(str(d))): int(n) for d, n in counted}
    return [(d, by_day.get(d, 0)) for d in period.days]


# --- CSV ----------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (citizens' text goes into these)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return "\ufeff" + buffer.getvalue()  # BOM: spreadsheets then read UTF-8 Vietnamese correctly


def to_csv(stats: DashboardStats) -> str:
    """The whole dashboard as ``section,key,label,value`` rows (one figure per row)."""
    p = stats.period
    rows: list[tuple[object, ...]] = [
        ("section", "key", "label", "value"),
        ("period", "from", "Từ ngày", p.start.isoformat()),
        ("period", "to", "Đến ngày", p.end.isoformat()),
        ("summary", "conversations", "Cuộc trò chuyện", stats.conversations),
        ("summary", "messages", "Tin nhắn", stats.messages),
        ("summary", "bot_turns", "Lượt hỏi trợ lý ảo", stats.turns),
        ("summary", "understood", "Lượt hiểu được", stats.understood),
        ("summary", "understood_pct", "Tỷ lệ hiểu được (%)", _pct(stats.understood_pct)),
        ("summary", "handoffs", "Yêu cầu gặp cán bộ", stats.handoffs),
        ("summary", "handoff_rate_pct", "Tỷ lệ chuyển cán bộ (%)", _pct(stats.handoff_rate_pct)),
        ("complaints", "opened", "Phản ánh tiếp nhận", stats.complaints_opened),
        ("complaints", "closed", "Phản ánh đã đóng", stats.complaints_closed),
        ("complaints", "overdue", "Phản ánh quá hạn", stats.complaints_overdue),
    ]
    rows += [("satisfaction", level, label, count) for level, label, count in stats.satisfaction_rows()]
    rows += [("top_procedure", item.code, item.name, item.count) for item in stats.top_procedures]
    rows += [("unanswered", item.outcome, item.text, item.count) for item in stats.unanswered]
    rows += [("daily_messages", day.isoformat(), "", count) for day, count in stats.daily_messages]
    return _csv(rows)


def unanswered_csv(stats: DashboardStats) -> str:
    """Questions without an answer, for an editor turning them into training data or catalogue fixes."""
    rows: list[tuple[object, ...]] = [("text", "count", "outcome", "last_asked")]
    rows += [(q.text, q.count, q.outcome, q.last_at.isoformat()) for q in stats.unanswered]
    return _csv(rows)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
