"""A fake Zalo OA platform on 127.0.0.1: the OpenAPI (``/v3.0/oa/message/cs``), the OAuth token endpoint
(``/v4/oa/access_token``) and the webhook side (signed event deliveries to our app).

Usage::

    from tests.fake_zalo import FakeZalo, text_event

    with FakeZalo() as zalo:
        env = zalo.env()   # ZALO_* settings pointing the app at this server (both API and OAuth bases)
        ... start the app with env ...
        zalo.deliver(f"{app_url}/webhooks/zalo", text_event("8464", "chào"))   # signed like Zalo does
        messages = zalo.wait_for_messages(1)   # [{"user_id", "text", "buttons", "attachment", "access_token"}]

Behaviour like the real API (errors come as HTTP 200 with a negative ``error``):
- a wrong or expired access token answers ``error -216``; ``expire_access_token()`` expires the current one.
- refresh tokens work once: reusing one answers ``error -14020``; a wrong ``secret_key`` header is refused.
  ``refresh_calls`` records each refresh attempt; ``oauth_delay`` slows the endpoint (concurrency tests).
- ``unreachable.add(user_id)``: sends to that user answer ``error -213`` (has not interacted with the OA).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.zalo_signature import HEADER, compute_signature
from tests.fake_http import ThreadedServer, wait_until

APP_ID = "1234567890123456789"
APP_SECRET = "fake-app-secret"
OA_SECRET_KEY = "fake-oa-secret-key"
_ids = itertools.count(1)


class FakeZalo:
    def __init__(self, *, app_id: str = APP_ID, app_secret: str = APP_SECRET, oa_secret_key: str = OA_SECRET_KEY):
        self.app_id, self.app_secret, self.oa_secret_key = app_id, app_secret, oa_secret_key
        self.access_token = "access-0"
        self.refresh_token = "refresh-0"
        self.used_refresh_tokens: set[str] = set()
        self.sent_messages: list[dict[str, Any]] = []
        self.rejected_sends: list[dict[str, Any]] = []  # sends answered with an error (any code)
        self.refresh_calls: list[dict[str, Any]] = []
        self.unreachable: set[str] = set()
        self.oauth_delay = 0.0
        self._generation = 0
        self._lock = threading.Lock()
        self._server = ThreadedServer(
            Starlette(
                routes=[
                    Route("/v3.0/oa/message/cs", self._send, methods=["POST"]),
                    Route("/v4/oa/access_token", self._token, methods=["POST"]),
                ]
            )
        )

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> FakeZalo:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeZalo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The ZALO_* settings for an app that talks to this fake (the current token pair)."""
        return {
            "ZALO_APP_ID": self.app_id,
            "ZALO_APP_SECRET": self.app_secret,
            "ZALO_OA_SECRET_KEY": self.oa_secret_key,
            "ZALO_ACCESS_TOKEN": self.access_token,
            "ZALO_REFRESH_TOKEN": self.refresh_token,
            "ZALO_API_BASE": self.url,
            "ZALO_OAUTH_BASE": self.url,
        }

    # --- test controls ---------------------------------------------------------------------------
    def expire_access_token(self) -> None:
        """The current access token stops working (as after ~25 hours)."""
        with self._lock:
            self.access_token = f"expired-{self._generation}"

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.sent_messages) >= count, timeout)
        return list(self.sent_messages)

    def messages_to(self, user_id: str) -> list[dict[str, Any]]:
        return [m for m in self.sent_messages if m["user_id"] == user_id]

    # --- the webhook side: Zalo posting events to our app -----------------------------------------
    def sign(self, body: bytes, timestamp: str) -> str:
        return "mac=" + compute_signature(self.app_id, body, timestamp, self.oa_secret_key)

    def deliver(
        self, webhook_url: str, event: dict[str, Any], *, signature: str | None = None, timeout: float = 10.0
    ) -> httpx.Response:
        """POST ``event`` to ``webhook_url`` as Zalo does (compact JSON, signed unless ``signature`` given)."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        header = signature if signature is not None else self.sign(body, str(event.get("timestamp", "")))
        headers = {"Content-Type": "application/json", HEADER: header}
        return httpx.post(webhook_url, content=body, headers=headers, timeout=timeout)

    # --- the API ---------------------------------------------------------------------------------
    async def _send(self, request: Request) -> Response:
        token = request.headers.get("access_token", "")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": -201, "message": "Parameters are invalid"})
        recipient = str((body.get("recipient") or {}).get("user_id", ""))
        message = body.get("message") or {}
        attachment = message.get("attachment")
        buttons = []
        if isinstance(attachment, dict) and (attachment.get("payload") or {}).get("template_type") == "button":
            buttons = list(attachment["payload"].get("buttons") or [])
        record = {
            "user_id": recipient,
            "text": message.get("text", ""),
            "buttons": buttons,
            "attachment": attachment,
            "access_token": token,
        }
        with self._lock:
            valid = token == self.access_token and not token.startswith("expired-")
        error = 0
        if not valid:
            error = -216
        elif not recipient:
            error = -201
        elif recipient in self.unreachable:
            error = -213
        elif _too_long(record["text"], buttons):
            error = -201
        if error:
            with self._lock:
                self.rejected_sends.append({**record, "error": error})
            messages = {
                -216: "Access token is invalid",
                -213: "User has not interacted with the OA",
                -201: "Parameters are invalid",
            }
            return JSONResponse({"error": error, "message": messages[error]})
        with self._lock:
            self.sent_messages.append(record)
        return JSONResponse(
            {"error": 0, "message": "Success", "data": {"message_id": f"m{next(_ids)}", "user_id": recipient}}
        )

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        with self._lock:
            self.refresh_calls.append(params)
        if self.oauth_delay:
            await asyncio.sleep(self.oauth_delay)
        if request.headers.get("secret_key") != self.app_secret:
            return JSONResponse({"error": -14002, "error_name": "Invalid secret key"})
        if params.get("app_id") != self.app_id or params.get("grant_type") != "refresh_token":
            return JSONResponse({"error": -14003, "error_name": "Invalid parameter"})
        given = params.get("refresh_token", "")
        with self._lock:
            if given in self.used_refresh_tokens:
                return JSONResponse({"error": -14020, "error_name": "Refresh token was used"})
            if given != self.refresh_token:
                return JSONResponse({"error": -14014, "error_name": "Invalid refresh token"})
            self.used_refresh_tokens.add(given)
            self._generation += 1
            self.access_token = f"access-{self._generation}"
            self.refresh_token = f"refresh-{self._generation}"
            pair = {"access_token": self.access_token, "refresh_token": self.refresh_token, "expires_in": "90000"}
        return JSONResponse(pair)


def _too_long(text: str, buttons: list[dict[str, Any]]) -> bool:
    """Beyond Zalo's limits: 2,000 characters of text, 100 of a title, 1,000 of a button payload."""
    return len(text) > 2000 or any(
        len(b.get("title", "")) > 100 or len(str(b.get("payload", ""))) > 1000 for b in buttons
    )


# --- event builders (the webhook bodies Zalo posts) ---------------------------------------------------


def _base(name: str, user_id: str, app_id: str) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "event_name": name,
        "timestamp": str(int(time.time() * 1000)),
        "user_id_by_app": f"app-{user_id}",
    }


def text_event(user_id: str, text: str, msg_id: str | None = None, app_id: str = APP_ID) -> dict[str, Any]:
    return {
        **_base("user_send_text", user_id, app_id),
        "sender": {"id": user_id},
        "recipient": {"id": "579745863508352884"},
        "message": {"text": text, "msg_id": msg_id or f"msg{next(_ids):08d}"},
    }


def image_event(
    user_id: str, urls: list[str], text: str = "", msg_id: str | None = None, app_id: str = APP_ID
) -> dict[str, Any]:
    attachments = [{"type": "image", "payload": {"thumbnail": url, "url": url}} for url in urls]
    message: dict[str, Any] = {"msg_id": msg_id or f"msg{next(_ids):08d}", "attachments": attachments}
    if text:
        message["text"] = text
    return {
        **_base("user_send_image", user_id, app_id),
        "sender": {"id": user_id},
        "recipient": {"id": "579745863508352884"},
        "message": message,
    }


def location_event(user_id: str, latitude: float, longitude: float, app_id: str = APP_ID) -> dict[str, Any]:
    attachment = {
        "type": "location",
        "payload": {"coordinates": {"latitude": str(latitude), "longitude": str(longitude)}},
    }
    return {
        **_base("user_send_location", user_id, app_id),
        "sender": {"id": user_id},
        "recipient": {"id": "579745863508352884"},
        "message": {"msg_id": f"msg{next(_ids):08d}", "attachments": [attachment]},
    }


def follow_event(user_id: str, name: str = "follow", app_id: str = APP_ID) -> dict[str, Any]:
    """``follow`` or ``unfollow``: the user is in ``follower.id``."""
    return {
        **_base(name, user_id, app_id),
        "oa_id": "579745863508352884",
        "source": "oa_profile",
        "follower": {"id": user_id},
    }
