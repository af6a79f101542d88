"""The real app (``motcua.app.create_app``) in-process, for webhook tests of the platform adapters.

``build_app(tmp_path, monkeypatch, env)`` gives the app with a fresh SQLite database (every table) and a
clean channel environment plus ``env``. Its lifespan is NOT run, so the gateway stores accepted messages
in the inbox (its writer starts on demand) but never processes them: tests read the inbox as it was
acknowledged. ``with_client(app, scenario)`` runs requests through httpx's ASGI transport in one
event loop (the gateway's writer lives in it); ``call`` sends a single request.
For the full app with its workers running, use tests/app_server.py instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.db import create_all, get_engine
from core.models import InboxMessageRow
from core.settings import Settings

T = TypeVar("T")


def build_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[FastAPI, Engine]:
    from motcua.app import create_app

    for name in list(os.environ):
        if name.startswith(("ZALO_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    database_url = f"sqlite:///{tmp_path / 'channels.db'}"
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOTCUA_DATABASE_URL", database_url)
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")  # never called: the workers do not run
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    engine = get_engine(settings.database_url)
    create_all(engine)
    return create_app(settings), engine


def with_client(app: FastAPI, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``scenario(client)`` in one event loop, ``client`` talking to ``app`` through ASGI."""

    async def main() -> T:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await scenario(client)

    return asyncio.run(main())


def call(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request (its own event loop: use ``with_client`` for several)."""

    async def one(client: httpx.AsyncClient) -> httpx.Response:
        return await client.request(method, path, **kwargs)

    return with_client(app, one)


def inbox_rows(engine: Engine, channel: str) -> list[InboxMessageRow]:
    query = select(InboxMessageRow).where(InboxMessageRow.channel == channel).order_by(InboxMessageRow.id)
    with Session(engine) as session:
        return list(session.scalars(query))
