"""What the platform adapters (connectors/zalo.py, connectors/telegram.py) share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.base import ChannelSender, IncomingMessage

# What a citizen who just followed the OA or pressed Telegram's Start "says" to Rasa: the welcome.
WELCOME_TRIGGER = "/greet"


class GatewayLike(Protocol):
    """The part of ``connectors.gateway.Gateway`` an adapter uses."""

    async def accept(self, message: IncomingMessage) -> bool: ...  # False: a duplicate

    def add_sender(self, sender: ChannelSender) -> None: ...


def add_webhook(app: Starlette, path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
    """``POST path`` as a plain route, matched before the API and back-office routers.

    A webhook reads its raw body itself (the signature is over the bytes), so FastAPI's parameter and
    dependency layer would only add work — about as much as the rest of the app's request handling —
    on the path whose ack the platform times. Call it before including the other routers."""
    app.router.routes.append(Route(path, endpoint, methods=["POST"], include_in_schema=False))


def add_lifespan(
    app: Starlette,
    *,
    startup: Callable[[], Awaitable[None]] | None = None,
    shutdown: Callable[[], Awaitable[None]] | None = None,
    close: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Around the app's own lifespan: ``startup`` after its start-up, ``shutdown`` before its shutdown
    (stop feeding the gateway), ``close`` after it (the gateway has stopped using the senders)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        try:
            async with inner(application) as state:
                if startup is not None:
                    await startup()
                try:
                    yield state
                finally:
                    if shutdown is not None:
                        await shutdown()
        finally:
            if close is not None:
                await close()

    app.router.lifespan_context = lifespan
