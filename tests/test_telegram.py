"""Telegram channel: webhook secret, update parsing and dedupe, inline buttons and callback answers, the
sender's errors, long polling and `motcua telegram set-webhook`, against a fake Telegram Bot API server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from connectors.base import Button, OutgoingMessage, SendError
from connectors.telegram import EXPIRED_BUTTON, SECRET_HEADER, TelegramUpdates
from connectors.telegram_polling import TelegramPoller
from connectors.telegram_sender import TelegramSender, make_bot
from tests.channel_app import build_app, call, inbox_rows, with_client
from tests.fake_telegram import FakeTelegram, callback_update, photo_update, text_update

SECRET = "s3cret_Token-42"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def _env(tg: FakeTelegram, **extra: str) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE": tg.url, **extra}


def _post(app, update: dict, secret: str | None = SECRET) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return call(app, "POST", "/webhooks/telegram", json=update, headers=headers)


# --- webhook ---------------------------------------------------------------------------------------------


def test_webhook_checks_the_secret_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg))
    assert app.state.channels["telegram"] is True
    assert _post(app, text_update(42, "chào"), secret=None).status_code == 401
    assert _post(app, text_update(42, "chào"), secret=SECRET + "x").status_code == 401
    assert _post(app, text_update(42, "chào"), secret=SECRET[:-1]).status_code == 401
    assert inbox_rows(engine, "telegram") == []
    response = _post(app, text_update(42, "Làm căn cước cần giấy tờ gì?"))
    assert response.status_code == 200
    [row] = inbox_rows(engine, "telegram")
    assert (row.sender_id, row.kind, row.text) == ("42", "text", "Làm căn cước cần giấy tờ gì?")


def test_webhook_without_a_configured_secret_refuses_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram
) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg, TELEGRAM_WEBHOOK_SECRET=""))
    assert _post(app, text_update(42, "chào"), secret=None).status_code == 401
    assert _post(app, text_update(42, "chào"), secret="").status_code == 401
    assert inbox_rows(engine, "telegram") == []


def test_webhook_is_404_when_telegram_is_not_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, engine = build_app(tmp_path, monkeypatch, {})
    assert app.state.channels["telegram"] is False
    assert _post(app, text_update(42, "chào")).status_code == 404
    assert inbox_rows(engine, "telegram") == []


def test_redelivered_updates_are_stored_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg))
    update = text_update(42, "Tra cứu hồ sơ", update_id=5001)

    async def scenario(client: httpx.AsyncClient) -> list[bool]:
        answers = []
        for _ in range(3):
            response = await client.post("/webhooks/telegram", json=update, headers={SECRET_HEADER: SECRET})
            assert response.status_code == 200
            answers.append(response.json()["accepted"])
        return answers

    assert with_client(app, scenario) == [True, False, False]
    assert [r.platform_message_id for r in inbox_rows(engine, "telegram")] == ["5001"]


def test_photos_start_groups_and_bad_bodies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg))
    assert _post(app, photo_update(42, ("s", "m", "l"), caption="Ảnh chụp quầy")).status_code == 200
    assert _post(app, text_update(42, "/start")).status_code == 200
    group = text_update(42, "chào cả nhóm")
    group["message"]["chat"] = {"id": -100123, "type": "group", "title": "Nhóm"}
    assert _post(app, group).status_code == 200  # acknowledged, not for the bot
    edited = text_update(42, "sửa")
    edited["edited_message"] = edited.pop("message")
    assert _post(app, edited).status_code == 200
    assert call(app, "POST", "/webhooks/telegram", content=b"[1,2]", headers={SECRET_HEADER: SECRET}).status_code == 400
    assert call(app, "POST", "/webhooks/telegram", content=b"{oops", headers={SECRET_HEADER: SECRET}).status_code == 400
    rows = inbox_rows(engine, "telegram")
    assert [(r.kind, r.text) for r in rows] == [("image", "Ảnh chụp quầy"), ("follow", "/greet")]
    assert rows[0].payload["attachments"] == ["l"]  # the largest size


def test_buttons_use_short_keys_and_presses_are_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram
) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg))
    long_payload = '/ask_procedure{"procedure":"1.001193","aspect":"documents","note":"' + "x" * 80 + '"}'
    buttons = (Button("Giấy tờ cần nộp", long_payload), Button("Lệ phí", '/ask_procedure{"aspect":"fee"}'))
    sender = app.state.gateway.senders["telegram"]

    async def scenario(client: httpx.AsyncClient) -> None:
        await sender.send(OutgoingMessage("telegram", "42", text="Bạn muốn biết gì?", buttons=buttons))
        keyboard = tg.sent_messages[-1]["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in keyboard] == ["Giấy tờ cần nộp", "Lệ phí"]
        data = [row[0]["callback_data"] for row in keyboard]
        assert all(len(d.encode()) <= 64 for d in data) and len(set(data)) == 2
        for update in (callback_update(42, data[0], query_id="q1"), callback_update(42, "t-unknown", query_id="q2")):
            response = await client.post("/webhooks/telegram", json=update, headers={SECRET_HEADER: SECRET})
            assert response.status_code == 200
        for _ in range(100):  # the answers go out in the background
            if len(tg.callback_answers) >= 2:
                break
            await asyncio.sleep(0.05)

    with_client(app, scenario)
    answers = {a["callback_query_id"]: a.get("text") for a in tg.callback_answers}
    assert answers == {"q1": None, "q2": EXPIRED_BUTTON}  # every press answered (no spinning client)
    [row] = inbox_rows(engine, "telegram")
    assert (row.kind, row.text, row.payload["title"]) == ("button", long_payload, "Giấy tờ cần nộp")


# --- sender ------------------------------------------------------------------------------------------------


def _send(engine: Engine, tg: FakeTelegram, message: OutgoingMessage) -> SendError | None:
    async def main() -> SendError | None:
        sender = TelegramSender(make_bot(tg.token, tg.url), engine)
        try:
            await sender.send(message)
        except SendError as error:
            return error
        finally:
            await sender.aclose()
        return None

    return asyncio.run(main())


def test_sender_errors(engine: Engine, tg: FakeTelegram) -> None:
    assert _send(engine, tg, OutgoingMessage("telegram", "42", text="Xin chào")) is None
    assert tg.messages_to(42)[0]["text"] == "Xin chào"
    tg.blocked_chats.add("43")
    blocked = _send(engine, tg, OutgoingMessage("telegram", "43", text="Kết quả hồ sơ đã có"))
    assert blocked is not None and blocked.retryable is False  # 403: the citizen blocked the bot
    tg.fail_next(1, status=500)
    server_error = _send(engine, tg, OutgoingMessage("telegram", "42", text="x"))
    assert server_error is not None and server_error.retryable is True
    tg.fail_next(1, status=429)
    limited = _send(engine, tg, OutgoingMessage("telegram", "42", text="x"))
    assert limited is not None and limited.retryable is True
    too_long = _send(engine, tg, OutgoingMessage("telegram", "42", text="a" * 4097))
    assert too_long is not None and too_long.retryable is False
    assert _send(engine, tg, OutgoingMessage("telegram", "42", image_url="https://x.example/mau.png")) is None
    assert tg.sent_messages[-1]["method"] == "sendPhoto"
    assert len(tg.messages_to(42)) == 2


# --- long polling ------------------------------------------------------------------------------------------


def test_polling_feeds_the_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg, TELEGRAM_POLLING="1"))
    tg.push_update(text_update(42, "chào", update_id=7001))
    tg.push_update(photo_update(42, ("a", "b"), update_id=7002))
    tg.push_update(text_update(42, "chào", update_id=7001))  # delivered again: dropped

    async def main() -> int | None:
        bot = make_bot(tg.token, tg.url)
        updates = TelegramUpdates(bot, app.state.gateway, engine)
        poller = TelegramPoller(bot, updates.handle, poll_timeout=1, retry_delay=0.1)
        poller.start()
        for _ in range(200):  # until the next getUpdates confirms both (offset = last update_id + 1)
            if any(params.get("offset") == "7003" for params in tg.calls("getUpdates")):
                break
            await asyncio.sleep(0.05)
        await poller.stop()
        await bot.shutdown()
        return poller.offset

    assert asyncio.run(main()) == 7003
    assert [r.platform_message_id for r in inbox_rows(engine, "telegram")] == ["7001", "7002"]
    assert any(params.get("offset") == "7003" for params in tg.calls("getUpdates"))


def test_polling_survives_a_webhook_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg))
    tg.webhook = {"url": "https://elsewhere.example/hook"}  # Telegram refuses getUpdates (409)

    async def main() -> bool:
        bot = make_bot(tg.token, tg.url)
        poller = TelegramPoller(bot, TelegramUpdates(bot, app.state.gateway, engine).handle, poll_timeout=1)
        poller.start()
        for _ in range(100):
            if tg.calls("getUpdates"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        running = poller.running
        await poller.stop()
        await bot.shutdown()
        return running

    assert asyncio.run(main()) is True
    assert "webhook is set" in caplog.text


def test_set_webhook_command(tg: FakeTelegram) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update(_env(tg), PYTHONPATH=str(REPO))
    command = [
        sys.executable,
        "-m",
        "motcua.cli",
        "telegram",
        "set-webhook",
        "https://motcua.example.gov.vn/webhooks/telegram",
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert tg.webhook == {
        "url": "https://motcua.example.gov.vn/webhooks/telegram",
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
        "drop_pending_updates": False,
    }
    bad = subprocess.run(
        [*command[:-1], "http://insecure.example/x"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and "HTTPS" in bad.stderr
