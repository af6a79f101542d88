"""Dossier lookup: what a citizen sees (and never sees), the lockout, subscriptions and the HTTP adapter."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.clock import ManualClock
from core.db import create_all, make_engine
from core.demo import DEMO_DOSSIERS, seed_demo_dossiers
from core.dossier_http import HttpDossierConfig, HttpDossierSource
from core.dossiers import (
    DossierLookup,
    DossierSourceUnavailable,
    DossierStatus,
    LookupOutcome,
    SqlDossierRegistry,
    initials,
)
from core.lockout import Lockout
from core.models import NotificationRow
from core.notifications import Outbox

# Monday 17 March 2025, 09:00 in Hà Nội
MONDAY_9AM = datetime(2025, 3, 17, 2, 0, tzinfo=timezone.utc)
CODE, PHONE = "000.00.25.H29-250312-0012", "0912 345 678"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(MONDAY_9AM)


@pytest.fixture()
def registry(engine: Engine, clock: ManualClock) -> SqlDossierRegistry:
    registry = SqlDossierRegistry(engine, clock=clock)
    registry.create(
        code=CODE, procedure_code="1.001193", procedure_name="Đăng ký khai sinh",
        applicant_name="Nguyễn Văn An", applicant_phone=PHONE, applicant_id_number="001090012345",
        appointment_date=date(2025, 3, 19), received_at=MONDAY_9AM,
    )  # fmt: skip
    return registry


@pytest.fixture()
def lookup(registry: SqlDossierRegistry, engine: Engine, clock: ManualClock) -> DossierLookup:
    return DossierLookup(registry, Lockout(engine, clock=clock), clock=clock)


def ask(lookup: DossierLookup, code: str = CODE, digits: str = "5678", sender: str = "u1") -> LookupOutcome:
    return lookup.lookup(code, digits, channel="telegram", sender_id=sender).outcome


def test_found_with_the_last_4_digits_and_shows_no_personal_data(lookup: DossierLookup) -> None:
    result = lookup.lookup(" 000.00.25.h29-250312-0012 ", "5 6 7 8", channel="telegram", sender_id="u1")
    assert result.outcome is LookupOutcome.FOUND and result.dossier is not None
    view = result.dossier
    assert (view.status, view.status_label) == ("received", "đã tiếp nhận")
    assert view.applicant_initials == "N.V.A."
    shown = json.dumps(view.as_dict(), ensure_ascii=False) + view.message()
    for secret in ("Nguyễn", "Văn An", "0912345678", "912345678", "+84", "001090012345"):
        assert secret not in shown
    assert "19/03/2025" in view.message()


def test_wrong_code_and_wrong_digits_look_the_same(lookup: DossierLookup) -> None:
    wrong_digits = lookup.lookup(CODE, "1111", channel="telegram", sender_id="u1")
    wrong_code = lookup.lookup("000.00.25.H29-250312-9999", "5678", channel="telegram", sender_id="u1")
    assert wrong_digits == wrong_code
    assert wrong_digits.outcome is LookupOutcome.NOT_FOUND and wrong_digits.dossier is None


def test_five_failures_in_15_minutes_lock_the_sender(lookup: DossierLookup, clock: ManualClock) -> None:
    for _ in range(5):
        assert ask(lookup, digits="0000") is LookupOutcome.NOT_FOUND
        clock.advance(minutes=1)
    locked = lookup.lookup(CODE, "5678", channel="telegram", sender_id="u1")
    assert locked.outcome is LookupOutcome.LOCKED  # even with the right digits
    assert locked.retry_at == MONDAY_9AM + timedelta(minutes=15)
    assert ask(lookup, sender="u2") is LookupOutcome.FOUND  # other senders are not affected
    assert lookup.lookup(CODE, "5678", channel="zalo", sender_id="u1").outcome is LookupOutcome.FOUND
    clock.now = MONDAY_9AM + timedelta(minutes=15, seconds=1)
    assert ask(lookup) is LookupOutcome.FOUND


def test_four_failures_spread_over_time_never_lock(lookup: DossierLookup, clock: ManualClock) -> None:
    for _ in range(12):
        assert ask(lookup, digits="0000") is LookupOutcome.NOT_FOUND
        clock.advance(minutes=4)  # at most 4 failures in any 15 minutes
    assert ask(lookup) is LookupOutcome.FOUND


def test_a_malformed_factor_is_asked_again_and_not_counted(lookup: DossierLookup) -> None:
    for typed in ("12", "12345", "abcd", ""):
        assert ask(lookup, digits=typed) is LookupOutcome.INVALID_FACTOR
    for _ in range(4):
        ask(lookup, digits="0000")
    assert ask(lookup) is LookupOutcome.FOUND


def test_overdue_is_computed_from_the_appointment_date(lookup: DossierLookup, clock: ManualClock) -> None:
    clock.now = datetime(2025, 3, 19, 16, 59, tzinfo=timezone.utc)  # 23:59 on the 19th in Hà Nội
    assert lookup.lookup(CODE, "5678", channel="t", sender_id="a").dossier.status == "received"  # type: ignore[union-attr]
    clock.advance(minutes=2)  # 00:01 on the 20th in Hà Nội
    view = lookup.lookup(CODE, "5678", channel="t", sender_id="a").dossier
    assert view is not None and view.overdue and view.status_label == "quá hạn"
    assert "phiếu xin lỗi và hẹn lại ngày trả" in view.next_step


def test_status_labels_and_next_steps(registry: SqlDossierRegistry, lookup: DossierLookup) -> None:
    expected = {
        DossierStatus.PROCESSING: ("đang xử lý", "Phòng Tư pháp"),
        DossierStatus.NEEDS_SUPPLEMENT: ("chờ bổ sung hồ sơ", "Bản sao giấy chứng sinh"),
        DossierStatus.RESULT_READY: ("đã có kết quả", "Quầy số 2"),
        DossierStatus.RETURNED: ("đã trả kết quả", "đã được trả"),
    }
    for status, (label, hint) in expected.items():
        registry.set_status(CODE, status, unit="Phòng Tư pháp", note="Bản sao giấy chứng sinh", pickup_info="Quầy số 2")
        view = lookup.lookup(CODE, "5678", channel="t", sender_id="a").dossier
        assert view is not None and view.status_label == label and hint in view.next_step
    assert [label for _, label, _ in view.history] == [
        "đã tiếp nhận", "đang xử lý", "chờ bổ sung hồ sơ", "đã có kết quả", "đã trả kết quả",
    ]  # fmt: skip


def test_status_change_queues_one_notification_per_subscriber(
    registry: SqlDossierRegistry, lookup: DossierLookup, engine: Engine
) -> None:
    assert lookup.subscribe(CODE, "0000", channel="zalo", sender_id="intruder").outcome is LookupOutcome.NOT_FOUND
    assert lookup.subscribe(CODE, "5678", channel="zalo", sender_id="z1").outcome is LookupOutcome.FOUND
    lookup.subscribe(CODE, "5678", channel="zalo", sender_id="z1")  # twice: still one subscription
    lookup.subscribe(CODE, "5678", channel="telegram", sender_id="t1")
    assert registry.set_status(CODE, DossierStatus.PROCESSING) == 2
    assert registry.set_status(CODE, DossierStatus.PROCESSING) == 0  # no change, no message
    assert registry.set_status(CODE, DossierStatus.RESULT_READY, pickup_info="Quầy số 2") == 2
    assert registry.set_status(CODE, DossierStatus.RETURNED) == 2
    assert registry.set_status(CODE, DossierStatus.PROCESSING) == 0  # returned: subscriptions ended
    outbox = Outbox(engine)
    pending = outbox.pending()
    assert len(pending) == 6 and {(n.channel, n.sender_id) for n in pending} == {("zalo", "z1"), ("telegram", "t1")}
    ready = [n for n in pending if n.payload["status"] == "result_ready"]
    assert "đã có kết quả" in ready[0].text and "Quầy số 2" in ready[0].text
    assert all("Nguyễn" not in n.text and "5678" not in n.text for n in pending)
    outbox.mark_sent(pending[0].id)
    assert outbox.mark_failed(pending[1].id, "timeout") == "pending"
    assert outbox.mark_failed(pending[2].id, "blocked by user", permanent=True) == "failed"
    with Session(engine) as session:
        statuses = dict(session.execute(select(NotificationRow.id, NotificationRow.status)).all())
    assert [statuses[n.id] for n in pending[:3]] == ["sent", "pending", "failed"]


def test_demo_seed_is_idempotent_and_every_demo_dossier_is_found(engine: Engine, clock: ManualClock) -> None:
    assert len(seed_demo_dossiers(engine, clock=clock)) == len(DEMO_DOSSIERS)
    assert seed_demo_dossiers(engine, clock=clock) == []
    lookup = DossierLookup(SqlDossierRegistry(engine, clock=clock), Lockout(engine, clock=clock), clock=clock)
    seen = set()
    for demo in DEMO_DOSSIERS:
        result = lookup.lookup(demo.code, demo.phone[-4:], channel="web", sender_id=f"demo-{demo.code}")
        assert result.outcome is LookupOutcome.FOUND, demo.code
        seen.add(result.dossier.status)  # type: ignore[union-attr]
    assert seen == {"received", "processing", "needs_supplement", "overdue", "result_ready", "returned"}


def test_initials() -> None:
    assert initials("Đặng  thị   Ánh") == "Đ.T.Á."
    assert initials("") == ""


# --- the HTTP adapter, against a fake provincial system on 127.0.0.1 -----------------------------

PROVINCE_ANSWER = {
    "ketQua": {
        "MaHoSo": "H29.22-250312-0012",
        "MaTTHC": "1.013229",
        "TenTTHC": "Cấp giấy phép xây dựng",
        "ChuHoSo": "Lê Hoàng Cường",
        "SoDienThoai": "0358246810",
        "NgayTiepNhan": "12/03/2025 08:15:00",
        "NgayHenTra": "02/04/2025",
        "TrangThai": "Chờ bổ sung",
        "GhiChu": "Bản vẽ mặt bằng",
        "DonViXuLy": "Phòng Quản lý đô thị",
        "QuaTrinh": [
            {"TrangThai": "Mới tiếp nhận", "ThoiGian": "2025-03-12T08:15:00+07:00"},
            {"TrangThai": "5", "ThoiGian": "/Date(1741834800000)/", "DonVi": "Phòng Quản lý đô thị"},
        ],
    }
}
FIELDS = {
    "code": "ketQua.MaHoSo", "procedure_code": "ketQua.MaTTHC", "procedure_name": "ketQua.TenTTHC",
    "applicant_name": "ketQua.ChuHoSo", "applicant_phone": "ketQua.SoDienThoai",
    "received_at": "ketQua.NgayTiepNhan", "appointment_date": "ketQua.NgayHenTra", "status": "ketQua.TrangThai",
    "status_note": "ketQua.GhiChu", "current_unit": "ketQua.DonViXuLy", "history": "ketQua.QuaTrinh",
    "history.status": "TrangThai", "history.at": "ThoiGian", "history.unit": "DonVi",
}  # fmt: skip


class FakeProvince:
    """A one-stop-shop system: answers from ``script`` (one entry per request), then 404."""

    def __init__(self) -> None:
        self.script: list[tuple[int, object] | str] = []
        self.paths: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.paths.append(self.path)
                step = fake.script.pop(0) if fake.script else (404, {"message": "not found"})
                if step == "hang":
                    threading.Event().wait(1.0)
                    step = (200, PROVINCE_ANSWER)
                status, body = step  # type: ignore[misc]
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/hoso/{{code}}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def province() -> Iterator[FakeProvince]:
    fake = FakeProvince()
    yield fake
    fake.close()


def http_source(province: FakeProvince, **overrides: object) -> HttpDossierSource:
    config = {
        "url_template": province.url, "timeout": 0.3, "retries": 2, "backoff": 0.01, "fields": FIELDS,
        "statuses": {"5": "processing"},
    }  # fmt: skip
    config.update(overrides)
    return HttpDossierSource(HttpDossierConfig(**config))  # type: ignore[arg-type]


def test_http_adapter_maps_fields_statuses_and_dates(province: FakeProvince) -> None:
    province.script = [(200, PROVINCE_ANSWER)]
    record = http_source(province).get("H29.22-250312-0012")
    assert record is not None
    assert province.paths == ["/api/hoso/H29.22-250312-0012"]
    assert record.status == "needs_supplement" and record.status_note == "Bản vẽ mặt bằng"
    assert record.received_at == datetime(2025, 3, 12, 1, 15, tzinfo=timezone.utc)
    assert record.appointment_date == date(2025, 4, 2)
    assert [e.status for e in record.history] == ["received", "processing"]
    assert record.history[1].at == datetime(2025, 3, 13, 3, 0, tzinfo=timezone.utc)


def test_http_adapter_through_the_lookup_service(province: FakeProvince, tmp_path: object) -> None:
    engine = make_engine("sqlite://")
    create_all(engine)
    clock = ManualClock(datetime(2025, 3, 14, 3, 0, tzinfo=timezone.utc))
    lookup = DossierLookup(http_source(province), Lockout(engine, clock=clock), clock=clock)
    province.script = [(200, PROVINCE_ANSWER), (200, PROVINCE_ANSWER), (404, {})]
    found = lookup.lookup("h29.22-250312-0012", "6810", channel="zalo", sender_id="z")
    assert found.outcome is LookupOutcome.FOUND and found.dossier is not None
    assert found.dossier.status_label == "chờ bổ sung hồ sơ" and "Bản vẽ mặt bằng" in found.dossier.next_step
    assert "Cường" not in found.dossier.message() and found.dossier.applicant_initials == "L.H.C."
    wrong_digits = lookup.lookup("H29.22-250312-0012", "0000", channel="zalo", sender_id="z")
    unknown = lookup.lookup("H29.22-250312-9999", "6810", channel="zalo", sender_id="z")
    assert wrong_digits == unknown and unknown.outcome is LookupOutcome.NOT_FOUND


def test_http_adapter_retries_server_errors_then_succeeds(province: FakeProvince) -> None:
    province.script = [(503, {}), (500, {}), (200, PROVINCE_ANSWER)]
    assert http_source(province).get("H29.22-250312-0012") is not None
    assert len(province.paths) == 3


def test_http_adapter_gives_up_after_the_retries(province: FakeProvince) -> None:
    province.script = [(500, {})] * 3
    with pytest.raises(DossierSourceUnavailable):
        http_source(province).get("X")
    assert len(province.paths) == 3


def test_http_adapter_times_out_then_retries(province: FakeProvince) -> None:
    province.script = ["hang", (200, PROVINCE_ANSWER)]
    assert http_source(province, timeout=0.2).get("H29.22-250312-0012") is not None
    province.script = ["hang", "hang"]
    with pytest.raises(DossierSourceUnavailable):
        http_source(province, timeout=0.2, retries=1).get("H29.22-250312-0012")


def test_http_unavailable_is_not_counted_as_a_failed_attempt(province: FakeProvince) -> None:
    engine = make_engine("sqlite://")
    create_all(engine)
    lookup = DossierLookup(http_source(province, retries=0), Lockout(engine))
    province.script = [(500, {})] * 10
    for _ in range(6):
        assert lookup.lookup("X", "1234", channel="t", sender_id="s").outcome is LookupOutcome.UNAVAILABLE
    province.script = [(200, PROVINCE_ANSWER)]
    assert lookup.lookup("H29.22-250312-0012", "6810", channel="t", sender_id="s").outcome is LookupOutcome.FOUND


def test_http_config_is_checked() -> None:
    with pytest.raises(ValueError, match="code"):
        HttpDossierConfig(url_template="http://127.0.0.1/hoso")
    with pytest.raises(ValueError, match="unknown dossier fields"):
        HttpDossierConfig(url_template="http://127.0.0.1/{code}", fields={"ten": "x"})
    with pytest.raises(ValueError, match="status mapping"):
        HttpDossierConfig(url_template="http://127.0.0.1/{code}", statuses={"1": "done"})
