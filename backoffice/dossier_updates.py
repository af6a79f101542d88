"""Dossier status changes from outside (a CSV upload, the JSON API): parse, validate, apply.

One shape for both: a mapping with ``code`` and ``status`` and optional ``note``, ``unit``, ``result_text``,
``pickup_info``, ``appointment_date``, ``at``. A dossier not in the registry yet is registered when the
row also has ``procedure_code``, ``applicant_name``, ``applicant_phone`` and ``appointment_date``.
CSV headers may be these names or their Vietnamese equivalents ("Mã hồ sơ", "Trạng thái", ...).
Applying goes through ``SqlDossierRegistry.set_status``, which queues the notifications of subscribed
citizens in the same transaction ("đã có kết quả" and every other change).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from core.clock import parse_moment as clock_parse_moment
from core.dossier_http import STATUS_WORDING
from core.dossiers import STATUS_LABELS, DossierStatus, SqlDossierRegistry, UnknownDossier, normalize_code
from core.phones import InvalidPhone
from knowledge_base.text import fold, nfc

MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_CSV_ROWS = 20_000
MAX_FIELD_CHARS = 5000
TEXT_FIELDS = ("note", "unit", "result_text", "pickup_info", "procedure_code", "procedure_name", "applicant_name")
CREATE_FIELDS = ("procedure_code", "applicant_name", "applicant_phone", "appointment_date")
HEADER_ALIASES: dict[str, str] = {
    "code": "code", "ma ho so": "code", "ma": "code", "so ho so": "code",
    "status": "status", "trang thai": "status", "tinh trang": "status",
    "note": "note", "ghi chu": "note", "noi dung bo sung": "note",
    "unit": "unit", "don vi": "unit", "don vi xu ly": "unit", "don vi dang xu ly": "unit",
    "result_text": "result_text", "ket qua": "result_text", "ket qua giai quyet": "result_text",
    "pickup_info": "pickup_info", "noi nhan": "pickup_info", "noi nhan ket qua": "pickup_info",
    "appointment_date": "appointment_date", "ngay hen tra": "appointment_date", "ngay hen": "appointment_date",
    "at": "at", "thoi diem": "at", "ngay cap nhat": "at",
    "procedure_code": "procedure_code", "ma thu tuc": "procedure_code",
    "procedure_name": "procedure_name", "ten thu tuc": "procedure_name",
    "applicant_name": "applicant_name", "nguoi nop": "applicant_name", "ho ten": "applicant_name",
    "applicant_phone": "applicant_phone", "so dien thoai": "applicant_phone", "dien thoai": "applicant_phone",
    "received_at": "received_at", "ngay tiep nhan": "received_at", "ngay nhan": "received_at",
}  # fmt: skip
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")
DATETIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


class UpdateError(ValueError):
    """A row that cannot be applied; ``str(exc)`` says why, in Vietnamese."""


@dataclass(frozen=True)
class NewDossier:
    procedure_code: str
    procedure_name: str
    applicant_name: str
    applicant_phone: str
    received_at: datetime | None


@dataclass(frozen=True)
class DossierUpdate:
    code: str
    status: DossierStatus
    note: str = ""
    unit: str | None = None
    result_text: str | None = None
    pickup_info: str | None = None
    appointment_date: date | None = None
    at: datetime | None = None
    new: NewDossier | None = None


@dataclass(frozen=True)
class Applied:
    code: str
    outcome: str  # created | updated | unchanged
    notified: int  # notifications queued for subscribed citizens


def parse_status(raw: str) -> DossierStatus:
    text = nfc(raw or "").strip()
    if text in {s.value for s in DossierStatus}:
        return DossierStatus(text)
    folded = fold(text)
    for value, label in STATUS_LABELS.items():
        if folded == fold(label) and value in {s.value for s in DossierStatus}:
            return DossierStatus(value)
    for wording, status in STATUS_WORDING:
        if folded and wording in folded:
            return status
    allowed = ", ".join(f"{s.value} ({STATUS_LABELS[s.value]})" for s in DossierStatus)
    raise UpdateError(f"Trạng thái “{text}” không hợp lệ; dùng một trong: {allowed}.")


def parse_date(raw: str, label: str) -> date:
    text = (raw or "").strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise UpdateError(f"{label} “{text}” không đúng dạng ngày (dd/mm/yyyy hoặc yyyy-mm-dd).")


def parse_moment(raw: str, label: str, tz: str) -> datetime:
    """ISO 8601 or dd/mm/yyyy [HH:MM[:SS]]; without an offset it is the office's local time."""
    text = (raw or "").strip()
    parsed = clock_parse_moment(text, (*DATETIME_FORMATS, *DATE_FORMATS), tz)
    if parsed is None:
        raise UpdateError(f"{label} “{text}” không đúng dạng thời gian (vd. 2025-03-14T09:30:00+07:00).")
    return parsed


def _text(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise UpdateError(f"Trường “{name}” phải là chuỗi ký tự.")
    text = nfc(str(value)).strip()
    if len(text) > MAX_FIELD_CHARS:
        raise UpdateError(f"Trường “{name}” dài quá {MAX_FIELD_CHARS} ký tự.")
    return text


def parse_update(data: Mapping[str, object], *, tz: str = "Asia/Ho_Chi_Minh") -> DossierUpdate:
    """A validated update (or UpdateError naming every problem of the row)."""
    problems: list[str] = []

    def attempt(fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except UpdateError as exc:
            problems.append(str(exc))
            return None

    code = normalize_code(attempt(_text, data, "code") or "")
    if not code:
        problems.append("Thiếu mã hồ sơ.")
    elif len(code) > 64:
        problems.append("Mã hồ sơ dài quá 64 ký tự.")
    raw_status = attempt(_text, data, "status")
    status = attempt(parse_status, raw_status) if raw_status else None
    if not raw_status:
        problems.append("Thiếu trạng thái.")
    texts = {name: attempt(_text, data, name) for name in (*TEXT_FIELDS, "applicant_phone")}
    raw_appointment = attempt(_text, data, "appointment_date")
    appointment = attempt(parse_date, raw_appointment, "Ngày hẹn trả") if raw_appointment else None
    raw_at = attempt(_text, data, "at")
    at = attempt(parse_moment, raw_at, "Thời điểm", tz) if raw_at else None
    raw_received = attempt(_text, data, "received_at")
    received = attempt(parse_moment, raw_received, "Ngày tiếp nhận", tz) if raw_received else None
    new = None
    given = [name for name in CREATE_FIELDS if (texts.get(name) if name != "appointment_date" else raw_appointment)]
    if given:
        missing = [name for name in CREATE_FIELDS if name not in given]
        if missing:
            problems.append(f"Để đăng ký hồ sơ mới cần đủ: {', '.join(CREATE_FIELDS)} (thiếu {', '.join(missing)}).")
        else:
            new = NewDossier(
                procedure_code=texts["procedure_code"] or "",
                procedure_name=texts["procedure_name"] or "",
                applicant_name=texts["applicant_name"] or "",
                applicant_phone=texts["applicant_phone"] or "",
                received_at=received,
            )
    if problems or status is None:
        raise UpdateError(" ".join(problems))
    return DossierUpdate(
        code=code,
        status=status,
        note=texts["note"] or "",
        unit=texts["unit"] or None,
        result_text=texts["result_text"] or None,
        pickup_info=texts["pickup_info"] or None,
        appointment_date=appointment,
        at=at,
        new=new,
    )


def apply_update(registry: SqlDossierRegistry, update: DossierUpdate) -> Applied:
    """Apply one update. A repeated update (same status and note) changes nothing. Raises UpdateError."""
    record = registry.get(update.code)
    try:
        if record is None:
            if update.new is None:
                raise UpdateError(f"Không có hồ sơ mã {update.code} trong sổ hồ sơ.")
            assert update.appointment_date is not None  # required with the creation fields
            registry.create(
                code=update.code,
                procedure_code=update.new.procedure_code,
                procedure_name=update.new.procedure_name,
                applicant_name=update.new.applicant_name,
                applicant_phone=update.new.applicant_phone,
                appointment_date=update.appointment_date,
                received_at=update.new.received_at or update.at,
                status=update.status,
                current_unit=update.unit or "",
                note=update.note,
            )
            return Applied(update.code, "created", 0)
        if record.status == update.status.value and record.status_note == (
            update.note if update.status is DossierStatus.NEEDS_SUPPLEMENT else ""
        ):
            same = all(
                new is None or new == old
                for new, old in (
                    (update.unit, record.current_unit),
                    (update.result_text, record.result_text),
                    (update.pickup_info, record.pickup_info),
                    (update.appointment_date, record.appointment_date),
                )
            )
            if same:
                return Applied(update.code, "unchanged", 0)
        notified = registry.set_status(
            update.code,
            update.status,
            note=update.note,
            unit=update.unit,
            result_text=update.result_text,
            pickup_info=update.pickup_info,
            appointment_date=update.appointment_date,
            at=update.at,
        )
    except InvalidPhone as exc:
        raise UpdateError(str(exc)) from exc
    except UnknownDossier as exc:
        raise UpdateError(f"Không có hồ sơ mã {update.code} trong sổ hồ sơ.") from exc
    return Applied(update.code, "updated", notified)


# --- CSV ---------------------------------------------------------------------------------------------


@dataclass
class CsvReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    notified: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number in the file, message)

    @property
    def applied(self) -> int:
        return self.created + self.updated + self.unchanged


def read_csv(data: bytes) -> tuple[list[tuple[int, dict[str, str]]], list[tuple[int, str]]]:
    """Rows as (line number, {field: value}) with known headers mapped; or errors for the whole file."""
    if not data.strip():
        return [], [(0, "Tệp trống.")]
    if len(data) > MAX_CSV_BYTES:
        return [], [(0, f"Tệp lớn quá {MAX_CSV_BYTES // (1024 * 1024)} MB; hãy tách thành nhiều tệp.")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [(0, "Tệp không phải văn bản UTF-8. Hãy lưu lại dưới dạng “CSV UTF-8”.")]
    if "\x00" in text:
        return [], [(0, "Tệp không phải tệp CSV.")]
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)  # what the header is split by (Excel uses ";" in some locales)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], [(1, "Không đọc được dòng tiêu đề.")]
    columns = [HEADER_ALIASES.get(h.strip()) or HEADER_ALIASES.get(fold(nfc(h)).strip(), "") for h in header]
    missing = [name for name in ("code", "status") if name not in columns]
    if missing:
        return [], [(1, f"Thiếu cột bắt buộc: {', '.join(missing)} (mã hồ sơ, trạng thái).")]
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[tuple[int, str]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_CSV_ROWS:
                errors.append((line, f"Quá {MAX_CSV_ROWS} dòng: phần còn lại không được đọc."))
                break
            if len(cells) > len(columns):
                errors.append((line, f"Dòng có {len(cells)} ô, nhiều hơn {len(columns)} cột của tiêu đề."))
                continue
            rows.append((line, {col: cell for col, cell in zip(columns, cells) if col}))
    except csv.Error as exc:
        errors.append((reader.line_num, f"Dòng không đọc được: {exc}"))
    if not rows and not errors:
        errors.append((0, "Tệp không có dòng dữ liệu nào (chỉ có dòng tiêu đề)."))
    return rows, errors


def import_csv(registry: SqlDossierRegistry, data: bytes, *, tz: str) -> CsvReport:
    """Apply every valid row in file order (each in its own transaction); report the others by line."""
    report = CsvReport()
    rows, report.errors = read_csv(data)
    for line, values in rows:
        report.rows += 1
        try:
            applied = apply_update(registry, parse_update(values, tz=tz))
        except UpdateError as exc:
            report.errors.append((line, str(exc)))
            continue
        setattr(report, applied.outcome, getattr(report, applied.outcome) + 1)
        report.notified += applied.notified
    report.errors.sort()
    return report
