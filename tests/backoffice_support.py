"""Helpers for back-office tests: an app on a fresh database, staff users, logged-in clients.

bo = make_backoffice(tmp_path)            # or make_backoffice(tmp_path, url=store_url)
admin = bo.add_user("admin1", "admin")
client = bo.client(admin)                 # logged in; client.csrf is the session's CSRF token
client.post("/admin/...", data={"csrf_token": client.csrf, ...})
http, csrf = staff_http_client(engine, app.url)   # against tests/app_server.py's uvicorn app
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backoffice.auth import SESSION_COOKIE, StaffUser, create_user, load_session, start_session
from core.clock import Clock, system_clock
from core.db import create_all
from core.settings import Settings

PASSWORD = "mật khẩu thử nghiệm 2025"  # test accounts only
AGENCY = "UBND-P1"
OTHER_AGENCY = "UBND-P2"


class StaffClient(TestClient):
    """A TestClient that knows its session's CSRF token (``csrf``; empty when nobody is logged in)."""

    csrf: str = ""

    def form(self, url: str, data: dict[str, str] | None = None, **kwargs: object) -> object:
        """POST a form with the CSRF token added."""
        return self.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)  # type: ignore[arg-type]


@dataclass
class Backoffice:
    app: FastAPI
    engine: Engine
    settings: Settings

    def add_user(
        self, username: str, role: str, *, agency: str | None = AGENCY, full_name: str = "", password: str = PASSWORD
    ) -> StaffUser:
        with Session(self.engine) as session:
            user = create_user(
                session, username, password, role=role, agency=agency, full_name=full_name, now=system_clock()
            )
            session.commit()
            return user

    def client(self, user: StaffUser | None = None) -> StaffClient:
        """A client logged in as ``user`` (session made directly, no password check), or nobody."""
        client = StaffClient(self.app, follow_redirects=False)
        if user is not None:
            with Session(self.engine) as session:
                token = start_session(session, user, now=system_clock(), lifetime=timedelta(hours=1))
                session.commit()
                loaded = load_session(session, token, now=system_clock())
            assert loaded is not None
            client.cookies.set(SESSION_COOKIE, token)
            client.csrf = loaded[1]
        return client


def make_backoffice(tmp_path: Path, *, url: str | None = None, clock: Clock | None = None) -> Backoffice:
    """The whole application (motcua.app.create_app) on a fresh database with every table."""
    from motcua.app import create_app

    base = Settings.from_env()
    settings = dataclasses.replace(
        base, data_dir=tmp_path, database_url=url or f"sqlite:///{tmp_path / 'backoffice.db'}"
    )
    app = create_app(settings)
    engine = app.state.backoffice.engine  # the app's own engine (core.db.get_engine for this URL)
    create_all(engine)
    if clock is not None:
        app.state.backoffice.clock = clock
    return Backoffice(app, engine, settings)


def staff_http_client(engine: Engine, base_url: str, role: str = "officer") -> tuple[httpx.Client, str]:
    """A new ``role`` user logged in to an app served over HTTP (tests/app_server.py): (client, CSRF token)."""
    with Session(engine) as session:
        user = create_user(session, f"{role}-http", PASSWORD, role=role, agency=AGENCY, now=system_clock())
        token = start_session(session, user, now=system_clock(), lifetime=timedelta(hours=1))
        session.commit()
        loaded = load_session(session, token, now=system_clock())
    assert loaded is not None
    return httpx.Client(base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=30), loaded[1]
