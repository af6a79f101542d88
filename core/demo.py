"""Demo data for ``make run``: dossiers in the built-in registry, in the code formats provinces print.

People and phone numbers are invented. Dates are relative to the day of seeding, so every status
(including "quá hạn") can be tried on any day. The README lists the codes and the last 4 digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from core.clock import Clock, local_date, system_clock
from core.dossiers import DossierStatus, SqlDossierRegistry, normalize_code
from core.working_hours import add_working_days


@dataclass(frozen=True)
class DemoDossier:
    code: str
    procedure_code: str
    procedure_name: str
    applicant_name: str
    phone: str
    received_days_ago: int  # calendar days before the seeding day
    working_days: int  # processing time: appointment = received + this many working days
    steps: tuple[tuple[DossierStatus, str, str], ...]  # (status, unit, note) after "received"
    result_text: str = ""
    pickup_info: str = ""


ONE_STOP = "Bộ phận Một cửa UBND phường"
DEMO_DOSSIERS: tuple[DemoDossier, ...] = (
    DemoDossier(
        "000.00.25.H29-250312-0012", "1.001193", "Đăng ký khai sinh", "Nguyễn Văn An", "0912345678",
        0, 1, (),
    ),
    DemoDossier(
        "000.00.25.H29-250310-0047", "1.004194", "Đăng ký tạm trú", "Trần Thị Bích", "0983112233",
        2, 3, ((DossierStatus.PROCESSING, "Công an phường", ""),),
    ),
    DemoDossier(
        "H29.22-250312-0012", "1.013229", "Cấp giấy phép xây dựng sửa chữa, cải tạo nhà ở riêng lẻ",
        "Lê Hoàng Cường", "0358246810", 6, 15,
        ((DossierStatus.PROCESSING, "Phòng Quản lý đô thị", ""),
         (DossierStatus.NEEDS_SUPPLEMENT, "Phòng Quản lý đô thị",
          "Bản vẽ thiết kế mặt bằng có chữ ký của chủ nhà; bản sao giấy chứng nhận quyền sử dụng đất.")),
    ),
    DemoDossier(
        "H29.22-250305-0101", "1.012783", "Cấp đổi giấy chứng nhận quyền sử dụng đất", "Phạm Thị Dung",
        "0779135790", 20, 10,
        ((DossierStatus.PROCESSING, "Chi nhánh Văn phòng đăng ký đất đai", ""),),
    ),
    DemoDossier(
        "G01.2025.001234", "3.000333", "Cấp Phiếu lý lịch tư pháp", "Hoàng Minh Đức", "0868975310",
        12, 10,
        ((DossierStatus.PROCESSING, "Sở Tư pháp", ""), (DossierStatus.RESULT_READY, "Sở Tư pháp", "")),
        result_text="Phiếu lý lịch tư pháp số 1",
        pickup_info="Quầy số 3, Trung tâm Phục vụ hành chính công tỉnh (sáng thứ Hai đến thứ Sáu)",
    ),
    DemoDossier(
        "G01.2025.001198", "1.001612", "Đăng ký thành lập hộ kinh doanh", "Vũ Thị Hạnh", "0397531246",
        15, 3,
        ((DossierStatus.PROCESSING, "Phòng Tài chính – Kế hoạch", ""),
         (DossierStatus.RESULT_READY, "Phòng Tài chính – Kế hoạch", ""),
         (DossierStatus.RETURNED, ONE_STOP, "")),
        result_text="Giấy chứng nhận đăng ký hộ kinh doanh",
        pickup_info="Đã trả trực tiếp tại Bộ phận Một cửa",
    ),
)  # fmt: skip


def seed_demo_dossiers(engine: Engine, *, clock: Clock = system_clock, tz: str = "Asia/Ho_Chi_Minh") -> list[str]:
    """Add the demo dossiers that are not in the registry yet; returns the codes added (idempotent)."""
    registry = SqlDossierRegistry(engine, clock=clock, tz=tz)
    zone = ZoneInfo(tz)
    today = local_date(clock(), tz)
    added: list[str] = []
    for demo in DEMO_DOSSIERS:
        if registry.exists(demo.code):
            continue
        received_day = today - timedelta(days=demo.received_days_ago)
        received = _at(received_day, time(8, 15), zone)
        appointment = add_working_days(received_day, demo.working_days)
        registry.create(
            code=demo.code, procedure_code=demo.procedure_code, procedure_name=demo.procedure_name,
            applicant_name=demo.applicant_name, applicant_phone=demo.phone, appointment_date=appointment,
            received_at=received, current_unit=ONE_STOP,
        )  # fmt: skip
        for i, (status, unit, note) in enumerate(demo.steps, start=1):
            step_day = min(received_day + timedelta(days=i), today)
            is_last = i == len(demo.steps)
            registry.set_status(
                demo.code, status, unit=unit, note=note, at=_at(step_day, time(9 + i, 0), zone),
                result_text=demo.result_text if is_last and demo.result_text else None,
                pickup_info=demo.pickup_info if is_last and demo.pickup_info else None,
            )  # fmt: skip
        added.append(normalize_code(demo.code))
    return added


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone)
