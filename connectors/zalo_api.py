"""Zalo OA API: the OAuth token pair (single-use refresh tokens) and the consultation-message sender.

Tokens: the pair from ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN seeds the ``channel_tokens`` row once;
from then on the row is the truth. An access token lives ~25 h; a refresh token works once, so a refresh
runs under an asyncio lock (one per process) and a row lock (``SELECT … FOR UPDATE`` on PostgreSQL),
re-checks that nobody refreshed meanwhile, and replaces the pair in the same transaction.

Sending: ``POST {api}/v3.0/oa/message/cs`` with header ``access_token``. Zalo answers errors as HTTP 200
with a negative ``error``; -216 (or HTTP 401) means the access token expired: refresh once, retry once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors import button_keys
from connectors.base import Button, OutgoingMessage, SendError
from core.clock import Clock, as_utc, system_clock
from core.models import ChannelTokenRow
from knowledge_base.text import nfc

log = logging.getLogger(__name__)

CHANNEL = "zalo"
MAX_TEXT = 2000  # characters per consultation message (reported)
MAX_BUTTONS = 5  # buttons per template message
MAX_TITLE = 100  # characters of a button title (and therefore of its oa.query.show payload)
TOKEN_EXPIRED = -216
REFRESH_TOKEN_USED = -14020
# The user cannot be reached with a consultation message (no interaction / not a follower / silent too long).
UNREACHABLE = {
    -213: "user has not interacted with the OA",
    -201: "invalid recipient or parameters",
    -230: "user silent for more than 7 days (consultation window closed)",
}
# The same, for staff (connectors/outbox.py failure_text).
UNREACHABLE_REASONS = {
    -213: "Người dân chưa quan tâm (follow) hoặc chưa từng nhắn tin cho OA nên Zalo không cho gửi tin tư vấn.",
    -201: "Zalo báo người nhận hoặc nội dung không hợp lệ.",
    -230: "Người dân không nhắn cho OA quá 7 ngày nên Zalo không cho gửi tin tư vấn; "
    "cần gửi bằng tin ZNS hoặc liên hệ qua kênh khác.",
}
NO_TOKEN = "OA Zalo không có mã truy cập hợp lệ; quản trị viên cần cấp lại cặp token cho OA."
ZALO_UNAVAILABLE = "Không kết nối được Zalo, hoặc máy chủ Zalo báo lỗi."
EXPIRY_MARGIN = timedelta(minutes=5)


class ZaloAuthError(Exception):
    """The token pair could not be refreshed (an operator must issue a new pair)."""


@dataclass(frozen=True)
class ZaloCredentials:
    app_id: str
    app_secret: str
    access_token: str  # initial pair, used only to seed channel_tokens
    refresh_token: str
    api_base: str = "https://openapi.zalo.me"
    oauth_base: str = "https://oauth.zaloapp.com"


class ZaloTokenStore:
    def __init__(
        self, engine: Engine, credentials: ZaloCredentials, *, clock: Clock = system_clock, timeout: float = 10.0
    ) -> None:
        self._engine = engine
        self._credentials = credentials
        self._clock = clock
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self.refresh_count = 0  # successful refreshes by this process (for logs and tests)

    async def access_token(self) -> str:
        """The current access token (refreshed first when it is known to expire within 5 minutes)."""
        token, expires_at = await asyncio.to_thread(self._current)
        if expires_at is not None and expires_at - EXPIRY_MARGIN <= self._clock():
            return await self.refresh(token)
        return token

    async def refresh(self, stale_token: str) -> str:
        """Replace ``stale_token``; when another send already did, just return the newer token."""
        async with self._lock:
            return await asyncio.to_thread(self._refresh_sync, stale_token)

    # --- database side (runs in a worker thread) -------------------------------------------------
    def _current(self) -> tuple[str, datetime | None]:
        with Session(self._engine) as session:
            row = session.get(ChannelTokenRow, CHANNEL)
            if row is None:
                row = self._seed(session)
            return row.access_token, as_utc(row.expires_at) if row.expires_at else None

    def _seed(self, session: Session) -> ChannelTokenRow:
        """Insert the pair from the environment (once; another process may win the race)."""
        creds = self._credentials
        if not creds.access_token and not creds.refresh_token:
            raise ZaloAuthError("no Zalo token pair: set ZALO_ACCESS_TOKEN and ZALO_REFRESH_TOKEN")
        row = ChannelTokenRow(
            channel=CHANNEL,
            access_token=creds.access_token,
            refresh_token=creds.refresh_token,
            expires_at=None,
            updated_at=self._clock(),
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            existing = session.get(ChannelTokenRow, CHANNEL)
            assert existing is not None
            return existing
        return row

    def _refresh_sync(self, stale_token: str) -> str:
        self._current()  # the row exists from here on
        error: ZaloAuthError | None = None
        with Session(self._engine) as session, session.begin():
            row = session.execute(
                select(ChannelTokenRow).where(ChannelTokenRow.channel == CHANNEL).with_for_update()
            ).scalar_one()
            if row.access_token != stale_token:
                return row.access_token  # refreshed by a concurrent send meanwhile
            candidates = [row.refresh_token]
            env_refresh = self._credentials.refresh_token
            if env_refresh and env_refresh != row.refresh_token:
                candidates.append(env_refresh)  # an operator may have put a new pair in the environment
            for refresh_token in candidates:
                try:
                    access, refresh, expires_in = self._call_oauth(refresh_token)
                except ZaloAuthError as exc:
                    error = exc
                    continue
                row.access_token, row.refresh_token = access, refresh
                row.expires_at = self._clock() + timedelta(seconds=expires_in)
                row.updated_at = self._clock()
                self.refresh_count += 1
                log.info("zalo: access token refreshed (valid %d s)", expires_in)
                return access
        # Another process may have used the refresh token a moment before us: take its new pair.
        for _ in range(20):
            token, _expires = self._current()
            if token != stale_token:
                return token
            time.sleep(0.1)
        assert error is not None
        raise error

    def _call_oauth(self, refresh_token: str) -> tuple[str, str, int]:
        creds = self._credentials
        try:
            response = httpx.post(
                f"{creds.oauth_base.rstrip('/')}/v4/oa/access_token",
                headers={"secret_key": creds.app_secret},
                data={"refresh_token": refresh_token, "app_id": creds.app_id, "grant_type": "refresh_token"},
                timeout=self._timeout,
            )
            body: Any = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ZaloAuthError(f"token refresh failed: {type(exc).__name__}") from exc
        if not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
            code = body.get("error") if isinstance(body, dict) else None
            reason = "refresh token already used or expired" if code == REFRESH_TOKEN_USED else "rejected"
            log.error("zalo: token refresh %s (HTTP %s, error %s)", reason, response.status_code, code)
            raise ZaloAuthError(f"token refresh {reason} (error {code})")
        return str(body["access_token"]), str(body["refresh_token"]), int(body.get("expires_in") or 90000)


def message_bodies(message: OutgoingMessage) -> list[dict[str, Any]]:
    """The ``message`` objects to POST for one outgoing message (buttons in groups of ``MAX_BUTTONS``)."""
    bodies: list[dict[str, Any]] = []
    if message.image_url:
        media = {"template_type": "media", "elements": [{"media_type": "image", "url": message.image_url}]}
        bodies.append({"attachment": {"type": "template", "payload": media}})
    groups = [message.buttons[i : i + MAX_BUTTONS] for i in range(0, len(message.buttons), MAX_BUTTONS)]
    text = message.text
    if not groups:
        if text.strip():
            bodies.append({"text": text})
        return bodies
    for index, group in enumerate(groups):
        body: dict[str, Any] = {
            "text": "Các lựa chọn khác:" if index else (text if text.strip() else "Mời bạn chọn:"),
            "attachment": {
                "type": "template",
                "payload": {"template_type": "button", "buttons": [_button(b) for b in group]},
            },
        }
        bodies.append(body)
    return bodies


def button_title(button: Button) -> str:
    """What the citizen sees on the button and, once pressed, in the chat (≤ 100 characters)."""
    title = " ".join(nfc(button.title).split()) or button.payload
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def _button(button: Button) -> dict[str, str]:
    title = button_title(button)
    return {"title": title, "type": "oa.query.show", "payload": title}


class ZaloSender:
    """``ChannelSender`` for Zalo OA consultation messages."""

    channel = CHANNEL
    max_text_length = MAX_TEXT

    def __init__(
        self,
        tokens: ZaloTokenStore,
        engine: Engine,
        api_base: str,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._tokens = tokens
        self._engine = engine
        self._url = f"{api_base.rstrip('/')}/v3.0/oa/message/cs"
        self._client = client or httpx.AsyncClient(timeout=10.0)
        self._clock = clock

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, message: OutgoingMessage) -> None:
        if message.buttons:
            await asyncio.to_thread(self._remember_buttons, message)
        for body in message_bodies(message):
            await self._post({"recipient": {"user_id": message.recipient_id}, "message": body})

    def _remember_buttons(self, message: OutgoingMessage) -> None:
        for button in message.buttons:
            title = button_title(button)
            key = button_keys.zalo_key(message.recipient_id, title)
            button_keys.remember(self._engine, CHANNEL, key, button.payload, title, self._clock)

    async def _post(self, body: dict[str, Any]) -> None:
        try:
            token = await self._tokens.access_token()
        except ZaloAuthError as exc:
            raise SendError(str(exc), reason=NO_TOKEN) from exc
        status, error, detail = await self._call(token, body)
        if error == TOKEN_EXPIRED or status == 401:
            try:
                token = await self._tokens.refresh(token)
            except ZaloAuthError as exc:
                raise SendError(str(exc), reason=NO_TOKEN) from exc
            status, error, detail = await self._call(token, body)
        if status == 200 and error == 0:
            return
        if error in UNREACHABLE:
            raise SendError(
                f"zalo error {error}: {UNREACHABLE[error]}", retryable=False, reason=UNREACHABLE_REASONS[error]
            )
        if error == TOKEN_EXPIRED or status == 401:
            raise SendError("zalo: access token rejected even after a refresh", reason=NO_TOKEN)
        client_error = 400 <= status < 500 and status != 429
        raise SendError(
            f"zalo: HTTP {status}, error {error}: {detail}", retryable=not client_error, reason=ZALO_UNAVAILABLE
        )

    async def _call(self, token: str, body: dict[str, Any]) -> tuple[int, int | None, str]:
        """(HTTP status, Zalo ``error`` or None when absent/unparsable, message) of one POST."""
        try:
            response = await self._client.post(self._url, json=body, headers={"access_token": token})
        except httpx.HTTPError as exc:
            raise SendError(f"zalo: {type(exc).__name__}", reason=ZALO_UNAVAILABLE) from exc
        try:
            data = response.json()
        except ValueError:
            return response.status_code, None, "not JSON"
        if not isinstance(data, dict):
            return response.status_code, None, "unexpected body"
        try:
            error = int(data.get("error", -1))
        except (TypeError, ValueError):
            error = None
        return response.status_code, error, str(data.get("message", ""))[:200]
