"""Dossier status (tra cứu hồ sơ): the source interface, the built-in SQL registry and the lookup service.

- ``DossierSource``: where dossiers come from. Two adapters: ``SqlDossierRegistry`` (built in, seeded
  with demo dossiers by ``core.demo``) and ``core.dossier_http.HttpDossierSource`` (a province's
  one-stop-shop system).
- ``DossierLookup``: what an action calls. Verifies the last 4 digits of the phone registered on the
  dossier, applies the lockout, and returns a ``DossierStatusView`` that carries no personal data.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from core.clock import Clock, as_utc, local_date, system_clock
from core.lockout import Lockout
from core.models import DossierEventRow, DossierRow
from core.notifications import enqueue, subscribe, subscribers
from core.phones import clean_last4, last4_matches, normalize_vn_phone
from knowledge_base.text import nfc


class DossierStatus(str, Enum):
    """Stored statuses. "Overdue" (quá hạn) is not stored: it is computed from the appointment date."""

    RECEIVED = "received"  # đã tiếp nhận
    PROCESSING = "processing"  # đang xử lý
    NEEDS_SUPPLEMENT = "needs_supplement"  # chờ bổ sung hồ sơ
    RESULT_READY = "result_ready"  # đã có kết quả
    RETURNED = "returned"  # đã trả kết quả


OVERDUE = "overdue"
OTHER = "other"  # a provincial status we could not map; its own text is shown
STATUS_LABELS: dict[str, str] = {
    DossierStatus.RECEIVED.value: "đã tiếp nhận",
    DossierStatus.PROCESSING.value: "đang xử lý",
    DossierStatus.NEEDS_SUPPLEMENT.value: "chờ bổ sung hồ sơ",
    DossierStatus.RESULT_READY.value: "đã có kết quả",
    DossierStatus.RETURNED.value: "đã trả kết quả",
    OVERDUE: "quá hạn",
}
_OVERDUE_CAN_APPLY = {DossierStatus.RECEIVED.value, DossierStatus.PROCESSING.value}
RECEIPT = "giấy tiếp nhận hồ sơ và hẹn trả kết quả"


class DossierSourceUnavailable(RuntimeError):
    """The dossier system did not answer (timeout, network, 5xx); the citizen should retry later."""


class UnknownDossier(KeyError):
    """No dossier with this code in the registry (back-office use only; citizens never see this)."""


@dataclass(frozen=True)
class DossierEvent:
    status: str
    at: datetime
    note: str = ""
    unit: str = ""


@dataclass(frozen=True)
class DossierRecord:
    """A dossier as a source knows it. Holds personal data: it never leaves ``core``."""

    code: str
    procedure_code: str
    procedure_name: str
    applicant_name: str
    applicant_phone: str
    received_at: datetime
    appointment_date: date  # ngày hẹn trả
    status: str  # a DossierStatus value, or OTHER
    status_text: str = ""  # the source's own wording when status is OTHER
    status_note: str = ""
    current_unit: str = ""
    result_text: str = ""
    pickup_info: str = ""
    returned_at: datetime | None = None
    history: tuple[DossierEvent, ...] = ()


class DossierSource(Protocol):
    def get(self, code: str) -> DossierRecord | None:
        """The dossier with this (normalised) code, None if unknown; raises DossierSourceUnavailable."""
        ...


def normalize_code(raw: str) -> str:
    """What a citizen typed → the code as stored: NFC, no spaces, upper case (“h29.22 - 250312-0012”)."""
    return re.sub(r"\s+", "", nfc(raw or "")).upper()


def initials(name: str) -> str:
    """“Nguyễn Văn An” → “N.V.A.” (the only form of a name a chat user ever sees)."""
    return "".join(f"{word[0].upper()}." for word in nfc(name).split() if word[0].isalpha())


def _fmt(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def effective_status(record: DossierRecord, today: date) -> str:
    if record.status in _OVERDUE_CAN_APPLY and today > record.appointment_date:
        return OVERDUE
    return record.status


def next_step(record: DossierRecord, status: str, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """What the citizen should do now, in plain Vietnamese."""
    appointment = _fmt(record.appointment_date)
    if status == OVERDUE:
        return (
            f"Hồ sơ đã quá ngày hẹn trả ({appointment}). Theo quy định, cơ quan giải quyết phải gửi phiếu "
            "xin lỗi và hẹn lại ngày trả kết quả. Nếu chưa nhận được, anh/chị liên hệ Bộ phận Một cửa "
            "hoặc gửi phản ánh, kiến nghị."
        )
    if status == DossierStatus.RECEIVED.value:
        return (
            "Hồ sơ đã được tiếp nhận và đang được chuyển đến bộ phận giải quyết. Anh/chị chưa cần làm gì "
            f"thêm; kết quả dự kiến trả vào ngày {appointment}."
        )
    if status == DossierStatus.PROCESSING.value:
        unit = record.current_unit or "cơ quan chuyên môn"
        return f"Hồ sơ đang được {unit} giải quyết. Anh/chị vui lòng chờ đến ngày hẹn trả {appointment}."
    if status == DossierStatus.NEEDS_SUPPLEMENT.value:
        what = f" Nội dung cần bổ sung: {record.status_note.rstrip('. ')}." if record.status_note else ""
        return (
            f"Hồ sơ cần bổ sung giấy tờ.{what} Anh/chị vui lòng nộp bổ sung tại Bộ phận Một cửa (mang "
            f"theo {RECEIPT}) hoặc nộp trực tuyến để hồ sơ được tiếp tục giải quyết."
        )
    if status == DossierStatus.RESULT_READY.value:
        where = f" Nơi nhận: {record.pickup_info}." if record.pickup_info else ""
        return (
            f"Kết quả đã sẵn sàng.{where} Khi đến nhận, anh/chị mang theo {RECEIPT} cùng giấy tờ tùy thân "
            "(hoặc chờ nhận qua bưu điện nếu đã đăng ký)."
        )
    if status == DossierStatus.RETURNED.value:
        when = f" ngày {_fmt(local_date(record.returned_at, tz))}" if record.returned_at else ""
        return (
            f"Kết quả đã được trả{when}. Nếu kết quả có sai sót, anh/chị liên hệ Bộ phận Một cửa để "
            "được hướng dẫn điều chỉnh."
        )
    return "Anh/chị vui lòng liên hệ Bộ phận Một cửa để biết thêm chi tiết về hồ sơ."


@dataclass(frozen=True)
class DossierStatusView:
    """What a citizen may see about a dossier: no full name, phone or ID number."""

    code: str
    procedure_code: str
    procedure_name: str
    applicant_initials: str
    status: str  # a DossierStatus value, "overdue" or "other"
    status_label: str  # plain Vietnamese
    next_step: str
    overdue: bool
    received_date: date
    appointment_date: date
    current_unit: str = ""
    status_note: str = ""
    result_text: str = ""
    pickup_info: str = ""
    returned_date: date | None = None
    history: tuple[tuple[date, str, str], ...] = field(default_factory=tuple)  # (day, label, unit)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (dates as ISO strings), e.g. for a Rasa slot."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, date):
                data[key] = value.isoformat()
        data["history"] = [[d.isoformat(), label, unit] for d, label, unit in self.history]
        return data

    def message(self) -> str:
        """The answer as one Vietnamese message."""
        lines = [f"Hồ sơ {self.code}" + (f" – {self.procedure_name}" if self.procedure_name else "")]
        lines.append(f"Tình trạng: {self.status_label}")
        lines.append(f"Ngày tiếp nhận: {_fmt(self.received_date)}; ngày hẹn trả: {_fmt(self.appointment_date)}")
        if self.current_unit and self.status not in {DossierStatus.RESULT_READY.value, DossierStatus.RETURNED.value}:
            lines.append(f"Đơn vị đang xử lý: {self.current_unit}")
        if self.result_text:
            lines.append(f"Kết quả: {self.result_text}")
        lines.append(self.next_step)
        return "\n".join(lines)


def to_view(record: DossierRecord, today: date, tz: str = "Asia/Ho_Chi_Minh") -> DossierStatusView:
    status = effective_status(record, today)
    label = STATUS_LABELS.get(status) or (nfc(record.status_text).strip().lower() or "chưa rõ")
    return DossierStatusView(
        code=record.code,
        procedure_code=record.procedure_code,
        procedure_name=record.procedure_name,
        applicant_initials=initials(record.applicant_name),
        status=status,
        status_label=label,
        next_step=next_step(record, status, tz),
        overdue=status == OVERDUE,
        received_date=local_date(record.received_at, tz),
        appointment_date=record.appointment_date,
        current_unit=record.current_unit,
        status_note=record.status_note,
        result_text=record.result_text,
        pickup_info=record.pickup_info,
        returned_date=local_date(record.returned_at, tz) if record.returned_at else None,
        history=tuple((local_date(e.at, tz), STATUS_LABELS.get(e.status, e.status), e.unit) for e in record.history),
    )


# --- the built-in SQL registry -------------------------------------------------------------------


def _record(row: DossierRow) -> DossierRecord:
    return DossierRecord(
        code=row.code,
        procedure_code=row.procedure_code,
        procedure_name=row.procedure_name,
        applicant_name=row.applicant_name,
        applicant_phone=row.applicant_phone,
        received_at=row.received_at,
        appointment_date=row.appointment_date,
        status=row.status,
        status_note=row.status_note,
        current_unit=row.current_unit,
        result_text=row.result_text,
        pickup_info=row.pickup_info,
        returned_at=row.returned_at,
        history=tuple(DossierEvent(e.status, e.at, e.note, e.unit) for e in row.history),
    )


def notification_text(record: DossierRecord, today: date, tz: str = "Asia/Ho_Chi_Minh") -> str:
    view = to_view(record, today, tz)
    name = f" ({view.procedure_name})" if view.procedure_name else ""
    return f"Cập nhật hồ sơ {view.code}{name}: {view.status_label}.\n{view.next_step}"


class SqlDossierRegistry:
    """The built-in dossier registry (used when the province has no system to connect, and for demos)."""

    def __init__(self, engine: Engine, *, clock: Clock = system_clock, tz: str = "Asia/Ho_Chi_Minh") -> None:
        self.engine = engine
        self.clock = clock
        self.tz = tz

    def get(self, code: str) -> DossierRecord | None:
        with Session(self.engine) as session:
            row = session.scalar(
                select(DossierRow)
                .where(DossierRow.code == normalize_code(code))
                .options(selectinload(DossierRow.history))
            )
            return _record(row) if row else None

    def exists(self, code: str) -> bool:
        with Session(self.engine) as session:
            return session.scalar(select(DossierRow.id).where(DossierRow.code == normalize_code(code))) is not None

    def create(
        self,
        *,
        code: str,
        procedure_code: str,
        applicant_name: str,
        applicant_phone: str,
        appointment_date: date,
        received_at: datetime | None = None,
        procedure_name: str = "",
        applicant_id_number: str | None = None,
        status: DossierStatus = DossierStatus.RECEIVED,
        current_unit: str = "",
        note: str = "",
    ) -> DossierRecord:
        """Register a dossier (phone validated and stored as E.164); its first history entry is added."""
        received = as_utc(received_at or self.clock())
        status = DossierStatus(status)
        with Session(self.engine) as session, session.begin():
            row = DossierRow(
                code=normalize_code(code),
                procedure_code=procedure_code,
                procedure_name=nfc(procedure_name),
                applicant_name=nfc(applicant_name).strip(),
                applicant_phone=normalize_vn_phone(applicant_phone),
                applicant_id_number=applicant_id_number,
                received_at=received,
                appointment_date=appointment_date,
                status=status.value,
                status_note=nfc(note) if status is DossierStatus.NEEDS_SUPPLEMENT else "",
                current_unit=nfc(current_unit),
                created_at=self.clock(),
                updated_at=self.clock(),
            )
            row.history.append(DossierEventRow(status=status.value, note=nfc(note), unit=row.current_unit, at=received))
            session.add(row)
            session.flush()
            return _record(row)

    def set_status(
        self,
        code: str,
        status: DossierStatus | str,
        *,
        note: str = "",
        unit: str | None = None,
        result_text: str | None = None,
        pickup_info: str | None = None,
        appointment_date: date | None = None,
        at: datetime | None = None,
    ) -> int:
        """Change a dossier's status (back office / API), record it in the history and queue one
        notification per subscriber, all in one transaction. Returns the number of notifications queued.

        A dossier whose result has been returned ends its subscriptions."""
        status = DossierStatus(status)
        moment = as_utc(at or self.clock())
        with Session(self.engine) as session, session.begin():
            row = session.scalar(
                select(DossierRow)
                .where(DossierRow.code == normalize_code(code))
                .options(selectinload(DossierRow.history))
                .with_for_update()
            )
            if row is None:
                raise UnknownDossier(code)
            changed = row.status != status.value
            row.status = status.value
            row.status_note = nfc(note) if status is DossierStatus.NEEDS_SUPPLEMENT else ""
            if unit is not None:
                row.current_unit = nfc(unit)
            if result_text is not None:
                row.result_text = nfc(result_text)
            if pickup_info is not None:
                row.pickup_info = nfc(pickup_info)
            if appointment_date is not None:
                row.appointment_date = appointment_date
            if status is DossierStatus.RETURNED:
                row.returned_at = moment
            row.updated_at = moment
            row.history.append(DossierEventRow(status=status.value, note=nfc(note), unit=row.current_unit, at=moment))
            session.flush()
            if not changed:
                return 0
            record = _record(row)
            text = notification_text(record, local_date(moment, self.tz), self.tz)
            queued = 0
            for sub in subscribers(session, row.code):
                enqueue(
                    session,
                    channel=sub.channel,
                    sender_id=sub.sender_id,
                    kind="dossier_status",
                    text=text,
                    payload={"dossier_code": row.code, "status": status.value},
                    clock=self.clock,
                )
                queued += 1
                if status is DossierStatus.RETURNED:
                    sub.active = False
            return queued


# --- the lookup service --------------------------------------------------------------------------


class LookupOutcome(str, Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"  # no dossier with this code AND these digits (the two are never told apart)
    INVALID_FACTOR = "invalid_factor"  # not 4 digits: ask again, nothing counted
    LOCKED = "locked"  # too many failures: try again at ``retry_at``
    UNAVAILABLE = "unavailable"  # the dossier system did not answer: try again later


@dataclass(frozen=True)
class DossierLookupResult:
    outcome: LookupOutcome
    dossier: DossierStatusView | None = None
    retry_at: datetime | None = None


class DossierLookup:
    """Verified dossier lookups for chat users, whatever the source."""

    SCOPE = "dossier"

    def __init__(
        self,
        source: DossierSource,
        lockout: Lockout,
        *,
        engine: Engine | None = None,
        clock: Clock = system_clock,
        tz: str = "Asia/Ho_Chi_Minh",
    ) -> None:
        self.source = source
        self.lockout = lockout
        self.engine = engine or lockout.engine
        self.clock = clock
        self.tz = tz

    def lookup(self, code: str, phone_last4: str, *, channel: str, sender_id: str) -> DossierLookupResult:
        state = self.lockout.state(channel, sender_id)
        if state.locked:
            return DossierLookupResult(LookupOutcome.LOCKED, retry_at=state.retry_at)
        if clean_last4(phone_last4) is None:
            return DossierLookupResult(LookupOutcome.INVALID_FACTOR)
        normalized = normalize_code(code)
        try:
            record = self.source.get(normalized) if normalized else None
        except DossierSourceUnavailable:
            return DossierLookupResult(LookupOutcome.UNAVAILABLE)
        ok = (
            record is not None
            and normalize_code(record.code) == normalized  # a source answering for another code is a miss
            and last4_matches(record.applicant_phone, phone_last4)
        )
        self.lockout.record(channel, sender_id, self.SCOPE, succeeded=ok)
        if not ok or record is None:
            return DossierLookupResult(LookupOutcome.NOT_FOUND)
        return DossierLookupResult(
            LookupOutcome.FOUND, dossier=to_view(record, local_date(self.clock(), self.tz), self.tz)
        )

    def subscribe(self, code: str, phone_last4: str, *, channel: str, sender_id: str) -> DossierLookupResult:
        """Verify exactly like ``lookup``, then follow the dossier (notified on every status change)."""
        result = self.lookup(code, phone_last4, channel=channel, sender_id=sender_id)
        if result.outcome is LookupOutcome.FOUND and result.dossier is not None:
            with Session(self.engine) as session, session.begin():
                subscribe(session, result.dossier.code, channel, sender_id, clock=self.clock)
        return result


def dossier_source_from_settings(settings: Any, engine: Engine, *, clock: Clock = system_clock) -> DossierSource:
    """The registry or the provincial system, as ``settings.dossier_backend`` says."""
    if settings.dossier_backend == "http":
        from core.dossier_http import HttpDossierConfig, HttpDossierSource

        return HttpDossierSource(HttpDossierConfig.from_settings(settings))
    return SqlDossierRegistry(engine, clock=clock, tz=settings.timezone)


def dossier_lookup_from_settings(settings: Any, engine: Engine, *, clock: Clock = system_clock) -> DossierLookup:
    lockout = Lockout.from_settings(settings, engine, clock=clock)
    source = dossier_source_from_settings(settings, engine, clock=clock)
    return DossierLookup(source, lockout, engine=engine, clock=clock, tz=settings.timezone)
