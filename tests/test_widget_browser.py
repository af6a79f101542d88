"""The website widget in a real browser (Debian chromium via Playwright) against the real app (uvicorn)
and a real Rasa + action server: ask, see the document list, press a button, reload and find the history,
receive an officer reply pushed from the back office's path (connectors.outbox.enqueue)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from connectors import outbox
from connectors.base import OutgoingMessage
from tests.app_server import AppServer, RealRasa, app_server, start_real_rasa

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

CHROMIUM = Path(os.environ.get("MOTCUA_CHROMIUM", "/usr/bin/chromium"))
QUESTION = "làm căn cước cần giấy tờ gì"
TIMEOUT_MS = 90_000  # the first answer loads Rasa's models


@pytest.fixture(scope="module")
def rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRasa]:
    real = start_real_rasa(tmp_path_factory.mktemp("widget-rasa"))
    try:
        yield real
    finally:
        real.servers.stop()


@pytest.fixture(scope="module")
def app(rasa: RealRasa, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with app_server(tmp_path_factory.mktemp("widget-app"), rasa_url=rasa.url) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)", pytrace=False)
        pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} not found (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_citizen_asks_presses_a_button_reloads_and_gets_an_officer_reply(app: AppServer, browser: object) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="vi-VN")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{app.url}/widget/demo")

    bubble = page.get_by_role("button", name="Mở khung trò chuyện hỗ trợ")
    bubble.focus()
    page.keyboard.press("Enter")  # keyboard only
    box = page.get_by_role("textbox", name="Nhập câu hỏi")
    expect(box).to_be_focused()
    log = page.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")

    box.fill(QUESTION)
    page.keyboard.press("Enter")
    bot = log.locator(".msg.out")
    expect(bot.filter(has_text="•").first).to_be_visible()  # the document list, one "• " line each
    answer = bot.filter(has_text="•").first.inner_text()
    assert "căn cước" in answer.lower(), answer
    assert answer.count("•") >= 2, answer
    expect(page.locator(".typing")).to_be_hidden()

    buttons = log.locator(".btns button")
    expect(buttons.first).to_be_visible()
    titles = buttons.all_inner_texts()
    choice = next((t for t in titles if "cán bộ" not in t.lower()), titles[0])
    before = bot.count()
    log.locator(".btns button", has_text=choice).last.click()
    expect(log.locator(".msg.in", has_text=choice)).to_be_visible()  # the title shows as the citizen's message
    page.wait_for_function(
        "n => document.querySelector('#motcua-chat').shadowRoot.querySelectorAll('.msg.out').length > n", arg=before
    )

    shown = log.locator(".msg:not(.note)").all_inner_texts()
    page.reload()  # the panel stays open and the conversation comes back from the server
    log = page.get_by_role("log")
    expect(log.locator(".msg.in").first).to_have_text(QUESTION)
    expect(log.locator(".msg.out").filter(has_text="•").first).to_be_visible()
    restored = log.locator(".msg:not(.note)").all_inner_texts()
    assert restored == [t for t in shown if t], (restored, shown)

    sender = page.evaluate("localStorage.getItem('motcua-chat-sender')")
    page.wait_for_timeout(1500)  # the push stream is connected
    reply = "Chào anh/chị, tôi là cán bộ Một cửa. Anh/chị mang theo giấy khai sinh nhé."
    engine = app.engine()
    with Session(engine) as session, session.begin():
        outbox.enqueue(session, OutgoingMessage("webchat", sender, text=reply, author="officer:lan"))
    pushed = log.locator(".msg.officer")
    expect(pushed).to_contain_text(reply, timeout=15_000)
    expect(pushed).to_contain_text("Cán bộ")
    assert "lan" not in pushed.inner_text()  # the officer's username is not shown to citizens

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(bubble).to_be_focused()
    context.close()


def test_widget_fills_a_phone_screen(app: AppServer, browser: object) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 700}, is_mobile=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{app.url}/widget/demo")
    page.get_by_role("button", name="Mở khung trò chuyện hỗ trợ").click()
    dialog = page.get_by_role("dialog")
    box = dialog.bounding_box()
    assert box is not None and box["width"] == 375 and box["height"] == 700
    assert dialog.get_attribute("aria-label") == "Hỗ trợ thủ tục hành chính"
    context.close()
