"""The website chat channel: ``POST /api/chat``, history, a push stream (SSE) and the widget's files.

- ``POST /api/chat`` {"sender", "text"} (or {"sender", "payload", "title"} for a button) stores the message
  in the gateway's inbox and waits a few seconds for the bot's replies: {"messages": [...]}. When the bot
  is unavailable or an officer has the conversation it answers {"messages": [], "queued": true} and the
  replies come later through the stream.
- ``GET /api/chat/stream?sender=&after=`` (Server-Sent Events) pushes officer replies and late bot
  replies; a reconnecting browser sends ``Last-Event-ID`` and gets what it missed.
- ``GET /api/chat/history?sender=`` gives the transcript back (the widget restores it after a reload).
- ``/widget.js`` and ``/widget/demo`` serve the widget (connectors/static/).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import IncomingMessage, OutgoingMessage
from connectors.gateway import Gateway
from core.models import ChatMessageRow, OutboxMessageRow
from knowledge_base.text import nfc

CHANNEL = "webchat"
MAX_TEXT = 2000
REPLY_WAIT_SECONDS = 8.0  # how long POST /api/chat waits for the bot before answering "queued"
STREAM_SECONDS = 25.0  # a stream ends after this (the browser reconnects at once, Last-Event-ID)
HEARTBEAT_SECONDS = 10.0
HISTORY_LIMIT = 200
STATIC = Path(__file__).resolve().parent / "static"
SENDER_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CORS = {"Access-Control-Allow-Origin": "*"}

QUEUED_NOTICE = "Tin nhắn đã được ghi nhận. Chúng tôi sẽ trả lời anh/chị tại đây sớm nhất."
OFFICER_NOTICE = "Tin nhắn đã được chuyển tới cán bộ. Cán bộ sẽ trả lời anh/chị tại đây."


class WebchatHub:
    """The browsers connected to the push stream, per sender id."""

    def __init__(self) -> None:
        self._streams: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    def subscribe(self, sender_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._streams.setdefault(sender_id, set()).add(queue)
        return queue

    def unsubscribe(self, sender_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        streams = self._streams.get(sender_id)
        if streams is not None:
            streams.discard(queue)
            if not streams:
                del self._streams[sender_id]

    def publish(self, sender_id: str, event: dict[str, Any]) -> int:
        streams = self._streams.get(sender_id, set())
        for queue in streams:
            queue.put_nowait(event)
        return len(streams)


class WebchatSender:
    """Delivers by pushing to the citizen's open widget(s); a closed widget finds it in the history."""

    channel = CHANNEL
    max_text_length = 4000

    def __init__(self, hub: WebchatHub) -> None:
        self.hub = hub

    async def send(self, message: OutgoingMessage) -> None:
        self.hub.publish(message.recipient_id, message_json(message))


def public_author(author: str) -> str:
    """bot | officer | system | citizen (an officer's username is not shown to citizens)."""
    return author.split(":", 1)[0] or "bot"


def message_json(message: OutgoingMessage) -> dict[str, Any]:
    return {
        "id": f"o{message.outbox_id}" if message.outbox_id is not None else None,
        "text": message.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
        "image": message.image_url,
        "author": public_author(message.author),
    }


def _error(detail: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=CORS)


def _sender(value: object) -> str | None:
    return value if isinstance(value, str) and SENDER_ID.match(value) else None


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


router = APIRouter()


@router.options("/api/chat")
@router.options("/api/chat/history")
@router.options("/api/chat/stream")
async def chat_preflight() -> Response:
    return Response(
        status_code=204,
        headers={**CORS, "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                 "Access-Control-Allow-Headers": "Content-Type, Last-Event-ID", "Access-Control-Max-Age": "86400"},
    )  # fmt: skip


@router.post("/api/chat")
async def chat(request: Request) -> JSONResponse:
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error("Dữ liệu gửi lên không hợp lệ (cần JSON).")
    if not isinstance(body, dict):
        return _error("Dữ liệu gửi lên không hợp lệ (cần một đối tượng JSON).")
    sender = _sender(body.get("sender"))
    if sender is None:
        return _error("Mã phiên trò chuyện (sender) không hợp lệ: 8–64 ký tự chữ, số, '-' hoặc '_'.")
    payload, text = body.get("payload"), body.get("text")
    if any(value is not None and not isinstance(value, str) for value in (payload, text)):
        return _error("Nội dung tin nhắn phải là chuỗi ký tự.")
    content = nfc(payload if payload else text or "").strip()
    if not content:
        return _error("Tin nhắn trống. Anh/chị vui lòng nhập nội dung cần hỏi.")
    if len(content) > MAX_TEXT:
        return _error("Tin nhắn dài quá 2.000 ký tự. Anh/chị vui lòng rút gọn hoặc chia thành nhiều tin.")
    message_id = body.get("message_id")
    if message_id is not None and _sender(message_id) is None:
        return _error("Mã tin nhắn (message_id) không hợp lệ.")
    title = body.get("title") if isinstance(body.get("title"), str) else ""
    message = IncomingMessage(
        channel=CHANNEL,
        platform_message_id=message_id or uuid.uuid4().hex,
        sender_id=sender,
        kind="button" if payload else "text",
        text=content,
        payload={"title": nfc(title)[:200]} if payload and title else {},
    )
    wait = float(getattr(request.app.state, "webchat_reply_wait", REPLY_WAIT_SECONDS))
    try:
        reply = await _gateway(request).submit_and_wait(message, wait)
    except Exception:
        return _error("Hệ thống đang bận, anh/chị vui lòng gửi lại sau ít phút.", status=503)
    if reply.status == "done":
        return JSONResponse({"messages": [message_json(m) for m in reply.messages]}, headers=CORS)
    notice = OFFICER_NOTICE if reply.status == "officer" else QUEUED_NOTICE
    return JSONResponse(
        {"messages": [], "queued": True, "officer": reply.status == "officer", "notice": notice}, headers=CORS
    )


def _history(gateway: Gateway, sender: str) -> dict[str, Any]:
    with Session(gateway.engine) as session:
        rows = session.scalars(
            select(ChatMessageRow)
            .where(ChatMessageRow.channel == CHANNEL, ChatMessageRow.sender_id == sender)
            .order_by(ChatMessageRow.id.desc())
            .limit(HISTORY_LIMIT)
        ).all()
        cursor = session.scalar(
            select(OutboxMessageRow.id)
            .where(OutboxMessageRow.channel == CHANNEL, OutboxMessageRow.recipient_id == sender)
            .order_by(OutboxMessageRow.id.desc())
            .limit(1)
        )
    messages = []
    for row in reversed(rows):
        outbox_id = (row.payload or {}).get("outbox_id")
        messages.append(
            {
                "id": f"o{outbox_id}" if outbox_id is not None else f"t{row.id}",
                "direction": row.direction,
                "author": public_author(row.author),
                "text": row.text,
                "buttons": row.buttons or [],
                "image": (row.payload or {}).get("image_url"),
                "at": row.created_at.isoformat(),
            }
        )
    return {"messages": messages, "cursor": int(cursor or 0)}


@router.get("/api/chat/history")
async def history(request: Request, sender: str = "") -> JSONResponse:
    if _sender(sender) is None:
        return _error("Mã phiên trò chuyện (sender) không hợp lệ.")
    return JSONResponse(await asyncio.to_thread(_history, _gateway(request), sender), headers=CORS)


def _sent_after(gateway: Gateway, sender: str, after: int) -> list[OutboxMessageRow]:
    from connectors.outbox import SENT

    with Session(gateway.engine) as session:
        return list(
            session.scalars(
                select(OutboxMessageRow)
                .where(
                    OutboxMessageRow.channel == CHANNEL,
                    OutboxMessageRow.recipient_id == sender,
                    OutboxMessageRow.id > after,
                    OutboxMessageRow.status == SENT,
                )
                .order_by(OutboxMessageRow.id)
                .limit(HISTORY_LIMIT)
            )
        )


def _event(data: dict[str, Any]) -> str:
    event_id = str(data.get("id") or "")
    head = f"id: {event_id[1:]}\n" if event_id.startswith("o") else ""
    return f"{head}event: message\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/api/chat/stream")
async def stream(request: Request, sender: str = "", after: str = "") -> Response:
    if _sender(sender) is None:
        return _error("Mã phiên trò chuyện (sender) không hợp lệ.")
    last_seen = request.headers.get("last-event-id") or after
    since = int(last_seen) if last_seen.isdigit() else None
    hub: WebchatHub = request.app.state.webchat_hub
    gateway = _gateway(request)
    lifetime = float(getattr(request.app.state, "webchat_stream_seconds", STREAM_SECONDS))

    async def events() -> AsyncIterator[str]:
        from connectors.outbox import outgoing

        queue = hub.subscribe(sender)
        seen: set[str] = set()
        try:
            yield "retry: 1000\n: connected\n\n"
            if since is not None:
                for row in await asyncio.to_thread(_sent_after, gateway, sender, since):
                    data = message_json(outgoing(row))
                    seen.add(str(data["id"]))
                    yield _event(data)
            deadline = asyncio.get_running_loop().time() + lifetime
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    data = await asyncio.wait_for(queue.get(), min(HEARTBEAT_SECONDS, left))
                except asyncio.TimeoutError:
                    yield ": ping\n\n"
                    continue
                if str(data.get("id")) not in seen:
                    seen.add(str(data.get("id")))
                    yield _event(data)
        finally:
            hub.unsubscribe(sender, queue)

    headers = {**CORS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get("/widget.js", include_in_schema=False)
async def widget_js() -> FileResponse:
    return FileResponse(
        STATIC / "widget.js",
        media_type="application/javascript; charset=utf-8",
        headers={**CORS, "Cache-Control": "public, max-age=300"},
    )


@router.get("/widget/demo", include_in_schema=False)
async def widget_demo() -> FileResponse:
    return FileResponse(STATIC / "demo.html", media_type="text/html; charset=utf-8")
