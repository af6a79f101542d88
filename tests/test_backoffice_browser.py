"""Back office in a real browser (Playwright + Debian chromium) against the real app served by uvicorn:
log in, filter the complaints queue, open a complaint, assign it and reply; the reply goes through the
gateway's outbox dispatcher to the (fake) Telegram Bot API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from backoffice.auth import create_user
from core.clock import system_clock
from core.complaints import ComplaintService
from core.models import ChatMessageRow
from tests.app_server import AppServer, app_server
from tests.backoffice_support import AGENCY, PASSWORD
from tests.fake_telegram import FakeTelegram

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture()
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture()
def app(tmp_path: Path, telegram: FakeTelegram) -> Iterator[AppServer]:
    env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE": telegram.url}
    with app_server(tmp_path / "app", env=env) as server:
        yield server


@pytest.fixture()
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("BROWSER TESTS SKIPPED: /usr/bin/chromium is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield instance
        instance.close()


def seed(app: AppServer) -> tuple[str, str]:
    engine = app.engine()
    with Session(engine) as session:
        for username, role, name in [("lead", "supervisor", "Phạm Thu Hà"), ("binh", "officer", "Trần Văn Bình")]:
            create_user(session, username, PASSWORD, role=role, full_name=name, agency=AGENCY, now=system_clock())
        text = "Tôi muốn phản ánh cán bộ thu thêm tiền"
        session.add(ChatMessageRow(channel="telegram", sender_id="7001", direction="in", author="citizen", text=text))
        session.commit()
    service = ComplaintService(engine)
    ours = service.submit("Cán bộ một cửa thu thêm 200.000 đồng ngoài lệ phí", channel="telegram",
                          sender_id="7001", consent=False).code  # fmt: skip
    service.assign_agency(ours, AGENCY, actor="test")
    done = service.submit("Phòng chờ nóng quá, máy lạnh hỏng", channel="telegram", sender_id="7002", consent=False).code
    service.assign_agency(done, AGENCY, actor="test")
    service.close(done, "Đã sửa máy lạnh", actor="test")
    return ours, done


def test_supervisor_logs_in_filters_assigns_and_replies_through_telegram(  # type: ignore[no-untyped-def]
    app: AppServer, telegram: FakeTelegram, browser
) -> None:
    ours, done = seed(app)
    page = browser.new_page(viewport={"width": 1024, "height": 768})  # a tablet in landscape
    page.goto(f"{app.url}/admin/complaints")
    assert "/admin/login" in page.url
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", "wrong password")
    page.click("button:has-text('Đăng nhập')")
    assert page.locator(".error").inner_text() == "Tên đăng nhập hoặc mật khẩu không đúng."
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Đăng nhập')")
    page.wait_for_url("**/admin/complaints")
    assert page.locator("#complaint-queue tbody tr").count() == 2

    page.select_option("select[name=status]", "closed")  # submits on change
    page.wait_for_url("**status=closed**")
    assert page.locator("#complaint-queue tbody tr").count() == 1
    assert page.locator(f"tr[data-code='{done}']").is_visible()
    page.select_option("select[name=status]", "assigned")
    page.wait_for_url("**status=assigned**")
    page.click(f"a:has-text('{ours}')")
    page.wait_for_url(f"**/admin/complaints/{ours}")
    assert "thu thêm 200.000 đồng" in page.locator("#complaint-content").inner_text()
    assert "Tôi muốn phản ánh cán bộ thu thêm tiền" in page.locator(".transcript").inner_text()

    page.select_option("#assign-form select[name=officer]", "binh")
    page.click("#assign-form button")
    page.wait_for_url("**notice=assigned**")
    assert page.locator("#complaint-officer").inner_text() == "binh"
    reply = "Bộ phận Một cửa đã xác minh và hoàn lại 200.000 đồng cho anh/chị. Xin lỗi vì sự phiền hà."
    page.fill("#reply-form textarea", reply)
    page.click("#reply-form button")
    page.wait_for_url("**notice=replied**")
    assert page.locator("#complaint-status").inner_text() == "đã trả lời"
    assert page.locator(".notice").inner_text() == "Đã gửi trả lời cho người dân."

    [message] = telegram.wait_for_messages(1, timeout=30)
    assert message["chat_id"] == "7001"
    assert ours in message["text"] and reply in message["text"]
    page.close()
