"""Zalo Official Account channel: ``POST /webhooks/zalo`` and the sender.

The webhook verifies ``X-ZEvent-Signature`` (connectors/zalo_signature.py), turns the event into an
``IncomingMessage`` and hands it to ``Gateway.accept`` (a durable insert), then answers 200 at once:
Zalo wants an answer within 2 seconds and disables webhooks that keep failing. Duplicates (Zalo retries)
are dropped by the gateway on ``message.msg_id``. Events handled: user_send_text (and pressed
``oa.query.show`` buttons, which arrive as text: see connectors/button_keys.py), user_send_image,
user_send_location, follow (answered with the bot's welcome), unfollow; every other event gets 200 and
is ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from connectors import button_keys
from connectors.base import IncomingMessage
from connectors.channel_support import WELCOME_TRIGGER, GatewayLike, add_lifespan, add_webhook
from connectors.zalo_api import CHANNEL, ZaloCredentials, ZaloSender, ZaloTokenStore
from connectors.zalo_signature import HEADER, verify_signature
from core.db import get_engine
from core.settings import Settings
from knowledge_base.text import nfc

log = logging.getLogger(__name__)

BUTTON_MAX_AGE = timedelta(days=7)  # a pressed button older than this is taken as typed text


def credentials(settings: Settings) -> ZaloCredentials | None:
    """The configured credentials, or None when the channel is off (app id, OA secret key, a token)."""
    env = settings.channels
    app_id, oa_key = env.get("ZALO_APP_ID", ""), env.get("ZALO_OA_SECRET_KEY", "")
    access, refresh = env.get("ZALO_ACCESS_TOKEN", ""), env.get("ZALO_REFRESH_TOKEN", "")
    if not (app_id and oa_key and (access or refresh)):
        return None
    return ZaloCredentials(
        app_id=app_id,
        app_secret=env.get("ZALO_APP_SECRET", ""),
        access_token=access,
        refresh_token=refresh,
        api_base=env.get("ZALO_API_BASE") or "https://openapi.zalo.me",
        oauth_base=env.get("ZALO_OAUTH_BASE") or "https://oauth.zaloapp.com",
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return nfc(value) if isinstance(value, str) else ""


def _attachments(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = message.get("attachments")
    if not isinstance(items, list):
        return []
    return [a for a in items if isinstance(a, dict) and a.get("type") == kind and isinstance(a.get("payload"), dict)]


def parse_event(event: dict[str, Any]) -> IncomingMessage | None:
    """The message a webhook event stands for (None: an event we do not handle).

    Button presses are not resolved here (see ``ZaloWebhook.resolve_button``)."""
    name = str(event.get("event_name", ""))
    timestamp = str(event.get("timestamp", ""))
    message = _dict(event.get("message"))
    sender_id = str(_dict(event.get("sender")).get("id", ""))
    msg_id = str(message.get("msg_id") or f"{name}:{sender_id}:{timestamp}")

    def make(kind: str, text: str, payload: dict[str, object] | None = None) -> IncomingMessage:
        return IncomingMessage(CHANNEL, msg_id, sender_id, kind=kind, text=text, payload=payload or {})

    if name == "user_send_text":
        text = _text(message.get("text")).strip()
        return make("text", text) if sender_id and text else None
    if name == "user_send_image":
        urls = [str(a["payload"]["url"]) for a in _attachments(message, "image") if a["payload"].get("url")]
        if not sender_id or not urls:
            return None
        payload: dict[str, object] = {"event": name, "attachments": urls}
        return make("image", _text(message.get("text")).strip(), payload)
    if name == "user_send_location":
        for item in _attachments(message, "location"):
            coordinates = item["payload"].get("coordinates") or {}
            try:
                lat, lon = float(coordinates["latitude"]), float(coordinates["longitude"])
            except (KeyError, TypeError, ValueError):
                continue
            payload = {"event": name, "latitude": lat, "longitude": lon}
            return make("location", _text(message.get("text")).strip(), payload) if sender_id else None
        return None
    if name in ("follow", "unfollow"):
        user_id = str(_dict(event.get("follower")).get("id") or sender_id)
        if not user_id:
            return None
        return IncomingMessage(
            channel=CHANNEL,
            platform_message_id=f"{name}:{user_id}:{timestamp}",
            sender_id=user_id,
            kind=name,
            text=WELCOME_TRIGGER if name == "follow" else "",
            payload={"event": name},
        )
    return None


class ZaloWebhook:
    def __init__(
        self, credentials: ZaloCredentials | None, oa_secret_key: str, gateway: GatewayLike, engine: Engine
    ) -> None:
        self.credentials = credentials
        self._oa_secret_key = oa_secret_key
        self._gateway = gateway
        self._engine = engine

    async def handle(self, request: Request) -> JSONResponse:
        if self.credentials is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        body = await request.body()
        header = request.headers.get(HEADER)
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            log.warning("zalo webhook: rejected a body that is not a JSON object (%d bytes)", len(body))
            return JSONResponse({"error": "invalid body"}, status_code=400)
        timestamp = str(event.get("timestamp", ""))
        if not verify_signature(header, self.credentials.app_id, body, timestamp, self._oa_secret_key):
            log.warning(
                "zalo webhook: %s signature, rejected (event %.40s, %d bytes)",
                "missing" if not header else "bad",
                str(event.get("event_name", "?")),
                len(body),
            )
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        message = parse_event(event)
        if message is None:
            return JSONResponse({"ok": True, "ignored": str(event.get("event_name", ""))[:40]})
        if message.kind == "text":
            message = await asyncio.to_thread(self.resolve_button, message)
        try:
            fresh = await self._gateway.accept(message)
        except Exception as exc:  # not stored: a non-2xx answer makes Zalo deliver it again
            # only the error's type: database errors quote the statement's parameters (the citizen's text)
            log.error("zalo webhook: could not store the %s event (%s)", message.kind, type(exc).__name__)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return JSONResponse({"ok": True, "duplicate": not fresh})

    def resolve_button(self, message: IncomingMessage) -> IncomingMessage:
        """A text equal to the title of a button recently offered to this user is that button's payload."""
        key = button_keys.zalo_key(message.sender_id, message.text)
        found = button_keys.lookup(self._engine, CHANNEL, key, max_age=BUTTON_MAX_AGE)
        if found is None:
            return message
        payload = found[0]
        return IncomingMessage(
            channel=message.channel,
            platform_message_id=message.platform_message_id,
            sender_id=message.sender_id,
            kind="button",
            text=payload,
            payload={"title": message.text},
        )


def install(app: FastAPI, settings: Settings, gateway: GatewayLike) -> bool:
    """Add ``POST /webhooks/zalo`` and register the Zalo sender; False (route answers 404) when off."""
    creds = credentials(settings)
    engine = get_engine(settings.database_url)
    webhook = ZaloWebhook(creds, settings.channels.get("ZALO_OA_SECRET_KEY", ""), gateway, engine)
    add_webhook(app, "/webhooks/zalo", webhook.handle)
    if creds is None:
        return False
    if not creds.app_secret:
        log.warning("zalo: ZALO_APP_SECRET is unset: expired access tokens cannot be refreshed")
    sender = ZaloSender(ZaloTokenStore(engine, creds), engine, creds.api_base)
    gateway.add_sender(sender)
    add_lifespan(app, close=sender.aclose)
    return True
