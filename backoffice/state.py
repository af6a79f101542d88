"""What every back-office request needs: settings, the database, the clock (``app.state.backoffice``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, system_clock
from core.settings import Settings


@dataclass
class BackofficeState:
    settings: Settings
    engine: Engine
    clock: Clock = system_clock
    session_lifetime: timedelta = timedelta(hours=8)  # absolute lifetime of a staff login
    secure_cookies: bool = False  # Secure cookies even when the request looks like plain HTTP (behind a proxy)
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)


def get_state(request: Request) -> BackofficeState:
    state: BackofficeState = request.app.state.backoffice
    return state


def db(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one SQL session per request (handlers commit what they change)."""
    with get_state(request).sessions() as session:
        yield session


def client_address(request: Request) -> str:
    return (request.client.host if request.client else "")[:64]
