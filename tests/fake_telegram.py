"""A fake Telegram Bot API server on 127.0.0.1 that records what it receives and answers like the real one.

Usage (in a test or fixture)::

    from tests.fake_telegram import FakeTelegram

    with FakeTelegram() as tg:                 # or tg = FakeTelegram().start() ... tg.stop()
        settings: TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_BASE=tg.url
        ... the code under test calls tg.url + "/bot<token>/sendMessage" (python-telegram-bot or httpx)
        messages = tg.wait_for_messages(1, timeout=10)   # -> list of dicts, see below
        assert messages[0]["chat_id"] == "42" and "căn cước" in messages[0]["text"]

What it records (lists of plain dicts, append-only, safe to read from the test thread):
- ``sent_messages``: one per successful ``sendMessage``/``sendPhoto``: ``{"chat_id": str, "text": str,
  "reply_markup": dict | None, "message_id": int, "method": str, "photo": str | None}``.
- ``callback_answers``: the parameters of each ``answerCallbackQuery`` (``callback_query_id``, ``text``…).
- ``requests``: every call as ``(method, params)``; ``webhook``: the last ``setWebhook`` parameters
  (``None`` after ``deleteWebhook``).

Behaviour to provoke (like the real API):
- ``blocked_chats.add("42")``: sends to that chat answer 403 "Forbidden: bot was blocked by the user".
- ``fail_next(n, status=500)``: the next n send calls answer ``status`` (429 carries retry_after=1).
- a wrong token in the URL answers 401 Unauthorized; an unknown method 404.
- ``push_update(update)``: queue an update for ``getUpdates`` (long polling honours ``timeout``);
  ``getUpdates`` answers 409 Conflict while a webhook is set, as Telegram does.
- Files: ``add_file(file_id, content)`` makes ``getFile`` answer a ``file_path`` whose download
  (``/file/bot<token>/<file_path>``) serves ``content``; other ids get a small fake JPEG.
  ``fail_files(n, status=500, file_id=None)``: the next n ``getFile`` calls (for that id) fail.
  ``file_downloads`` lists the file paths downloaded.

Update builders for webhook tests: ``text_update``, ``photo_update``, ``callback_update`` (module functions).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_http import ThreadedServer, wait_until

DEFAULT_TOKEN = "123456789:AAFakeTokenForTests_abcdefghijklmnop"
BOT_ID = 123456789
_update_ids = itertools.count(900_000_001)
_message_ids = itertools.count(1)


class FakeTelegram:
    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.sent_messages: list[dict[str, Any]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.webhook: dict[str, Any] | None = None
        self.blocked_chats: set[str] = set()
        self._failures: list[int] = []
        self._file_failures: dict[str | None, list[int]] = {}  # file_id (None: any) -> statuses to answer
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.file_downloads: list[str] = []
        self._updates: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadedServer(
            Starlette(
                routes=[
                    Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                    Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
                ]
            )
        )

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The API base (what TELEGRAM_API_BASE is set to): methods live at ``{url}/bot<token>/<method>``."""
        return self._server.url

    def start(self) -> FakeTelegram:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls ---------------------------------------------------------------------------
    def fail_next(self, count: int = 1, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def add_file(self, file_id: str, content: bytes, suffix: str = ".jpg") -> None:
        with self._lock:
            self._files[file_id] = (f"photos/file_{len(self._files)}{suffix}", content)

    def fail_files(self, count: int = 1, status: int = 500, file_id: str | None = None) -> None:
        with self._lock:
            self._file_failures.setdefault(file_id, []).extend([status] * count)

    def push_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self._updates.append(update)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages were sent; return them all (fewer after the timeout)."""
        wait_until(lambda: len(self.sent_messages) >= count, timeout)
        return list(self.sent_messages)

    def messages_to(self, chat_id: str | int) -> list[dict[str, Any]]:
        return [m for m in self.sent_messages if m["chat_id"] == str(chat_id)]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.requests if name == method]

    # --- the API ---------------------------------------------------------------------------------
    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        with self._lock:
            self.requests.append((method, params))
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(params)

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.path_params["path"]
        with self._lock:
            self.file_downloads.append(path)
            content = next((data for file_path, data in self._files.values() if file_path == path), None)
        if content is None and not path.startswith("photos/unregistered/"):
            return Response(b"Not Found", status_code=404)
        return Response(content or b"\xff\xd8\xff\xe0fake-jpeg", media_type="image/jpeg")

    async def _m_getme(self, params: dict[str, Any]) -> Response:
        return _ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Một cửa (test)",
                "username": "motcua_test_bot",
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _m_sendmessage(self, params: dict[str, Any]) -> Response:
        return self._deliver("sendMessage", params)

    async def _m_sendphoto(self, params: dict[str, Any]) -> Response:
        return self._deliver("sendPhoto", params)

    def _deliver(self, method: str, params: dict[str, Any]) -> Response:
        chat_id = str(params.get("chat_id", ""))
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure == 429:
            return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        if failure is not None:
            return _error(failure, "Internal Server Error")
        if not chat_id:
            return _error(400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        text = str(params.get("text", params.get("caption", "")))
        if method == "sendMessage" and not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= 64:
                        return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        message_id = next(_message_ids)
        record = {
            "method": method,
            "chat_id": chat_id,
            "text": text,
            "reply_markup": markup if isinstance(markup, dict) else None,
            "photo": params.get("photo"),
            "message_id": message_id,
        }
        with self._lock:
            self.sent_messages.append(record)
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": _int_or_str(chat_id), "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Một cửa (test)"},
        }
        if method == "sendMessage":
            result["text"] = text
        if isinstance(markup, dict):
            result["reply_markup"] = markup
        return _ok(result)

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Response:
        if not params.get("callback_query_id"):
            return _error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        with self._lock:
            self.callback_answers.append(params)
        return _ok(True)

    async def _m_setwebhook(self, params: dict[str, Any]) -> Response:
        secret = str(params.get("secret_token", ""))
        if secret and not (1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        with self._lock:
            self.webhook = params if params.get("url") else None
        return _ok(True)

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Response:
        with self._lock:
            self.webhook = None
        return _ok(True)

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> Response:
        hook = self.webhook or {}
        return _ok(
            {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
                "allowed_updates": hook.get("allowed_updates", []),
            }
        )

    async def _m_getupdates(self, params: dict[str, Any]) -> Response:
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 30.0)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if offset:  # confirms (drops) every update below the offset, like Telegram
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates)
            if ready or time.monotonic() >= deadline:
                return _ok(ready[: int(params.get("limit") or 100)])
            await asyncio.sleep(0.05)

    async def _m_getfile(self, params: dict[str, Any]) -> Response:
        file_id = str(params.get("file_id", ""))
        with self._lock:
            queue = self._file_failures.get(file_id) or self._file_failures.get(None) or []
            failure = queue.pop(0) if queue else None
            registered = self._files.get(file_id)
        if failure is not None:
            return _error(failure, "Internal Server Error")
        if not file_id:
            return _error(400, "Bad Request: invalid file_id")
        path, size = (registered[0], len(registered[1])) if registered else (f"photos/unregistered/{file_id}.jpg", 12)
        return _ok({"file_id": file_id, "file_unique_id": f"u{file_id[-8:]}", "file_size": size, "file_path": path})


# --- update builders --------------------------------------------------------------------------------


def _user(user_id: int | str) -> dict[str, Any]:
    return {"id": int(user_id), "is_bot": False, "first_name": "Lan", "language_code": "vi"}


def _message(user_id: int | str, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": {"id": int(user_id), "type": "private", "first_name": "Lan"},
        "from": _user(user_id),
        **fields,
    }


def text_update(user_id: int | str, text: str, update_id: int | None = None) -> dict[str, Any]:
    """A private-chat text message from ``user_id`` (as Telegram posts it to the webhook)."""
    return {"update_id": update_id or next(_update_ids), "message": _message(user_id, text=text)}


def photo_update(
    user_id: int | str,
    file_ids: tuple[str, ...] = ("small-id", "medium-id", "large-id"),
    caption: str | None = None,
    update_id: int | None = None,
) -> dict[str, Any]:
    """A photo message: Telegram sends several sizes, smallest first (the last is the largest)."""
    sizes = [
        {
            "file_id": fid,
            "file_unique_id": f"u-{fid}",
            "width": 90 * (i + 1),
            "height": 90 * (i + 1),
            "file_size": 1000 * (i + 1) ** 2,
        }
        for i, fid in enumerate(file_ids)
    ]
    fields: dict[str, Any] = {"photo": sizes}
    if caption:
        fields["caption"] = caption
    return {"update_id": update_id or next(_update_ids), "message": _message(user_id, **fields)}


def callback_update(
    user_id: int | str, data: str, update_id: int | None = None, query_id: str | None = None
) -> dict[str, Any]:
    """A press on an inline keyboard button whose callback_data is ``data``."""
    update_id = update_id or next(_update_ids)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id or f"cbq-{update_id}",
            "from": _user(user_id),
            "chat_instance": "-100200300",
            "data": data,
            "message": {**_message(BOT_ID, text="…"), "chat": {"id": int(user_id), "type": "private"}},
        },
    }


# --- helpers ----------------------------------------------------------------------------------------


async def _params(request: Request) -> dict[str, Any]:
    """The call's parameters: JSON body, form (python-telegram-bot sends JSON-encoded values) or query."""
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        body = await request.body()
        if body:
            params.update(json.loads(body))
    elif "form" in content_type:
        form = await request.form()
        for key, value in form.items():
            params[key] = _maybe_json(value) if isinstance(value, str) else getattr(value, "filename", "file")
    return params


def _maybe_json(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


def _int_or_str(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=status)
