"""Failed deliveries in the back office (/admin/deliveries): the real app, its gateway and the Zalo and
Telegram senders against the fake platforms. A Zalo citizen the OA may not write to (-213) and a Telegram
citizen who blocked the bot end up listed with a Vietnamese reason and a masked recipient; "Gửi lại"
delivers once the cause is gone, "Bỏ qua" takes a row off the list; both are audit-logged, CSRF enforced."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from connectors import outbox
from connectors.base import OutgoingMessage
from core import notifications
from core.models import AuditLogRow, OutboxMessageRow
from tests.app_server import app_server
from tests.backoffice_support import make_backoffice, staff_http_client
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo import FakeZalo

ZALO_USER = "8464123456789"  # ids are masked on the page: none may appear in clear
TELEGRAM_CHAT = "912345678"
OTHER_CHAT = "555000111"


@pytest.fixture()
def platforms() -> Iterator[tuple[FakeZalo, FakeTelegram]]:
    """The fake Zalo OA API and Telegram Bot API, both running."""
    with FakeZalo() as zalo, FakeTelegram() as tg:
        yield zalo, tg


def _wait(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _statuses(engine: Engine) -> dict[tuple[str, str], str]:
    with Session(engine) as session:
        return {(r.channel, r.recipient_id): r.status for r in session.scalars(select(OutboxMessageRow))}


def _audited(engine: Engine, action: str) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditLogRow).where(AuditLogRow.action == action)))


def test_failed_deliveries_are_listed_retried_and_dismissed(
    tmp_path: Path, platforms: tuple[FakeZalo, FakeTelegram]
) -> None:
    zalo, tg = platforms
    zalo.unreachable.add(ZALO_USER)
    tg.blocked_chats.add(TELEGRAM_CHAT)
    env = {
        **zalo.env(),
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_WEBHOOK_SECRET": "s3cret",
        "TELEGRAM_API_BASE": tg.url,
    }
    with app_server(tmp_path, env=env) as app:
        engine = app.engine()
        with Session(engine) as session, session.begin():
            notifications.enqueue(
                session, channel="zalo", sender_id=ZALO_USER, kind="dossier_status",
                text="Hồ sơ H01.2025.000123 đã có kết quả, mời anh/chị đến nhận.",
            )  # fmt: skip
            outbox.enqueue(
                session, OutgoingMessage("telegram", TELEGRAM_CHAT, "Chào anh, cán bộ Lan đây.", author="officer:lan")
            )
            outbox.enqueue(session, OutgoingMessage("telegram", OTHER_CHAT, "Chào chị.", author="officer:lan"))
        _wait(lambda: sorted(_statuses(engine).values()) == ["failed", "failed", "sent"])

        client, csrf = staff_http_client(engine, app.url)
        page = client.get("/admin/deliveries")
        assert page.status_code == 200
        html = page.text
        assert "Tin nhắn gửi không thành công" in html
        assert "chưa quan tâm (follow) hoặc chưa từng nhắn tin cho OA" in html  # Zalo -213
        assert "đã chặn bot" in html  # Telegram 403
        assert "Thông báo tình trạng, kết quả hồ sơ" in html and "Trả lời của cán bộ lan" in html
        assert ZALO_USER not in html and TELEGRAM_CHAT not in html and "•••678" in html
        assert "Chào anh" not in html and "H01.2025.000123" not in html  # the list shows no message text
        assert 'data-nav-count="/admin/deliveries">2<' in html  # the badge on the menu, on every page
        assert 'data-nav-count="/admin/deliveries">2<' in client.get("/admin/complaints").text
        with Session(engine) as session:
            failed = {
                r.channel: r
                for r in session.scalars(select(OutboxMessageRow).where(OutboxMessageRow.status == "failed"))
            }
        assert failed["telegram"].last_error.startswith("Người dân đã chặn bot")
        assert "Forbidden: bot was blocked by the user" in failed["telegram"].last_error

        # CSRF: a retry without the token is refused and changes nothing
        refused = client.post(f"/admin/deliveries/{failed['telegram'].id}/retry", data={})
        assert refused.status_code == 403 and _statuses(engine)[("telegram", TELEGRAM_CHAT)] == "failed"

        tg.blocked_chats.discard(TELEGRAM_CHAT)  # the citizen unblocked the bot
        retried = client.post(f"/admin/deliveries/{failed['telegram'].id}/retry", data={"csrf_token": csrf})
        assert retried.status_code == 303
        _wait(lambda: len(tg.messages_to(TELEGRAM_CHAT)) == 1, timeout=5)
        assert tg.messages_to(TELEGRAM_CHAT)[0]["text"] == "Chào anh, cán bộ Lan đây."
        _wait(lambda: _statuses(engine)[("telegram", TELEGRAM_CHAT)] == "sent")
        assert _audited(engine, "delivery.retry") == 1

        dismissed = client.post(f"/admin/deliveries/{failed['zalo'].id}/dismiss", data={"csrf_token": csrf})
        assert dismissed.status_code == 303
        assert _statuses(engine)[("zalo", ZALO_USER)] == "dismissed" and _audited(engine, "delivery.dismiss") == 1
        html = client.get("/admin/deliveries").text
        assert "Không có tin nhắn nào gửi lỗi." in html and "data-nav-count" not in html
        again = client.post(f"/admin/deliveries/{failed['zalo'].id}/retry", data={"csrf_token": csrf})
        assert again.status_code == 303 and "notice=gone" in again.headers["location"]
        assert zalo.rejected_sends and not zalo.messages_to(ZALO_USER)  # never retried after "Bỏ qua"
        client.close()


def test_retries_run_out_with_a_clear_reason_and_parts_already_sent(tmp_path: Path) -> None:
    bo = make_backoffice(tmp_path)
    with Session(bo.engine) as session, session.begin():
        outbox_id = outbox.enqueue(session, OutgoingMessage("zalo", "8464000111222", "Trả lời", author="bot"))
        row = session.get(OutboxMessageRow, outbox_id)
        assert row is not None
        row.status, row.attempts, row.chunks_sent = "failed", 8, 2
        row.last_error = outbox.failure_text(None, "zalo", detail="zalo: ConnectTimeout", gave_up_after=8)
    client = bo.client(bo.add_user("lead1", "supervisor"))
    html = client.get("/admin/deliveries").text
    assert "Đã thử gửi 8 lần nhưng không thành công." in html and "zalo: ConnectTimeout" in html
    assert "Trả lời của trợ lý ảo" in html and "đã gửi được 2 phần đầu" in html
    assert client.form(f"/admin/deliveries/{outbox_id}/retry").status_code == 303  # type: ignore[attr-defined]
    with Session(bo.engine) as session:
        row = session.get(OutboxMessageRow, outbox_id)
        assert row is not None and (row.status, row.attempts, row.chunks_sent) == ("pending", 0, 2)
    assert bo.client().get("/admin/deliveries").status_code == 303  # nobody logged in: the login page
