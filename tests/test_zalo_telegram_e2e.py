"""End to end through the real app (its own process, workers running) with the fake Zalo and Telegram
servers: webhook → inbox → Rasa → outbox → platform API. The first tests need no Rasa (long officer
replies split under each platform's limit; webhooks acknowledged fast while Rasa is down); the last ones
talk to the real Rasa and action servers (@pytest.mark.rasa).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import outbox
from connectors.base import OutgoingMessage
from connectors.telegram import SECRET_HEADER
from core.models import InboxMessageRow
from tests import rasa_server
from tests.app_server import AppServer, app_server
from tests.fake_http import wait_until
from tests.fake_telegram import FakeTelegram, callback_update, text_update
from tests.fake_zalo import FakeZalo, text_event
from tests.test_e2e_rasa import rasa  # noqa: F401  (the session's real Rasa + action server)

SECRET = "e2e_secret-1"
QUESTION = "làm căn cước cần giấy tờ gì"


@pytest.fixture()
def zalo() -> Iterator[FakeZalo]:
    with FakeZalo() as server:
        yield server


@pytest.fixture()
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def _env(zalo: FakeZalo, tg: FakeTelegram, polling: bool = False) -> dict[str, str]:
    return {
        **zalo.env(),
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE": tg.url,
        "TELEGRAM_POLLING": "1" if polling else "",
    }


def _telegram(app: AppServer, update: dict) -> httpx.Response:
    return httpx.post(f"{app.url}/webhooks/telegram", json=update, headers={SECRET_HEADER: SECRET}, timeout=10)


def _paragraphs(count: int) -> str:
    return "\n\n".join(f"Đoạn {i}: " + "Hồ sơ được tiếp nhận tại Bộ phận Một cửa. " * 9 for i in range(count))


def test_long_officer_reply_is_split_under_each_platform_limit(
    tmp_path: Path, zalo: FakeZalo, tg: FakeTelegram
) -> None:
    text = _paragraphs(25)  # about 10,000 characters
    assert len(text) > 9000
    with app_server(tmp_path, env=_env(zalo, tg)) as app:
        health = httpx.get(f"{app.url}/health", timeout=10).json()
        assert health["channels"] == {"webchat": True, "zalo": True, "telegram": True}
        with Session(app.engine()) as session, session.begin():
            outbox.enqueue(session, OutgoingMessage("zalo", "8464", text=text, author="officer:lan"))
            outbox.enqueue(session, OutgoingMessage("telegram", "42", text=text, author="officer:lan"))
        zalo_parts = [m["text"] for m in zalo.wait_for_messages(5, timeout=30)]
        tg_parts = [m["text"] for m in tg.wait_for_messages(3, timeout=30)]
    assert len(zalo_parts) >= 5 and all(len(p) <= 2000 for p in zalo_parts)
    assert len(tg_parts) >= 3 and all(len(p) <= 4096 for p in tg_parts)
    for parts in (zalo_parts, tg_parts):
        assert all(p.startswith("Đoạn ") for p in parts)  # split at paragraph boundaries
        assert " ".join(" ".join(parts).split()) == " ".join(text.split())  # nothing lost, in order


def test_webhooks_ack_fast_while_rasa_is_down(tmp_path: Path, zalo: FakeZalo, tg: FakeTelegram) -> None:
    with app_server(tmp_path, env=_env(zalo, tg)) as app:  # rasa_url: a closed port
        timings = []
        for i in range(20):
            started = time.perf_counter()
            assert zalo.deliver(f"{app.url}/webhooks/zalo", text_event("8464", f"câu hỏi {i}")).status_code == 200
            assert _telegram(app, text_update(42, f"câu hỏi {i}")).status_code == 200
            timings.append(time.perf_counter() - started)
        assert max(timings) < 2.0
        time.sleep(1.0)
    assert zalo.sent_messages == [] and tg.sent_messages == []  # nothing answered without the bot


def test_polling_mode_starts_with_the_app(tmp_path: Path, zalo: FakeZalo, tg: FakeTelegram) -> None:
    update = text_update(77, "chào", update_id=880001)
    tg.push_update(update)
    with app_server(tmp_path, env=_env(zalo, tg, polling=True)) as app:
        confirmed = wait_until(lambda: any(p.get("offset") == "880002" for p in tg.calls("getUpdates")), 30)
        assert confirmed, app.log_tail()
        with Session(app.engine()) as session:
            rows = session.scalars(select(InboxMessageRow).where(InboxMessageRow.channel == "telegram")).all()
            assert [(r.platform_message_id, r.sender_id, r.text) for r in rows] == [("880001", "77", "chào")]
        started = time.monotonic()
        app.stop()  # SIGTERM: the poller stops with the app, without errors
        assert time.monotonic() - started < 15
        assert "Traceback" not in app.log_tail(200) and "ERROR" not in app.log_tail(200), app.log_tail()


@pytest.mark.rasa
def test_zalo_and_telegram_citizens_get_the_bot_reply(
    tmp_path: Path,
    zalo: FakeZalo,
    tg: FakeTelegram,
    rasa: rasa_server.Servers,  # noqa: F811
) -> None:
    zalo.expire_access_token()  # the pair from the environment is a day old: the first send refreshes it
    with app_server(tmp_path, rasa_url=rasa.rasa_url, env=_env(zalo, tg)) as app:
        response = zalo.deliver(f"{app.url}/webhooks/zalo", text_event("8464", QUESTION))
        assert response.status_code == 200
        assert _telegram(app, text_update(42, QUESTION)).status_code == 200
        assert zalo.wait_for_messages(1, timeout=120), app.log_tail()
        assert tg.wait_for_messages(1, timeout=120), app.log_tail()
        time.sleep(1.0)  # let every reply of the turn arrive
        zalo_text = "\n".join(m["text"] for m in zalo.messages_to("8464"))
        tg_replies = tg.messages_to(42)
        tg_text = "\n".join(m["text"] for m in tg_replies)
        for reply in (zalo_text, tg_text):
            assert "căn cước" in reply.lower(), reply
        assert len(zalo.refresh_calls) == 1  # expired token refreshed once, reply delivered
        # the answer offers follow-up buttons; pressed, each gets another bot answer
        keyboards = [m["reply_markup"] for m in tg_replies if m["reply_markup"]]
        assert keyboards, tg_replies
        data = keyboards[-1]["inline_keyboard"][0][0]["callback_data"]
        before = len(tg.messages_to(42))
        assert _telegram(app, callback_update(42, data, query_id="press-1")).status_code == 200
        assert wait_until(lambda: len(tg.messages_to(42)) > before, 120), app.log_tail()
        assert any(a["callback_query_id"] == "press-1" for a in tg.callback_answers)
        zalo_buttons = [b for m in zalo.messages_to("8464") for b in m["buttons"]]
        assert zalo_buttons and all(b["type"] == "oa.query.show" for b in zalo_buttons)
        before = len(zalo.messages_to("8464"))
        pressed = text_event("8464", zalo_buttons[-1]["payload"])  # Zalo sends the payload back as text
        assert zalo.deliver(f"{app.url}/webhooks/zalo", pressed).status_code == 200
        assert wait_until(lambda: len(zalo.messages_to("8464")) > before, 120), app.log_tail()
        with Session(app.engine()) as session:
            kinds = session.scalars(select(InboxMessageRow.kind).where(InboxMessageRow.sender_id == "8464")).all()
        assert list(kinds) == ["text", "button"]  # the press reached Rasa as the button's payload


@pytest.mark.rasa
def test_telegram_long_polling_gets_the_bot_reply(
    tmp_path: Path,
    zalo: FakeZalo,
    tg: FakeTelegram,
    rasa: rasa_server.Servers,  # noqa: F811
) -> None:
    tg.push_update(text_update(77, QUESTION))
    with app_server(tmp_path, rasa_url=rasa.rasa_url, env=_env(zalo, tg, polling=True)) as app:
        assert tg.wait_for_messages(1, timeout=120), app.log_tail()
        time.sleep(1.0)
    assert "căn cước" in "\n".join(m["text"] for m in tg.messages_to(77)).lower()
    assert tg.calls("getUpdates")
