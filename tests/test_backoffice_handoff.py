"""The handoff inbox through the real app: queue with waiting times, take, transcript, reply (outbox +
transcript), return to the bot (Rasa down: the officer is told and can retry), roles and audit log."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.handoff import RETURNED_TEXT, TAKEN_TEXT
from backoffice.handoff_inbox import describe_wait
from core.clock import ManualClock
from core.handoff import HandoffService
from core.models import AuditLogRow, ChatMessageRow, ConversationRow, InboxMessageRow, OutboxMessageRow
from tests.app_server import closed_port_url
from tests.backoffice_support import Backoffice, StaffClient, make_backoffice

START = datetime(2025, 3, 17, 2, 0, tzinfo=timezone.utc)  # Monday 09:00 in Hà Nội
XSS = "<script>alert('x')</script>"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture()
def bo(tmp_path: Path, clock: ManualClock, store_url: str) -> Backoffice:
    """The app on SQLite and on PostgreSQL."""
    backoffice = make_backoffice(tmp_path, url=store_url, clock=clock)
    state = backoffice.app.state.backoffice
    state.settings = dataclasses.replace(state.settings, rasa_url=closed_port_url())  # Rasa is down
    return backoffice


def handoffs(bo: Backoffice, clock: ManualClock) -> HandoffService:
    return HandoffService(bo.engine, clock=clock)


def citizen_says(bo: Backoffice, sender: str, text: str, at: datetime, channel: str = "telegram") -> None:
    """What the gateway writes for an incoming message."""
    with Session(bo.engine) as session, session.begin():
        session.add(
            ChatMessageRow(
                channel=channel, sender_id=sender, direction="in", author="citizen", text=text, created_at=at
            )
        )


def audit_actions(bo: Backoffice) -> list[tuple[str, str, str]]:
    with Session(bo.engine) as session:
        rows = session.scalars(
            select(AuditLogRow).where(AuditLogRow.action.startswith("handoff.")).order_by(AuditLogRow.id)
        )
        return [(row.actor, row.action, row.target_id) for row in rows]


def test_describe_wait() -> None:
    assert describe_wait(timedelta(seconds=20)) == "vừa xong"
    assert describe_wait(timedelta(minutes=4, seconds=59)) == "4 phút"
    assert describe_wait(timedelta(hours=1, minutes=5)) == "1 giờ 5 phút"
    assert describe_wait(timedelta(hours=2)) == "2 giờ"
    assert describe_wait(timedelta(days=2, hours=3)) == "2 ngày 3 giờ"


def test_queue_shows_waiting_time_and_new_requests_in_the_fragment(bo: Backoffice, clock: ManualClock) -> None:
    officer = bo.client(bo.add_user("lan", "officer"))
    empty = officer.get("/admin/handoffs/waiting")
    assert empty.status_code == 200 and empty.headers["X-Waiting-Count"] == "0"
    assert "Không có ai đang chờ" in empty.text

    citizen_says(bo, "42", "Tôi muốn gặp cán bộ " + XSS, clock())
    handoffs(bo, clock).request("telegram", "42", reason="Hỏi về " + XSS)
    clock.advance(minutes=7)
    handoffs(bo, clock).request("zalo", "z9", reason="")
    clock.advance(minutes=1)

    fragment = officer.get("/admin/handoffs/waiting")
    assert fragment.headers["X-Waiting-Count"] == "2"
    assert "8 phút" in fragment.text and "1 phút" in fragment.text
    assert fragment.text.index("Telegram") < fragment.text.index("Zalo")  # oldest first
    assert XSS not in fragment.text and "&lt;script&gt;" in fragment.text
    assert "<html" not in fragment.text  # a fragment, not a page

    page = officer.get("/admin/handoffs")
    assert page.status_code == 200
    assert 'data-watch="waiting-queue" data-poll="/admin/handoffs/waiting" data-poll-ms="5000"' in page.text
    assert "mọi cán bộ đều thấy toàn bộ hàng chờ" in page.text
    assert officer.get("/admin/handoff").headers["location"] == "/admin/handoffs"


def test_take_read_reply_and_return(bo: Backoffice, clock: ManualClock) -> None:
    lan = bo.add_user("lan", "officer")
    officer = bo.client(lan)
    other = bo.client(bo.add_user("minh", "officer"))
    citizen_says(bo, "42", "Cho tôi hỏi về hồ sơ " + XSS, clock())
    ticket = handoffs(bo, clock).request("telegram", "42", reason="cần tư vấn")
    cid = ticket.conversation_id

    peek = other.get(f"/admin/handoffs/{cid}")  # anyone may look at a waiting conversation before taking it
    assert peek.status_code == 200 and "Nhận hội thoại" in peek.text and 'name="text"' not in peek.text

    taken = officer.form(f"/admin/handoffs/{cid}/take")
    assert taken.status_code == 303 and taken.headers["location"] == f"/admin/handoffs/{cid}?notice=taken"
    again = other.form(f"/admin/handoffs/{cid}/take")
    assert again.headers["location"] == "/admin/handoffs?error=gone"
    assert "không còn trong hàng chờ" in other.get(again.headers["location"]).text

    page = officer.get(taken.headers["location"])
    assert page.status_code == 200
    assert "Cho tôi hỏi về hồ sơ" in page.text and XSS not in page.text and "&lt;script&gt;" in page.text
    assert 'name="text"' in page.text and "Anh/chị đã nhận hội thoại này." in page.text
    assert other.get(f"/admin/handoffs/{cid}").status_code == 403  # another officer's conversation
    assert other.form(f"/admin/handoffs/{cid}/reply", {"text": "xen ngang"}).status_code == 403

    assert officer.form(f"/admin/handoffs/{cid}/reply", {"text": "   "}).status_code == 400
    assert officer.form(f"/admin/handoffs/{cid}/reply", {"text": "x" * 4001}).status_code == 400
    no_csrf = officer.post(f"/admin/handoffs/{cid}/reply", data={"text": "không có mã bảo vệ"})
    assert no_csrf.status_code == 403
    sent = officer.form(f"/admin/handoffs/{cid}/reply", {"text": "Chào anh, hồ sơ của anh đang được xử lý."})
    assert sent.headers["location"] == f"/admin/handoffs/{cid}?notice=sent"

    with Session(bo.engine) as session:
        outbox = session.scalars(select(OutboxMessageRow).order_by(OutboxMessageRow.id)).all()
        assert [(m.channel, m.recipient_id, m.author, m.text, m.status) for m in outbox] == [
            ("telegram", "42", "system", TAKEN_TEXT, "pending"),
            ("telegram", "42", "officer:lan", "Chào anh, hồ sơ của anh đang được xử lý.", "pending"),
        ]
    transcript = officer.get(f"/admin/handoffs/{cid}/messages")
    assert "Cán bộ lan" in transcript.text and "hồ sơ của anh đang được xử lý" in transcript.text
    assert transcript.text.index("Cho tôi hỏi") < transcript.text.index("đang được xử lý")

    returned = officer.form(f"/admin/handoffs/{cid}/return")  # Rasa is down: returned, and the officer is told
    assert returned.headers["location"] == f"/admin/handoffs/{cid}?error=rasa"
    warning = officer.get(returned.headers["location"])
    assert warning.status_code == 200 and "chưa báo được cho máy chủ trợ lý ảo" in warning.text
    assert "Báo lại cho trợ lý ảo" in warning.text
    assert handoffs(bo, clock).status("telegram", "42") == "bot"
    assert officer.form(f"/admin/handoffs/{cid}/resume").headers["location"] == f"/admin/handoffs/{cid}?error=rasa"
    assert other.get(f"/admin/handoffs/{cid}").status_code == 403  # minh never handled it
    with Session(bo.engine) as session:
        last = session.scalars(select(OutboxMessageRow).order_by(OutboxMessageRow.id.desc())).first()
        assert last is not None and last.text == RETURNED_TEXT
    assert audit_actions(bo) == [
        ("lan", "handoff.take", str(cid)),
        ("lan", "handoff.reply", str(cid)),
        ("lan", "handoff.return", str(cid)),
        ("lan", "handoff.resume", str(cid)),
    ]


def test_supervisor_sees_others_and_can_release(bo: Backoffice, clock: ManualClock) -> None:
    officer = bo.client(bo.add_user("lan", "officer"))
    supervisor = bo.client(bo.add_user("hoa", "supervisor"))
    cid = handoffs(bo, clock).request("webchat", "w-1", reason="").conversation_id
    citizen_says(bo, "w-1", "Alo có ai không", clock(), channel="webchat")
    officer.form(f"/admin/handoffs/{cid}/take")

    inbox = supervisor.get("/admin/handoffs")
    assert "Cán bộ khác đang phụ trách" in inbox.text and "lan" in inbox.text and "Alo có ai không" in inbox.text
    assert "Cán bộ khác đang phụ trách" not in officer.get("/admin/handoffs").text
    view = supervisor.get(f"/admin/handoffs/{cid}")
    assert view.status_code == 200 and 'name="text"' not in view.text and "Trả lại cho trợ lý ảo" in view.text
    assert supervisor.form(f"/admin/handoffs/{cid}/reply", {"text": "xin chào"}).status_code == 403
    supervisor.form(f"/admin/handoffs/{cid}/return")
    with Session(bo.engine) as session:
        row = session.get(ConversationRow, cid)
        assert row is not None and (row.status, row.assigned_officer) == ("bot", None)


def test_unknown_conversation_and_nobody(bo: Backoffice) -> None:
    admin = bo.client(bo.add_user("root", "admin"))
    assert admin.get("/admin/handoffs/999").status_code == 404
    assert admin.form("/admin/handoffs/999/take").status_code == 404
    nobody: StaffClient = bo.client()
    assert nobody.get("/admin/handoffs").headers["location"].startswith("/admin/login")
    assert nobody.post("/admin/handoffs/1/take").status_code == 401


def test_transcript_links_the_images_the_citizen_and_the_bot_sent(bo: Backoffice, clock: ManualClock) -> None:
    """Zalo images are links to Zalo's servers: the officer opens them from the transcript. Only http(s)
    addresses become links; anything else stays text."""
    zalo_image = "https://photo.zalo.example/abc/giay-hen.jpg"
    form_image = "https://motcua.example/mau-to-khai.png"
    with Session(bo.engine) as session, session.begin():
        inbox = InboxMessageRow(
            channel="zalo", platform_message_id="m1", sender_id="z9", kind="image", text="",
            payload={"event": "user_send_image", "attachments": [zalo_image, "javascript:alert(1)"]},
        )  # fmt: skip
        session.add(inbox)
        session.flush()
        session.add_all(
            [
                ChatMessageRow(
                    channel="zalo", sender_id="z9", direction="in", author="citizen", text="[Ảnh]",
                    payload={"inbox_id": inbox.id, "kind": "image"}, created_at=clock(),
                ),
                ChatMessageRow(
                    channel="zalo", sender_id="z9", direction="out", author="bot", text="Mẫu tờ khai",
                    payload={"outbox_id": 1, "image_url": form_image}, created_at=clock(),
                ),
            ]
        )  # fmt: skip
    cid = handoffs(bo, clock).request("zalo", "z9", reason="").conversation_id
    page = bo.client(bo.add_user("lan", "officer")).get(f"/admin/handoffs/{cid}").text
    assert f'href="{zalo_image}"' in page and 'rel="noopener noreferrer"' in page
    assert f'href="{form_image}"' in page
    assert 'href="javascript' not in page and "(tệp đính kèm không mở được)" in page
