"""Complaints (phản ánh, kiến nghị): limits, consent, codes under concurrency, lookup, PostgreSQL restarts."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.clock import ManualClock
from core.complaints import (
    MAX_CONTENT_CHARS,
    ComplaintClosed,
    ComplaintNotStored,
    ComplaintService,
    ComplaintStatus,
    ConsentRequired,
    ContentTooLong,
    EmptyContent,
    normalize_complaint_code,
    suggest_category,
)
from core.db import create_all, make_engine
from core.dossiers import LookupOutcome
from core.models import ComplaintNoteRow, ComplaintRow, NotificationRow
from core.phones import InvalidPhone, normalize_vn_phone
from core.working_hours import add_working_days

FRIDAY_4PM = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)  # 16:00 in Hà Nội


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(FRIDAY_4PM)


@pytest.fixture()
def service(engine: Engine, clock: ManualClock) -> ComplaintService:
    return ComplaintService(engine, clock=clock)


def submit(service: ComplaintService, content: str = "Cán bộ quát tháo người dân", **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("channel", "zalo")
    kw.setdefault("sender_id", "z1")
    kw.setdefault("consent", False)
    return service.submit(content, **kw)  # type: ignore[arg-type]


def test_code_format_and_due_date_in_working_days(service: ComplaintService, engine: Engine) -> None:
    first, second = submit(service), submit(service)
    assert (first.code, second.code) == ("PA-2025-000001", "PA-2025-000002")
    assert first.due_date == date(2025, 3, 28)  # Friday + 10 working days = Friday two weeks later
    with Session(engine) as session:
        row = session.scalar(select(ComplaintRow).where(ComplaintRow.code == first.code))
        assert row is not None and row.status == "new" and row.name is None and row.phone is None


def test_add_working_days_skips_weekends() -> None:
    assert add_working_days(date(2025, 3, 14), 1) == date(2025, 3, 17)  # Friday → Monday
    assert add_working_days(date(2025, 3, 15), 1) == date(2025, 3, 17)  # Saturday → Monday
    assert add_working_days(date(2025, 3, 17), 5) == date(2025, 3, 24)


def test_year_comes_from_the_local_date(service: ComplaintService, clock: ManualClock) -> None:
    clock.now = datetime(2025, 12, 31, 17, 30, tzinfo=timezone.utc)  # 00:30 on 1 January 2026 in Hà Nội
    assert submit(service).code == "PA-2026-000001"


def test_content_is_stored_as_typed_up_to_the_limit_and_refused_beyond(
    service: ComplaintService, engine: Engine
) -> None:
    exact = ("Hồ sơ chậm trễ. " * 400)[:MAX_CONTENT_CHARS]
    code = submit(service, exact).code
    with Session(engine) as session:
        assert session.scalar(select(ComplaintRow.content).where(ComplaintRow.code == code)) == exact
    with pytest.raises(ContentTooLong) as info:
        submit(service, exact + "x")
    assert "5.000" in str(info.value) and "5.001" in str(info.value) and "không tự cắt" in str(info.value)
    with pytest.raises(EmptyContent):
        submit(service, "   \n")
    decomposed = "Cán bộ".encode().decode()  # NFC in, NFC out; NFD input is normalised
    import unicodedata

    code = submit(service, unicodedata.normalize("NFD", decomposed)).code
    with Session(engine) as session:
        assert session.scalar(select(ComplaintRow.content).where(ComplaintRow.code == code)) == "Cán bộ"


def test_personal_data_only_with_consent(service: ComplaintService, engine: Engine, clock: ManualClock) -> None:
    with pytest.raises(ConsentRequired):
        submit(service, name="Nguyễn Văn An", consent=False)
    with pytest.raises(ConsentRequired):
        submit(service, phone="0912345678", consent=False)
    with pytest.raises(InvalidPhone):
        submit(service, phone="0123", consent=True)
    code = submit(service, name=" Nguyễn Văn An ", phone="091 234 5678", consent=True).code
    with Session(engine) as session:
        row = session.scalar(select(ComplaintRow).where(ComplaintRow.code == code))
        assert row is not None
        assert (row.name, row.phone, row.consent, row.consent_at) == ("Nguyễn Văn An", "+84912345678", True, clock())
        assert session.scalar(select(func.count()).select_from(ComplaintRow)) == 1  # refusals stored nothing


def test_phone_normalisation() -> None:
    for raw in ("0912345678", "+84 912 345 678", "84912345678", "(091) 234-5678"):
        assert normalize_vn_phone(raw) == "+84912345678"
    assert normalize_vn_phone("024 3825 3536") == "+842438253536"  # landline, Hà Nội
    for bad in ("12345", "+1 650 253 0000", "0912 345 67", "abc"):
        with pytest.raises(InvalidPhone):
            normalize_vn_phone(bad)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Cán bộ tiếp dân quát tháo, thái độ hách dịch", "staff_attitude"),
        ("can bo cau gat voi nguoi dan", "staff_attitude"),
        ("Hồ sơ của tôi trễ hẹn 2 tuần vẫn chưa có kết quả", "dossier_delay"),
        ("Bị thu thêm 200 nghìn ngoài lệ phí, không có biên lai", "wrong_fee"),
        ("Phòng chờ nóng quá, quạt hỏng, không đủ ghế ngồi", "facilities"),
        ("Phải đi lại nhiều lần vì mỗi lần đòi thêm giấy tờ", "red_tape"),
        ("Đề nghị kéo dài giờ làm việc sang thứ Bảy", "other"),
    ],
)
def test_category_suggestion(text: str, category: str) -> None:
    assert suggest_category(text) == category


def test_quat_is_not_quat() -> None:
    assert suggest_category("Cán bộ quát") == "staff_attitude"
    assert suggest_category("cái quạt trần bị hỏng, máy lạnh không chạy") == "facilities"


def test_lookup_by_code_and_last_4_digits(service: ComplaintService, clock: ManualClock) -> None:
    code = submit(service, phone="0912345678", consent=True).code
    found = service.lookup(code.lower().replace("-", " "), "5678", channel="web", sender_id="w")
    assert found.outcome is LookupOutcome.FOUND and found.complaint is not None
    assert found.complaint.status_label == "mới" and "Cán bộ" not in found.complaint.message()
    wrong_digits = service.lookup(code, "1111", channel="web", sender_id="w")
    wrong_code = service.lookup("PA-2025-999999", "5678", channel="web", sender_id="w")
    assert wrong_digits == wrong_code and wrong_code.outcome is LookupOutcome.NOT_FOUND
    for _ in range(3):
        service.lookup(code, "0000", channel="web", sender_id="w")
    locked = service.lookup(code, "5678", channel="web", sender_id="w")
    assert locked.outcome is LookupOutcome.LOCKED and locked.retry_at is not None
    clock.advance(minutes=16)
    assert service.lookup(code, "5678", channel="web", sender_id="w").outcome is LookupOutcome.FOUND


def test_anonymous_complaint_is_visible_only_to_its_sender(service: ComplaintService) -> None:
    code = submit(service, sender_id="z1").code
    assert service.lookup(code, None, channel="zalo", sender_id="z1").outcome is LookupOutcome.FOUND
    assert service.lookup(code, None, channel="zalo", sender_id="z2").outcome is LookupOutcome.NOT_FOUND
    assert service.lookup(code, "0000", channel="zalo", sender_id="z1").outcome is LookupOutcome.NOT_FOUND


def test_back_office_flow_history_and_reply_notification(
    service: ComplaintService, engine: Engine, clock: ManualClock
) -> None:
    code = submit(service).code
    service.assign(code, "canbo.lan", actor="truongphong")
    service.set_status(code, ComplaintStatus.IN_PROGRESS, actor="canbo.lan", note="Đã xác minh")
    clock.advance(days=3)
    service.reply(code, "Đơn vị đã nhắc nhở cán bộ và xin lỗi anh/chị.", actor="canbo.lan")
    service.set_status(code, "closed", actor="canbo.lan")
    assert [step[1] for step in service.history(code)] == ["new", "assigned", "in_progress", "answered", "closed"]
    view = service.lookup(code, None, channel="zalo", sender_id="z1").complaint
    assert view is not None and view.status_label == "đã đóng" and "xin lỗi" in view.reply_text
    with Session(engine) as session:
        note = session.scalars(select(NotificationRow)).one()
    assert (note.channel, note.sender_id, note.kind) == ("zalo", "z1", "complaint_reply") and code in note.text


def closed_at(engine: Engine, code: str) -> datetime | None:
    with Session(engine) as session:
        return session.scalar(select(ComplaintRow.closed_at).where(ComplaintRow.code == code))


@pytest.mark.parametrize("how", ["close", "set_status"])
def test_every_way_of_closing_records_when(
    service: ComplaintService, engine: Engine, clock: ManualClock, how: str
) -> None:
    code = submit(service).code
    service.set_status(code, ComplaintStatus.IN_PROGRESS, actor="canbo.lan")
    assert closed_at(engine, code) is None
    clock.advance(days=2)
    if how == "close":
        service.close(code, "Đã nhắc nhở cán bộ", actor="canbo.lan")
    else:
        service.set_status(code, ComplaintStatus.CLOSED, actor="canbo.lan")
    assert closed_at(engine, code) == clock()


def test_a_closed_complaint_refuses_every_change_but_notes(service: ComplaintService, engine: Engine) -> None:
    code = submit(service).code
    service.close(code, "Đã giải quyết", actor="truongphong")
    steps = len(service.history(code))
    changes = {
        "reopen": lambda: service.set_status(code, ComplaintStatus.IN_PROGRESS, actor="canbo.lan"),
        "close again": lambda: service.close(code, "Kết quả khác", actor="canbo.lan"),
        "assign": lambda: service.assign(code, "canbo.lan", actor="truongphong"),
        "transfer": lambda: service.assign_agency(code, "UBND-P2", actor="truongphong"),
        "classify": lambda: service.classify(code, category="wrong_fee", priority="high", actor="canbo.lan"),
        "reply": lambda: service.reply(code, "Trả lời sau khi đóng", actor="canbo.lan"),
    }
    for name, change in changes.items():
        with pytest.raises(ComplaintClosed, match="đã đóng") as refused:
            change()
        assert code in str(refused.value), name
    assert len(service.history(code)) == steps
    with Session(engine) as session:
        row = session.scalars(select(ComplaintRow).where(ComplaintRow.code == code)).one()
        assert (row.status, row.outcome, row.assigned_to) == ("closed", "Đã giải quyết", None)
        assert (row.category, row.priority, row.reply_text) == ("staff_attitude", "normal", "")
        assert session.scalars(select(NotificationRow)).all() == []
    service.add_note(code, "Người dân gọi điện cảm ơn", author="canbo.lan")  # an internal note is still fine
    with Session(engine) as session:
        assert session.scalars(select(ComplaintNoteRow.text)).all() == ["Người dân gọi điện cảm ơn"]


def test_classify_to_the_same_values_adds_no_history(service: ComplaintService) -> None:
    code = submit(service).code
    service.classify(code, category="staff_attitude", priority="normal", actor="canbo.lan")
    service.classify(code, category="wrong_fee", priority="high", actor="canbo.lan")
    history = service.history(code)
    assert len(history) == 2
    assert history[-1][2] == "Phân loại: thái độ cán bộ → thu phí sai quy định\nƯu tiên: bình thường → cao"


def test_overdue_complaint(service: ComplaintService, clock: ManualClock) -> None:
    code = submit(service).code
    clock.now = datetime(2025, 3, 29, 3, 0, tzinfo=timezone.utc)  # the day after the due date
    view = service.lookup(code, None, channel="zalo", sender_id="z1").complaint
    assert view is not None and view.overdue and "quá hạn" in view.message()


def test_code_normalisation() -> None:
    assert normalize_complaint_code("pa 2025 123") == "PA-2025-000123"
    assert normalize_complaint_code(" PA-2025-000123 ") == "PA-2025-000123"


def test_codes_stay_unique_under_concurrent_inserts(store_url: str) -> None:
    threads, per_thread = 8, 6
    engine = make_engine(store_url)
    create_all(engine)
    service = ComplaintService(engine)
    codes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            try:
                code = service.submit(f"Phản ánh {n}-{i}", channel="web", sender_id=f"s{n}", consent=False).code
            except BaseException as exc:
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    codes.append(code)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    year = codes[0].split("-")[1]
    assert sorted(codes) == [f"PA-{year}-{n:06d}" for n in range(1, threads * per_thread + 1)]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ComplaintRow)) == threads * per_thread
    engine.dispose()


# --- PostgreSQL restarted while complaints are coming in ------------------------------------------


@pytest.mark.postgres
def test_postgres_restart_never_yields_a_code_for_an_unstored_row(postgres_server, postgres_url) -> None:  # type: ignore[no-untyped-def]
    if not postgres_server.controllable:
        reason = "the server of MOTCUA_TEST_POSTGRES_URL cannot be restarted by the tests"
        from tests.pg_server import pg_required

        if pg_required():
            pytest.fail(f"{reason}; unset it in CI so the tests start their own cluster", pytrace=False)
        pytest.skip(reason)
    engine = make_engine(postgres_url)
    create_all(engine)
    service = ComplaintService(engine)
    returned: list[str] = []
    refused: list[ComplaintNotStored] = []
    unexpected: list[BaseException] = []
    stop = threading.Event()

    def citizen() -> None:
        while not stop.is_set():
            try:
                returned.append(service.submit("Hồ sơ chậm trễ", channel="web", sender_id="s", consent=False).code)
            except ComplaintNotStored as exc:
                refused.append(exc)
                stop.wait(0.05)
            except BaseException as exc:
                unexpected.append(exc)

    before = service.submit("Trước khi khởi động lại", channel="web", sender_id="s", consent=False).code
    writers = [threading.Thread(target=citizen) for _ in range(3)]
    for thread in writers:
        thread.start()
    stop.wait(0.5)
    postgres_server.stop()  # fast shutdown: open transactions are cut off
    stop.wait(0.5)
    postgres_server.start()
    stop.wait(0.5)
    stop.set()
    for thread in writers:
        thread.join(timeout=60)
    after = service.submit("Sau khi khởi động lại", channel="web", sender_id="s", consent=False).code

    assert not unexpected, unexpected[:3]
    assert refused, "the writers never saw the server down"
    assert all("vui lòng gửi lại" in str(exc) for exc in refused)
    with Session(engine) as session:
        stored = set(session.scalars(select(ComplaintRow.code)))
    assert {before, after, *returned} <= stored  # every code handed out is a stored row
    assert len(returned) == len(set(returned))
    engine.dispose()
