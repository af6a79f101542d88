"""Telegram channel: ``POST /webhooks/telegram`` (or long polling) and the sender.

The webhook checks ``X-Telegram-Bot-Api-Secret-Token`` in constant time against TELEGRAM_WEBHOOK_SECRET
(unset secret: every webhook call is refused, since anyone could post updates), parses the body with
python-telegram-bot's ``Update.de_json`` and hands the message to ``Gateway.accept`` keyed by
``update_id`` (Telegram retries non-2xx answers: duplicates are dropped there). Handled: text messages
of private chats (``/start`` asks the bot for its welcome), photos (the largest size's file_id, so an
open complaint form attaches it; once stored, a background task downloads the file into the data
directory: connectors/telegram_files.py), locations, and inline-button presses (callback_data is a short key
mapped to the Rasa payload server-side; every callback query is answered so the client stops spinning).

Without a public URL (local use), TELEGRAM_POLLING=1 makes the app fetch updates with getUpdates
(connectors/telegram_polling.py); ``scripts/run.sh`` sets it when TELEGRAM_WEBHOOK_URL is empty.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from telegram import Bot, Update
from telegram.error import TelegramError

from connectors import button_keys
from connectors.base import IncomingMessage
from connectors.channel_support import WELCOME_TRIGGER, GatewayLike, add_lifespan, add_webhook
from connectors.telegram_files import TelegramFiles, attachments_dir
from connectors.telegram_polling import TelegramPoller
from connectors.telegram_sender import CHANNEL, TelegramSender, make_bot
from core.db import get_engine
from core.settings import Settings
from knowledge_base.text import nfc

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
EXPIRED_BUTTON = "Lựa chọn này đã cũ. Bạn vui lòng gõ lại câu hỏi nhé."


def _enabled(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


class TelegramUpdates:
    """Turns updates (from the webhook or from polling) into gateway messages."""

    def __init__(self, bot: Bot, gateway: GatewayLike, engine: Engine, files: TelegramFiles | None = None) -> None:
        self.bot = bot
        self._gateway = gateway
        self._engine = engine
        self.files = files
        self._background: set[asyncio.Task[None]] = set()

    async def handle(self, update: Update) -> bool:
        """Accept ``update``; False when it was a duplicate or is not for us. Raises if it was not stored."""
        query = update.callback_query
        if query is not None:
            return await self._callback(update)
        message = await asyncio.to_thread(self.to_message, update)
        if message is None:
            return False
        fresh = await self._gateway.accept(message)
        if fresh and message.kind == "image" and self.files is not None:  # after the ack's work, not in it
            attachments = message.payload.get("attachments")
            file_ids = [str(a) for a in attachments] if isinstance(attachments, list) else []
            self._spawn(self.files.fetch_in_background(file_ids))
        return fresh

    def to_message(self, update: Update) -> IncomingMessage | None:
        """The gateway message of a message update (None: not a private-chat message we handle)."""
        message = update.message
        if message is None or message.chat.type != "private":
            return None
        update_id, sender = str(update.update_id), str(message.chat.id)
        if message.photo:
            largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
            payload: dict[str, object] = {"event": "photo", "attachments": [largest.file_id]}
            return IncomingMessage(
                CHANNEL, update_id, sender, kind="image", text=nfc(message.caption or ""), payload=payload
            )
        if message.location:
            payload = {
                "event": "location",
                "latitude": message.location.latitude,
                "longitude": message.location.longitude,
            }
            return IncomingMessage(CHANNEL, update_id, sender, kind="location", payload=payload)
        text = nfc(message.text or "").strip()
        if not text:
            return None
        if text == "/start" or text.startswith("/start "):
            return IncomingMessage(
                CHANNEL, update_id, sender, kind="follow", text=WELCOME_TRIGGER, payload={"event": "start"}
            )
        return IncomingMessage(CHANNEL, update_id, sender, kind="text", text=text)

    async def _callback(self, update: Update) -> bool:
        query = update.callback_query
        assert query is not None
        chat = query.message.chat if query.message is not None else None
        sender = str(chat.id if chat is not None else query.from_user.id)
        found = await asyncio.to_thread(button_keys.lookup, self._engine, CHANNEL, query.data or "")
        if found is None:
            self._answer(query.id, EXPIRED_BUTTON)
            return False
        payload, title = found
        extra: dict[str, object] = {"title": title, "callback_query_id": query.id}
        message = IncomingMessage(CHANNEL, str(update.update_id), sender, kind="button", text=payload, payload=extra)
        fresh = await self._gateway.accept(message)
        self._answer(query.id, None)
        return fresh

    def _answer(self, query_id: str, text: str | None) -> None:
        """answerCallbackQuery in the background (the webhook answers Telegram without waiting)."""

        async def answer() -> None:
            try:
                await self.bot.answer_callback_query(query_id, text=text)
            except TelegramError as exc:  # e.g. the query is too old: nothing to do
                log.info("telegram: answerCallbackQuery failed: %s", exc.message)

        self._spawn(answer())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


class TelegramWebhook:
    def __init__(self, updates: TelegramUpdates | None, secret: str) -> None:
        self._updates = updates
        self._secret = secret

    async def handle(self, request: Request) -> JSONResponse:
        if self._updates is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        given = request.headers.get(SECRET_HEADER, "")
        if not self._secret or not hmac.compare_digest(given.encode(), self._secret.encode()):
            log.warning("telegram webhook: %s secret token, rejected", "missing" if not given else "wrong")
            return JSONResponse({"error": "invalid secret token"}, status_code=401)
        body = await request.body()
        try:
            data = json.loads(body)
            update = Update.de_json(data, self._updates.bot) if isinstance(data, dict) else None
        except (ValueError, TypeError, KeyError):
            update = None
        if update is None:
            log.warning("telegram webhook: rejected a body that is not an update (%d bytes)", len(body))
            return JSONResponse({"error": "invalid update"}, status_code=400)
        try:
            fresh = await self._updates.handle(update)
        except Exception as exc:  # not stored: a non-2xx answer makes Telegram deliver it again
            # only the error's type: database errors quote the statement's parameters (the citizen's text)
            log.error("telegram webhook: could not store an update (%s)", type(exc).__name__)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return JSONResponse({"ok": True, "accepted": fresh})


def install(app: FastAPI, settings: Settings, gateway: GatewayLike) -> bool:
    """Add ``POST /webhooks/telegram``, register the sender and start polling if asked; False when off."""
    env = settings.channels
    token = env.get("TELEGRAM_BOT_TOKEN", "")
    if not token:
        add_webhook(app, "/webhooks/telegram", TelegramWebhook(None, "").handle)
        return False
    engine = get_engine(settings.database_url)
    bot = make_bot(token, env.get("TELEGRAM_API_BASE") or "https://api.telegram.org")
    files = TelegramFiles(bot, attachments_dir(settings.data_dir))
    app.state.telegram_files = files  # the back office opens complaint photos through it
    updates = TelegramUpdates(bot, gateway, engine, files)
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "")
    add_webhook(app, "/webhooks/telegram", TelegramWebhook(updates, secret).handle)
    sender = TelegramSender(bot, engine)
    gateway.add_sender(sender)
    poller = TelegramPoller(bot, updates.handle, allowed_updates=ALLOWED_UPDATES)
    polling = _enabled(env.get("TELEGRAM_POLLING", ""))
    if not polling and not secret:
        log.warning(
            "telegram: TELEGRAM_WEBHOOK_SECRET is unset, so the webhook refuses every update; "
            "set it (and run `motcua telegram set-webhook URL`) or set TELEGRAM_POLLING=1"
        )

    async def startup() -> None:
        if polling:
            poller.start()

    async def shutdown() -> None:
        await poller.stop()
        await updates.drain()

    add_lifespan(app, startup=startup, shutdown=shutdown, close=sender.aclose)
    return True


class WebhookSetupError(Exception):
    """``set_webhook`` cannot run: a setting is missing or invalid (message for the operator)."""


def _valid_secret(secret: str) -> bool:
    return 1 <= len(secret) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)


async def set_webhook(settings: Settings, url: str) -> None:
    """Register ``url`` with Telegram (secret from TELEGRAM_WEBHOOK_SECRET, messages and button presses)."""
    env = settings.channels
    token, secret = env.get("TELEGRAM_BOT_TOKEN", ""), env.get("TELEGRAM_WEBHOOK_SECRET", "")
    if not token:
        raise WebhookSetupError("Chưa đặt TELEGRAM_BOT_TOKEN.")
    if not _valid_secret(secret):
        raise WebhookSetupError("TELEGRAM_WEBHOOK_SECRET phải có 1–256 ký tự A-Z, a-z, 0-9, _ hoặc -.")
    if not url.startswith("https://"):
        raise WebhookSetupError("Telegram chỉ gọi webhook qua HTTPS (cổng 443, 80, 88 hoặc 8443).")
    bot = make_bot(token, env.get("TELEGRAM_API_BASE") or "https://api.telegram.org")
    try:
        await bot.set_webhook(
            url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False
        )
    except TelegramError as exc:
        raise WebhookSetupError(f"Telegram từ chối: {exc.message}") from exc
    finally:
        await bot.shutdown()
