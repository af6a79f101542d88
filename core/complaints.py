"""Complaints and petitions (phản ánh, kiến nghị): intake, codes, category, status, verified lookup.

Personal data follows Nghị định 13/2023/NĐ-CP: a name or phone number is stored only with the
citizen's consent (flag + time); without it the service refuses them rather than silently keeping them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, case, false, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from core.clock import Clock, as_utc, local_date, system_clock
from core.dossiers import LookupOutcome
from core.lockout import Lockout
from core.models import ComplaintCounterRow, ComplaintEventRow, ComplaintNoteRow, ComplaintRow
from core.notifications import enqueue
from core.phones import clean_last4, last4_matches, normalize_vn_phone
from core.working_hours import add_working_days
from knowledge_base.text import PhraseMatcher, nfc, syllables

MAX_CONTENT_CHARS = 5000
MAX_ATTACHMENTS = 10


class ComplaintStatus(str, Enum):
    NEW = "new"  # mới
    ASSIGNED = "assigned"  # đã phân công
    IN_PROGRESS = "in_progress"  # đang xử lý
    ANSWERED = "answered"  # đã trả lời
    CLOSED = "closed"  # đã đóng


STATUS_LABELS = {
    ComplaintStatus.NEW.value: "mới",
    ComplaintStatus.ASSIGNED.value: "đã phân công",
    ComplaintStatus.IN_PROGRESS.value: "đang xử lý",
    ComplaintStatus.ANSWERED.value: "đã trả lời",
    ComplaintStatus.CLOSED.value: "đã đóng",
}

OPEN_STATUSES = (ComplaintStatus.NEW.value, ComplaintStatus.ASSIGNED.value, ComplaintStatus.IN_PROGRESS.value)
DUE_SOON_DAYS = 2  # the queue highlights open complaints due within this many calendar days
PRIORITY_LABELS = {"high": "cao", "normal": "bình thường", "low": "thấp"}
SORTS = ("due", "received", "-received", "priority", "status")

CATEGORY_LABELS = {
    "staff_attitude": "thái độ cán bộ",
    "dossier_delay": "chậm trễ hồ sơ",
    "wrong_fee": "thu phí sai quy định",
    "facilities": "cơ sở vật chất",
    "red_tape": "thủ tục rườm rà",
    "other": "khác",
    "after_hours": "tin nhắn ngoài giờ",  # a message left for the officers outside working hours (never suggested)
}
# Keyword rules: phrases with their diacritics (a citizen who types without diacritics still matches,
# one who types them is not confused: "quát" is not "quạt"). The category with most hits wins; ties
# go to the earlier category in this table.
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "staff_attitude": (
        "thái độ", "cáu gắt", "quát", "quát nạt", "hách dịch", "to tiếng", "lớn tiếng", "thiếu tôn trọng",
        "không nhiệt tình", "vô lễ", "khó chịu", "coi thường", "xúc phạm", "cửa quyền", "mất lịch sự",
        "thờ ơ", "bỏ mặc", "nói trống không", "không hướng dẫn", "gây khó dễ", "nhũng nhiễu", "cán bộ",
    ),
    "dossier_delay": (
        "chậm trễ", "chậm trả", "trễ hẹn", "trễ hạn", "quá hạn", "quá hẹn", "lâu quá", "chờ mãi",
        "chưa có kết quả", "chưa trả kết quả", "hẹn lại", "hẹn nhiều lần", "kéo dài thời gian", "giải quyết chậm",
        "xử lý chậm", "quá chậm", "chậm", "lâu", "đợi mãi", "không giải quyết", "ngâm hồ sơ",
    ),
    "wrong_fee": (
        "thu phí", "lệ phí", "thu tiền", "thu thêm", "phí sai", "bồi dưỡng", "phong bì", "tiền trà nước",
        "biên lai", "thu sai", "thu cao", "hối lộ", "chi phí ngoài", "đòi tiền", "tiền cà phê", "lót tay",
    ),
    "facilities": (
        "cơ sở vật chất", "ghế ngồi", "chỗ ngồi", "nóng quá", "máy lạnh", "điều hòa", "nhà vệ sinh",
        "chỗ gửi xe", "bãi xe", "giữ xe", "máy lấy số", "máy tính", "chật hẹp", "mất điện", "wifi",
        "bàn ghế", "xuống cấp", "dột", "ồn ào", "bảng hướng dẫn",
    ),
    "red_tape": (
        "rườm rà", "phức tạp", "nhiều giấy tờ", "đi lại nhiều lần", "nhiều lần", "phiền hà",
        "không cần thiết", "đòi thêm giấy tờ", "yêu cầu thêm giấy tờ", "bổ sung nhiều lần", "khó hiểu",
        "mất thời gian", "thủ tục", "giấy tờ",
    ),
}  # fmt: skip


def _thousands(number: int) -> str:
    """5000 → "5.000" (Vietnamese digit grouping)."""
    return f"{number:,}".replace(",", ".")


class ComplaintError(ValueError):
    """A complaint the service will not store as given; ``str(exc)`` is a sentence for the citizen."""


class ContentTooLong(ComplaintError):
    def __init__(self, length: int, limit: int = MAX_CONTENT_CHARS) -> None:
        self.length, self.limit = length, limit
        super().__init__(
            f"Nội dung phản ánh dài {_thousands(length)} ký tự, vượt quá giới hạn {_thousands(limit)} ký tự. "
            "Anh/chị vui lòng rút gọn hoặc tách thành nhiều phản ánh; hệ thống không tự cắt bớt nội dung."
        )


class EmptyContent(ComplaintError):
    def __init__(self) -> None:
        super().__init__("Nội dung phản ánh đang để trống. Anh/chị vui lòng nhập nội dung cần phản ánh.")


class ConsentRequired(ComplaintError):
    def __init__(self) -> None:
        super().__init__(
            "Chưa có sự đồng ý của anh/chị nên hệ thống không lưu họ tên và số điện thoại "
            "(Nghị định 13/2023/NĐ-CP). Anh/chị có thể gửi phản ánh không kèm thông tin cá nhân."
        )


class TooManyAttachments(ComplaintError):
    def __init__(self, limit: int = MAX_ATTACHMENTS) -> None:
        super().__init__(f"Mỗi phản ánh kèm tối đa {limit} tệp đính kèm.")


class ComplaintNotStored(RuntimeError):
    """The database did not confirm the write: nothing was promised. Ask the citizen to retry."""

    message = "Hệ thống đang bận nên phản ánh của anh/chị chưa được ghi nhận. Anh/chị vui lòng gửi lại sau ít phút."

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.message} ({detail})" if detail else self.message)


class ComplaintClosed(ComplaintError):
    """A change to a complaint that is already closed (every change but an internal note is refused)."""

    def __init__(self, code: str) -> None:
        super().__init__(
            f"Phản ánh {code} đã đóng nên không thể phân công, phân loại, trả lời hay đổi trạng thái nữa. "
            "Anh/chị vẫn có thể thêm ghi chú nội bộ."
        )


class UnknownComplaint(KeyError):
    """No complaint with this code (back office use)."""


def _relabel(row: ComplaintRow, field: str, value: str | None, labels: dict[str, str], what: str) -> list[str]:
    """Set ``row.<field>`` to ``value`` (a key of ``labels``); the history note of the change, if any."""
    current = getattr(row, field)
    if value is None or value == current:
        return []
    if value not in labels:
        raise ComplaintError(f"{what} không hợp lệ.")
    setattr(row, field, value)
    return [f"{what}: {labels.get(current, current)} → {labels[value]}"]


@lru_cache(maxsize=1)
def _category_matcher() -> PhraseMatcher:
    return PhraseMatcher({p: cat for cat, phrases in CATEGORY_KEYWORDS.items() for p in phrases})


def suggest_category(text: str) -> str:
    """A category key of CATEGORY_LABELS for the text (keyword rules; "other" when nothing matches)."""
    matcher = _category_matcher()
    words = syllables(text)
    hits = dict.fromkeys(CATEGORY_KEYWORDS, 0)
    i = 0
    while i < len(words):
        hit = matcher.match_at(words, i)
        if hit:
            size, category = hit
            hits[category] += size  # longer phrases are stronger evidence
            i += size
        else:
            i += 1
    best = max(hits, key=lambda c: hits[c])  # max keeps the first of equals: table order breaks ties
    return best if hits[best] else "other"


def complaint_code(year: int, number: int) -> str:
    return f"PA-{year}-{number:06d}"


def normalize_complaint_code(raw: str) -> str:
    """“pa 2025 123” / “PA-2025-000123” → “PA-2025-000123” (unchanged when it does not look like one)."""
    match = re.fullmatch(r"\s*PA[\s\-_.]*(\d{4})[\s\-_.]*(\d{1,7})\s*", nfc(raw or ""), re.IGNORECASE)
    return complaint_code(int(match[1]), int(match[2])) if match else nfc(raw or "").strip().upper()


@dataclass(frozen=True)
class SubmittedComplaint:
    code: str
    category: str
    category_label: str
    due_date: date  # hạn trả lời
    received_at: datetime


@dataclass(frozen=True)
class ComplaintStatusView:
    """What a verified citizen may see: no content, name or phone."""

    code: str
    status: str
    status_label: str
    category_label: str
    received_date: date
    due_date: date
    overdue: bool
    reply_text: str = ""
    replied_date: date | None = None

    def message(self) -> str:
        lines = [
            f"Phản ánh {self.code}: {self.status_label}.",
            f"Ngày tiếp nhận: {self.received_date:%d/%m/%Y}; hạn trả lời: {self.due_date:%d/%m/%Y}.",
        ]
        if self.reply_text:
            lines.append(f"Trả lời: {self.reply_text}")
        elif self.overdue:
            lines.append("Phản ánh đã quá hạn trả lời; Bộ phận Một cửa đã được nhắc để xử lý.")
        return "\n".join(lines)


@dataclass(frozen=True)
class ComplaintLookupResult:
    outcome: LookupOutcome
    complaint: ComplaintStatusView | None = None
    retry_at: datetime | None = None


ReplyDelivery = Callable[[Session, str, str, str], object]  # (session, channel, sender_id, text)


@dataclass(frozen=True)
class ComplaintScope:
    """Which complaints a staff member may see: those handled by ``agency`` or assigned to ``username``."""

    agency: str | None = None
    username: str | None = None

    def condition(self) -> ColumnElement[bool]:
        parts = []
        if self.agency:
            parts.append(ComplaintRow.assigned_agency == self.agency)
        if self.username:
            parts.append(ComplaintRow.assigned_to == self.username)
        return or_(*parts) if parts else false()

    def allows(self, row: ComplaintRow) -> bool:
        return bool(
            (self.agency and row.assigned_agency == self.agency) or (self.username and row.assigned_to == self.username)
        )


@dataclass(frozen=True)
class ComplaintQuery:
    scope: ComplaintScope | None = None  # None: every complaint
    statuses: tuple[str, ...] = ()
    category: str | None = None
    agency: str | None = None  # assigned agency code
    assigned_to: str | None = None
    overdue: bool = False
    text: str = ""  # a complaint code, or words of the content
    sort: str = "due"  # one of SORTS
    limit: int = 50
    offset: int = 0


class ComplaintService:
    SCOPE = "complaint"

    def __init__(
        self,
        engine: Engine,
        *,
        lockout: Lockout | None = None,
        clock: Clock = system_clock,
        tz: str = "Asia/Ho_Chi_Minh",
        due_working_days: int = 10,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.tz = tz
        self.due_working_days = due_working_days
        self.lockout = lockout or Lockout(engine, clock=clock)

    # --- intake --------------------------------------------------------------------------------

    def submit(
        self,
        content: str,
        *,
        channel: str,
        sender_id: str,
        consent: bool,
        name: str | None = None,
        phone: str | None = None,
        place: str = "",
        agency: str = "",
        procedure_code: str | None = None,
        attachments: Sequence[str] = (),
        category: str | None = None,
    ) -> SubmittedComplaint:
        """Store a complaint and return its code, or raise: ComplaintError (the input, nothing stored)
        or ComplaintNotStored (the database; nothing promised, the caller asks the citizen to retry).

        A code is returned only after the transaction that stores the row has committed."""
        text = nfc(content or "")
        if not text.strip():
            raise EmptyContent()
        if len(text) > MAX_CONTENT_CHARS:
            raise ContentTooLong(len(text))
        name = nfc(name).strip() if name and name.strip() else None
        phone = phone.strip() if phone and phone.strip() else None
        if (name or phone) and not consent:
            raise ConsentRequired()
        e164 = normalize_vn_phone(phone) if phone else None  # raises InvalidPhone (a ValueError)
        if len(attachments) > MAX_ATTACHMENTS:
            raise TooManyAttachments()
        chosen = category if category in CATEGORY_LABELS else suggest_category(text)
        now = as_utc(self.clock())
        today = local_date(now, self.tz)
        due = add_working_days(today, self.due_working_days)
        try:
            with Session(self.engine) as session, session.begin():
                number = self._next_number(session, today.year)  # first statement: a write (SQLite lock)
                code = complaint_code(today.year, number)
                row = ComplaintRow(
                    code=code, content=text, place=nfc(place).strip(), agency=nfc(agency).strip(),
                    procedure_code=procedure_code or None, category=chosen, name=name, phone=e164,
                    consent=bool(consent), consent_at=now if consent else None, channel=channel,
                    sender_id=sender_id, attachments=[str(a) for a in attachments],
                    status=ComplaintStatus.NEW.value, received_at=now, due_date=due, updated_at=now,
                )  # fmt: skip
                row.history.append(
                    ComplaintEventRow(status=ComplaintStatus.NEW.value, note="", actor="citizen", at=now)
                )
                session.add(row)
            # leaving the block committed; only now is the code a promise
        except DBAPIError as exc:
            raise ComplaintNotStored(type(exc.orig).__name__ if exc.orig else type(exc).__name__) from exc
        return SubmittedComplaint(code, chosen, CATEGORY_LABELS[chosen], due, now)

    @staticmethod
    def _next_number(session: Session, year: int) -> int:
        """Next number of the year, unique under concurrency: the counter row is created if missing
        (INSERT … ON CONFLICT DO NOTHING) then incremented with UPDATE … RETURNING, which locks the row
        until commit on PostgreSQL and takes SQLite's write lock (other writers wait, busy timeout)."""
        dialect = session.get_bind().dialect.name
        if dialect not in {"postgresql", "sqlite"}:
            raise NotImplementedError(f"complaint codes need PostgreSQL or SQLite, not {dialect}")
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(ComplaintCounterRow).values(year=year, last=0).on_conflict_do_nothing())
        return session.execute(
            update(ComplaintCounterRow)
            .where(ComplaintCounterRow.year == year)
            .values(last=ComplaintCounterRow.last + 1)
            .returning(ComplaintCounterRow.last)
        ).scalar_one()

    # --- back office ---------------------------------------------------------------------------

    def _change(
        self, code: str, *, actor: str, note: str = "", status: ComplaintStatus | None = None,
        assign_to: str | None = None, reply: str | None = None, agency: str | None = None,
        category: str | None = None, priority: str | None = None, outcome: str | None = None,
        deliver: ReplyDelivery | None = None,
    ) -> None:  # fmt: skip
        now = as_utc(self.clock())
        with Session(self.engine) as session, session.begin():
            row = session.scalar(
                select(ComplaintRow).where(ComplaintRow.code == normalize_complaint_code(code)).with_for_update()
            )
            if row is None:
                raise UnknownComplaint(code)
            if row.status == ComplaintStatus.CLOSED.value:  # checked under the row lock: no race with a close
                raise ComplaintClosed(row.code)
            notes = [nfc(note).strip()] if note and note.strip() else []
            if assign_to is not None:
                row.assigned_to = assign_to or None
            if agency is not None:
                row.assigned_agency = agency.strip().upper() or None
            notes += _relabel(row, "category", category, CATEGORY_LABELS, "Phân loại")
            notes += _relabel(row, "priority", priority, PRIORITY_LABELS, "Ưu tiên")
            if outcome is not None:
                text = nfc(outcome).strip()
                if not text:
                    raise ComplaintError("Cần ghi kết quả xử lý trước khi đóng phản ánh.")
                row.outcome = text
                notes.append(f"Kết quả: {text}")
            if reply is not None:
                text = nfc(reply).strip()
                if not text:
                    raise ComplaintError("Nội dung trả lời đang để trống.")
                row.reply_text, row.replied_at = text, now
                message = f"Phản ánh {row.code} đã được trả lời:\n{text}"
                if deliver is not None:
                    deliver(session, row.channel, row.sender_id, message)
                else:
                    enqueue(
                        session, channel=row.channel, sender_id=row.sender_id, kind="complaint_reply",
                        text=message, payload={"complaint_code": row.code}, clock=self.clock,
                    )  # fmt: skip
            if status is not None:  # the one place a status changes: closed_at follows it
                row.status = status.value
                row.closed_at = now if status is ComplaintStatus.CLOSED else None
            elif not notes:
                return  # nothing changed (e.g. classify to the same values): no history entry
            row.updated_at = now
            session.add(
                ComplaintEventRow(complaint_id=row.id, status=row.status, note="\n".join(notes), actor=actor, at=now)
            )

    def assign(self, code: str, officer: str, *, actor: str, note: str = "", agency: str | None = None) -> None:
        """Give the complaint to an officer (and their agency, when given): status "đã phân công"."""
        self._change(code, actor=actor, note=note, status=ComplaintStatus.ASSIGNED, assign_to=officer, agency=agency)

    def assign_agency(self, code: str, agency: str, *, actor: str, note: str = "") -> None:
        """Give the complaint to an agency (its supervisors pick the officer): status "đã phân công"."""
        if not agency.strip():
            raise ComplaintError("Cần chọn cơ quan xử lý.")
        self._change(code, actor=actor, note=note, status=ComplaintStatus.ASSIGNED, assign_to="", agency=agency)

    def set_status(self, code: str, status: ComplaintStatus | str, *, actor: str, note: str = "") -> None:
        """Move to ``status`` (closing records ``closed_at``). Like every change, refused once the
        complaint is closed (``ComplaintClosed``)."""
        self._change(code, actor=actor, note=note, status=ComplaintStatus(status))

    def classify(self, code: str, *, actor: str, category: str | None = None, priority: str | None = None) -> None:
        """Change the category and/or priority (one history entry; none when both stay as they are)."""
        self._change(code, actor=actor, category=category, priority=priority)

    def reply(self, code: str, text: str, *, actor: str, deliver: ReplyDelivery | None = None) -> None:
        """Record the answer (status "đã trả lời", visible on a status lookup) and send it to the citizen's
        chat: through ``deliver(session, channel, sender_id, text)`` inside the same transaction when given
        (the back office queues it in the gateway's outbox), else as a ``notifications`` row."""
        self._change(code, actor=actor, status=ComplaintStatus.ANSWERED, reply=text, deliver=deliver)

    def close(self, code: str, outcome: str, *, actor: str) -> None:
        """Close with the outcome (kết quả xử lý), which is required."""
        self._change(code, actor=actor, status=ComplaintStatus.CLOSED, outcome=outcome)

    def add_note(self, code: str, text: str, *, author: str) -> None:
        """An internal note of staff (never shown to the citizen)."""
        body = nfc(text or "").strip()
        if not body:
            raise ComplaintError("Ghi chú đang để trống.")
        if len(body) > MAX_CONTENT_CHARS:
            raise ContentTooLong(len(body))
        with Session(self.engine) as session, session.begin():
            complaint_id = session.scalar(
                select(ComplaintRow.id).where(ComplaintRow.code == normalize_complaint_code(code))
            )
            if complaint_id is None:
                raise UnknownComplaint(code)
            session.add(ComplaintNoteRow(complaint_id=complaint_id, author=author, text=body, at=as_utc(self.clock())))

    def get(self, code: str) -> ComplaintRow | None:
        """The complaint with its history and notes loaded (detached; back office)."""
        with Session(self.engine) as session:
            return session.scalar(
                select(ComplaintRow)
                .where(ComplaintRow.code == normalize_complaint_code(code))
                .options(selectinload(ComplaintRow.history))
            )

    def notes(self, complaint_id: int) -> list[ComplaintNoteRow]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(ComplaintNoteRow)
                    .where(ComplaintNoteRow.complaint_id == complaint_id)
                    .order_by(ComplaintNoteRow.id)
                )
            )

    def due_state(self, status: str, due_date: date) -> str:
        """What the queue highlights: "overdue", "due_soon" (open, due within DUE_SOON_DAYS days) or ""."""
        if status not in OPEN_STATUSES:
            return ""
        days_left = (due_date - local_date(self.clock(), self.tz)).days
        if days_left < 0:
            return "overdue"
        return "due_soon" if days_left <= DUE_SOON_DAYS else ""

    def search(self, query: ComplaintQuery) -> list[ComplaintRow]:
        """Complaints matching ``query`` within its scope (detached rows), at most ``limit``."""
        today = local_date(self.clock(), self.tz)
        stmt = select(ComplaintRow)
        if query.scope is not None:
            stmt = stmt.where(query.scope.condition())
        if query.statuses:
            stmt = stmt.where(ComplaintRow.status.in_(query.statuses))
        if query.category:
            stmt = stmt.where(ComplaintRow.category == query.category)
        if query.agency:
            stmt = stmt.where(ComplaintRow.assigned_agency == query.agency.strip().upper())
        if query.assigned_to:
            stmt = stmt.where(ComplaintRow.assigned_to == query.assigned_to)
        if query.overdue:
            stmt = stmt.where(ComplaintRow.status.in_(OPEN_STATUSES), ComplaintRow.due_date < today)
        text = nfc(query.text or "").strip()
        if text:
            code = normalize_complaint_code(text)
            stmt = stmt.where(or_(ComplaintRow.code == code, ComplaintRow.content.contains(text, autoescape=True)))
        priority_rank = case({"high": 0, "normal": 1, "low": 2}, value=ComplaintRow.priority, else_=1)
        open_first = case((ComplaintRow.status.in_(OPEN_STATUSES), 0), else_=1)
        orders = {
            "due": (open_first, ComplaintRow.due_date, ComplaintRow.id),
            "received": (ComplaintRow.received_at, ComplaintRow.id),
            "-received": (ComplaintRow.received_at.desc(), ComplaintRow.id.desc()),
            "priority": (open_first, priority_rank, ComplaintRow.due_date, ComplaintRow.id),
            "status": (ComplaintRow.status, ComplaintRow.due_date, ComplaintRow.id),
        }
        stmt = stmt.order_by(*orders.get(query.sort, orders["due"])).offset(query.offset).limit(query.limit)
        with Session(self.engine) as session:
            return list(session.scalars(stmt))

    def history(self, code: str) -> list[tuple[datetime, str, str, str]]:
        """(at, status, note, actor) of every step, oldest first."""
        with Session(self.engine) as session:
            row = session.scalar(
                select(ComplaintRow)
                .where(ComplaintRow.code == normalize_complaint_code(code))
                .options(selectinload(ComplaintRow.history))
            )
            if row is None:
                raise UnknownComplaint(code)
            return [(e.at, e.status, e.note, e.actor) for e in row.history]

    # --- citizen lookup ------------------------------------------------------------------------

    def lookup(self, code: str, phone_last4: str | None, *, channel: str, sender_id: str) -> ComplaintLookupResult:
        """Status by code + last 4 digits of the phone given with the complaint (same lockout as
        dossiers). Without digits, only the chat account that sent the complaint may see it."""
        state = self.lockout.state(channel, sender_id)
        if state.locked:
            return ComplaintLookupResult(LookupOutcome.LOCKED, retry_at=state.retry_at)
        if phone_last4 is not None and clean_last4(phone_last4) is None:
            return ComplaintLookupResult(LookupOutcome.INVALID_FACTOR)
        with Session(self.engine) as session:
            row = session.scalar(select(ComplaintRow).where(ComplaintRow.code == normalize_complaint_code(code)))
            if row is None:
                ok = False
            elif phone_last4 is not None:
                ok = last4_matches(row.phone, phone_last4)
            else:
                ok = row.channel == channel and row.sender_id == sender_id
            view = self._view(row) if ok and row is not None else None
        self.lockout.record(channel, sender_id, self.SCOPE, succeeded=ok)
        if view is None:
            return ComplaintLookupResult(LookupOutcome.NOT_FOUND)
        return ComplaintLookupResult(LookupOutcome.FOUND, complaint=view)

    def _view(self, row: ComplaintRow) -> ComplaintStatusView:
        today = local_date(self.clock(), self.tz)
        return ComplaintStatusView(
            code=row.code,
            status=row.status,
            status_label=STATUS_LABELS[row.status],
            category_label=CATEGORY_LABELS.get(row.category, row.category),
            received_date=local_date(row.received_at, self.tz),
            due_date=row.due_date,
            overdue=row.status in OPEN_STATUSES and today > row.due_date,
            reply_text=row.reply_text,
            replied_date=local_date(row.replied_at, self.tz) if row.replied_at else None,
        )


def complaint_service_from_settings(settings: Any, engine: Engine, *, clock: Clock = system_clock) -> ComplaintService:
    return ComplaintService(
        engine, lockout=Lockout.from_settings(settings, engine, clock=clock), clock=clock, tz=settings.timezone,
        due_working_days=settings.complaint_due_working_days,
    )  # fmt: skip
