"""Complaints triage: who sees what, queue filters and highlighting, detail view, actions, XSS."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import ManualClock
from core.complaints import ComplaintService
from core.dossiers import LookupOutcome
from core.models import AuditLogRow, ChatMessageRow, ComplaintRow, NotificationRow, OutboxMessageRow
from tests.backoffice_support import AGENCY, OTHER_AGENCY, Backoffice, make_backoffice

MONDAY_9AM = datetime(2025, 3, 10, 2, 0, tzinfo=timezone.utc)  # 09:00 in Hà Nội


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(MONDAY_9AM)


@pytest.fixture()
def bo(tmp_path: Path, clock: ManualClock, request: pytest.FixtureRequest) -> Backoffice:
    url = request.getfixturevalue("store_url") if "store_url" in request.fixturenames else None
    backoffice = make_backoffice(tmp_path, clock=clock, url=url)
    users = {
        "officer": backoffice.add_user("officer1", "officer", full_name="Trần Văn Bình"),
        "officer_b": backoffice.add_user("officer2", "officer", agency=OTHER_AGENCY),
        "supervisor": backoffice.add_user("supervisor1", "supervisor"),
        "supervisor_b": backoffice.add_user("supervisor2", "supervisor", agency=OTHER_AGENCY),
        "office_lead": backoffice.add_user("lead", "supervisor", agency=None),
        "admin": backoffice.add_user("admin1", "admin", agency=None),
    }
    backoffice.users = users  # type: ignore[attr-defined]
    return backoffice


def service(bo: Backoffice, clock: ManualClock) -> ComplaintService:
    return ComplaintService(bo.engine, clock=clock)


def submit(bo: Backoffice, clock: ManualClock, content: str = "Cán bộ thu thêm tiền ngoài lệ phí", *,
           agency: str | None = AGENCY, sender: str = "7001", **kw: object) -> str:  # fmt: skip
    svc = service(bo, clock)
    code = svc.submit(content, channel="telegram", sender_id=sender, consent=bool(kw.get("name")), **kw).code  # type: ignore[arg-type]
    if agency:
        svc.assign_agency(code, agency, actor="test")
    return code


def row(bo: Backoffice, code: str) -> ComplaintRow:
    with Session(bo.engine) as session:
        found = session.scalars(select(ComplaintRow).where(ComplaintRow.code == code)).one()
        found.history  # noqa: B018  (load)
        return found


def queue_codes(html: str) -> list[str]:
    return re.findall(r'data-code="(PA-\d{4}-\d{6})"', html)


# --- access -------------------------------------------------------------------------------------------


def test_an_officer_cannot_open_another_agencys_complaint_by_url(bo: Backoffice, clock: ManualClock) -> None:
    ours, theirs = submit(bo, clock), submit(bo, clock, agency=OTHER_AGENCY)
    users = bo.users  # type: ignore[attr-defined]
    officer = bo.client(users["officer"])
    assert officer.get(f"/admin/complaints/{ours}").status_code == 200
    denied = officer.get(f"/admin/complaints/{theirs}")
    assert denied.status_code == 404 and "thu thêm tiền" not in denied.text
    assert officer.form(f"/admin/complaints/{theirs}/reply", {"text": "xin chào"}).status_code == 404
    assert officer.form(f"/admin/complaints/{theirs}/notes", {"text": "xem trộm"}).status_code == 404
    assert queue_codes(officer.get("/admin/complaints").text) == [ours]
    supervisor = bo.client(users["supervisor"])
    assert supervisor.get(f"/admin/complaints/{theirs}").status_code == 404
    assert supervisor.form(f"/admin/complaints/{theirs}/assign", {"agency": AGENCY}).status_code == 404
    assert row(bo, theirs).assigned_agency == OTHER_AGENCY
    for name in ("admin", "office_lead", "supervisor_b", "officer_b"):
        assert bo.client(users[name]).get(f"/admin/complaints/{theirs}").status_code == 200, name


def test_officers_see_what_is_assigned_to_them_and_new_complaints_go_to_office_leads(
    bo: Backoffice, clock: ManualClock
) -> None:
    users = bo.users  # type: ignore[attr-defined]
    unassigned = submit(bo, clock, agency=None)
    personal = submit(bo, clock, agency=OTHER_AGENCY)
    service(bo, clock).assign(personal, "officer1", actor="test")  # assigned by name across agencies
    officer = bo.client(users["officer"])
    assert officer.get(f"/admin/complaints/{personal}").status_code == 200
    assert officer.get(f"/admin/complaints/{unassigned}").status_code == 404
    assert bo.client(users["supervisor"]).get(f"/admin/complaints/{unassigned}").status_code == 404
    assert unassigned in queue_codes(bo.client(users["office_lead"]).get("/admin/complaints").text)
    assert unassigned in queue_codes(bo.client(users["admin"]).get("/admin/complaints").text)


# --- the queue ------------------------------------------------------------------------------------------


def test_queue_filters_sorting_and_highlighting(bo: Backoffice, clock: ManualClock) -> None:
    late = submit(bo, clock, "Chờ mãi chưa có kết quả, hồ sơ trễ hẹn")  # dossier_delay
    clock.advance(days=7)
    soon = submit(bo, clock, "Thu phí sai quy định, đòi tiền bồi dưỡng")  # wrong_fee
    clock.advance(days=4)
    fresh = submit(bo, clock, "Nhà vệ sinh bẩn, thiếu ghế ngồi", agency=OTHER_AGENCY)  # facilities
    svc = service(bo, clock)
    svc.close(fresh, "Đã sửa", actor="test")
    clock.advance(days=9)  # Sunday 30/3: late (due 24/3) is overdue; soon (due 31/3) is due tomorrow
    admin = bo.client(bo.users["admin"])  # type: ignore[attr-defined]
    page = admin.get("/admin/complaints").text
    assert queue_codes(page) == [late, soon, fresh]  # open first, nearest due date first
    assert re.search(rf'<tr class="overdue" data-code="{late}"', page)
    assert re.search(rf'<tr class="due-soon" data-code="{soon}"', page)
    assert re.search(rf'<tr class="" data-code="{fresh}"', page)
    assert "quá hạn" in page and "sắp đến hạn" in page
    assert queue_codes(admin.get("/admin/complaints?overdue=1").text) == [late]
    assert queue_codes(admin.get("/admin/complaints?status=closed").text) == [fresh]
    assert queue_codes(admin.get("/admin/complaints?category=wrong_fee").text) == [soon]
    assert queue_codes(admin.get(f"/admin/complaints?agency={OTHER_AGENCY}").text) == [fresh]
    assert queue_codes(admin.get("/admin/complaints?sort=-received").text) == [fresh, soon, late]
    assert queue_codes(admin.get(f"/admin/complaints?q={soon.lower()}").text) == [soon]
    assert queue_codes(admin.get("/admin/complaints?q=ghế ngồi").text) == [fresh]
    odd = admin.get("/admin/complaints?status=<x>&sort=drop table&page=-3&category=%00")
    assert odd.status_code == 200 and len(queue_codes(odd.text)) == 3


@pytest.mark.postgres
def test_queue_scope_on_postgresql(bo: Backoffice, clock: ManualClock, store_url: str) -> None:
    ours, theirs = submit(bo, clock), submit(bo, clock, agency=OTHER_AGENCY)
    officer = bo.client(bo.users["officer"])  # type: ignore[attr-defined]
    assert queue_codes(officer.get("/admin/complaints").text) == [ours]
    assert officer.get(f"/admin/complaints/{theirs}").status_code == 404


# --- detail and actions ---------------------------------------------------------------------------------


def test_xss_payloads_render_as_text(bo: Backoffice, clock: ManualClock) -> None:
    payload = "<script>alert('content')</script>"
    code = submit(
        bo, clock, f"Phản ánh {payload}", name="<img src=x onerror=alert('name')>", phone="0912345678",
        place="<svg onload=alert(1)>", attachments=["javascript:alert('attachment')", "https://example.org/a.jpg"],
    )  # fmt: skip
    admin = bo.client(bo.users["admin"])  # type: ignore[attr-defined]
    assert (
        admin.form(f"/admin/complaints/{code}/notes", {"text": "<b onmouseover=alert('note')>ghi chú</b>"}).status_code
        == 303
    )
    with Session(bo.engine) as session:
        session.add(ChatMessageRow(channel="telegram", sender_id="7001", direction="in", author="citizen",
                                   text="<iframe src=javascript:alert('chat')>", created_at=clock()))  # fmt: skip
        session.commit()
    for page in (admin.get(f"/admin/complaints/{code}").text, admin.get("/admin/complaints").text):
        assert "<script>alert" not in page and "<img src=x" not in page and "<svg" not in page
        assert "<b onmouseover" not in page and "<iframe" not in page
    detail = admin.get(f"/admin/complaints/{code}").text
    assert "&lt;script&gt;alert(&#39;content&#39;)&lt;/script&gt;" in detail
    assert "&lt;img src=x onerror=alert(&#39;name&#39;)&gt;" in detail
    assert "&lt;b onmouseover=alert(&#39;note&#39;)&gt;ghi chú&lt;/b&gt;" in detail
    assert "&lt;iframe src=javascript:alert(&#39;chat&#39;)&gt;" in detail
    assert 'href="javascript:' not in detail and "<code>javascript:alert(&#39;attachment&#39;)</code>" in detail
    assert 'href="https://example.org/a.jpg"' in detail


def test_detail_shows_transcript_notes_and_history(bo: Backoffice, clock: ManualClock) -> None:
    with Session(bo.engine) as session:
        for offset, direction, author, text in [
            (-30, "in", "citizen", "Tôi muốn phản ánh"),
            (-29, "out", "bot", "Anh/chị vui lòng nhập nội dung"),
            (-3000, "in", "citizen", "Tin nhắn của hai ngày trước"),
        ]:
            session.add(ChatMessageRow(channel="telegram", sender_id="7001", direction=direction, author=author,
                                       text=text, created_at=clock() + timedelta(minutes=offset)))  # fmt: skip
        session.add(ChatMessageRow(channel="telegram", sender_id="9999", direction="in", author="citizen",
                                   text="Người khác nhắn", created_at=clock()))  # fmt: skip
        session.commit()
    code = submit(bo, clock)
    supervisor = bo.client(bo.users["supervisor"])  # type: ignore[attr-defined]
    supervisor.form(f"/admin/complaints/{code}/notes", {"text": "Đã gọi điện xác minh"})
    page = supervisor.get(f"/admin/complaints/{code}").text
    assert "Tôi muốn phản ánh" in page and "Anh/chị vui lòng nhập nội dung" in page
    assert "Tin nhắn của hai ngày trước" not in page and "Người khác nhắn" not in page
    assert "Đã gọi điện xác minh" in page and "supervisor1" in page
    assert page.index("Tôi muốn phản ánh") < page.index("Anh/chị vui lòng nhập nội dung")
    history = page[page.index('id="complaint-history"') :]
    assert "mới" in history and "đã phân công" in history


def test_assign_classify_reply_close(bo: Backoffice, clock: ManualClock) -> None:
    users = bo.users  # type: ignore[attr-defined]
    code = submit(bo, clock)
    supervisor = bo.client(users["supervisor"])
    bad = supervisor.form(f"/admin/complaints/{code}/assign", {"officer": "officer2"})  # another agency's officer
    assert bad.status_code == 400 and "không thuộc cơ quan" in bad.text
    assert (
        supervisor.form(f"/admin/complaints/{code}/assign", {"officer": "officer1", "note": "Gấp"}).status_code == 303
    )
    assigned = row(bo, code)
    assert (assigned.status, assigned.assigned_to, assigned.assigned_agency) == ("assigned", "officer1", AGENCY)
    officer = bo.client(users["officer"])
    assert officer.form(f"/admin/complaints/{code}/assign", {"agency": OTHER_AGENCY}).status_code == 403
    assert (
        officer.form(
            f"/admin/complaints/{code}/classify", {"category": "staff_attitude", "priority": "high"}
        ).status_code
        == 303
    )
    assert officer.form(f"/admin/complaints/{code}/start").status_code == 303
    empty = officer.form(f"/admin/complaints/{code}/reply", {"text": "   "})
    assert empty.status_code == 400 and "Nội dung trả lời đang để trống." in empty.text
    reply = "Cơ quan đã xử lý cán bộ thu sai và hoàn lại tiền cho anh/chị."
    assert officer.form(f"/admin/complaints/{code}/reply", {"text": reply}).status_code == 303
    no_outcome = officer.form(f"/admin/complaints/{code}/close", {"outcome": ""})
    assert no_outcome.status_code == 400 and "kết quả xử lý" in no_outcome.text
    assert officer.form(f"/admin/complaints/{code}/close", {"outcome": "Đã hoàn tiền"}).status_code == 303
    done = row(bo, code)
    assert (done.status, done.category, done.priority, done.outcome) == (
        "closed",
        "staff_attitude",
        "high",
        "Đã hoàn tiền",
    )
    assert [e.status for e in done.history] == ["new", "assigned", "assigned", "assigned", "in_progress",
                                                 "answered", "closed"]  # fmt: skip
    notes = "\n".join(e.note for e in done.history)
    assert (
        "Gấp" in notes
        and "Phân loại: thu phí sai quy định → thái độ cán bộ" in notes
        and "Ưu tiên: bình thường → cao" in notes
    )
    with Session(bo.engine) as session:
        out = session.scalars(select(OutboxMessageRow)).all()
        assert [(m.channel, m.recipient_id, m.author, m.status) for m in out] == [
            ("telegram", "7001", "officer:officer1", "pending")
        ]
        assert reply in out[0].text and code in out[0].text
        assert session.scalars(select(NotificationRow)).all() == []  # delivered once, through the outbox
        transcript = session.scalars(select(ChatMessageRow).where(ChatMessageRow.direction == "out")).all()
        assert [m.author for m in transcript] == ["officer:officer1"]
        actions = session.scalars(select(AuditLogRow.action).where(AuditLogRow.target_id == code)).all()
        assert actions == [
            "complaint.assign",
            "complaint.classify",
            "complaint.start",
            "complaint.reply",
            "complaint.close",
        ]
    lookup = service(bo, clock).lookup(code, None, channel="telegram", sender_id="7001")
    assert lookup.outcome is LookupOutcome.FOUND and lookup.complaint and lookup.complaint.reply_text == reply
    closed_page = officer.get(f"/admin/complaints/{code}").text
    assert 'id="reply-form"' not in closed_page and "Đã hoàn tiền" in closed_page
    again = officer.form(f"/admin/complaints/{code}/reply", {"text": "thêm"})
    assert again.status_code == 400 and "đã đóng" in again.text


def test_a_closed_complaint_refuses_every_action_with_the_same_message(bo: Backoffice, clock: ManualClock) -> None:
    users = bo.users  # type: ignore[attr-defined]
    code = submit(bo, clock)
    officer, supervisor = bo.client(users["officer"]), bo.client(users["supervisor"])
    assert officer.form(f"/admin/complaints/{code}/close", {"outcome": "Đã giải quyết"}).status_code == 303
    steps = len(row(bo, code).history)
    attempts = [
        (supervisor, "assign", {"officer": "officer1"}),
        (supervisor, "assign", {"agency": OTHER_AGENCY}),
        (officer, "classify", {"category": "wrong_fee", "priority": "high"}),
        (officer, "start", {}),
        (officer, "reply", {"text": "Trả lời thêm"}),
        (officer, "close", {"outcome": "Kết quả khác"}),
    ]
    for client, action, data in attempts:
        refused = client.form(f"/admin/complaints/{code}/{action}", data)
        assert refused.status_code == 400, action
        assert f"Phản ánh {code} đã đóng nên không thể" in refused.text, action
    after = row(bo, code)
    assert (after.status, after.outcome, after.assigned_agency, after.priority) == ("closed", "Đã giải quyết", AGENCY,
                                                                                    "normal")  # fmt: skip
    assert len(after.history) == steps
    with Session(bo.engine) as session:
        assert session.scalars(select(OutboxMessageRow)).all() == []
        actions = session.scalars(select(AuditLogRow.action).where(AuditLogRow.target_id == code)).all()
        assert actions == ["complaint.close"]  # refused actions are not audited as done
    assert officer.form(f"/admin/complaints/{code}/notes", {"text": "Người dân cảm ơn"}).status_code == 303


def test_transfer_to_another_agency_leaves_the_supervisors_queue(bo: Backoffice, clock: ManualClock) -> None:
    code = submit(bo, clock)
    supervisor = bo.client(bo.users["supervisor"])  # type: ignore[attr-defined]
    response = supervisor.form(f"/admin/complaints/{code}/assign", {"agency": OTHER_AGENCY.lower()})
    assert response.status_code == 303 and response.headers["location"] == "/admin/complaints?notice=transferred"
    assert row(bo, code).assigned_agency == OTHER_AGENCY and row(bo, code).assigned_to is None
    assert supervisor.get(f"/admin/complaints/{code}").status_code == 404
    bad = supervisor.form(f"/admin/complaints/{submit(bo, clock)}/assign", {"agency": "<b>"})
    assert bad.status_code == 400


def test_unknown_complaint_is_a_404_page(bo: Backoffice) -> None:
    admin = bo.client(bo.users["admin"])  # type: ignore[attr-defined]
    page = admin.get("/admin/complaints/PA-2025-999999")
    assert page.status_code == 404 and "Không tìm thấy phản ánh" in page.text
    assert admin.form("/admin/complaints/PA-2025-999999/close", {"outcome": "x"}).status_code == 404


def test_oversized_or_malformed_input_is_a_400_page(bo: Backoffice, clock: ManualClock) -> None:
    admin = bo.client(bo.users["admin"])  # type: ignore[attr-defined]
    code = submit(bo, clock)
    response = admin.form(f"/admin/complaints/{code}/notes", {"text": "x" * 20_000})
    assert response.status_code == 400 and "Dữ liệu gửi lên không hợp lệ" in response.text
    assert admin.form("/admin/users/not-a-number/active", {"active": "0"}).status_code == 400
