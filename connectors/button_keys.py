"""Button payloads kept server-side (table ``callback_keys``), for platforms that cannot carry them.

- Telegram: ``callback_data`` holds at most 64 bytes, so a button carries ``telegram_key(payload)`` (a
  short hash of the payload) and the payload is looked up when the button is pressed.
- Zalo: an ``oa.query.show`` button sends its payload back as a visible user message, so the button's
  payload is its title (what the citizen sees in the chat) and ``zalo_key(user, title)`` remembers which
  Rasa payload that title stood for in this user's conversation.

Keys are deterministic, so offering the same button twice writes nothing new.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import Clock, as_utc, system_clock
from core.models import CallbackKeyRow


def telegram_key(payload: str) -> str:
    """A 21-character key for ``payload`` (safe in callback_data: ASCII, well under 64 bytes)."""
    return "t" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def zalo_key(user_id: str, title: str) -> str:
    """The key of the button titled ``title`` offered to ``user_id`` (32 characters)."""
    return "z" + hashlib.sha256(f"{user_id}\x00{title}".encode()).hexdigest()[:31]


def remember(engine: Engine, channel: str, key: str, payload: str, title: str, clock: Clock = system_clock) -> None:
    """Store (or refresh) ``key`` → ``payload``; safe when several processes store the same key."""
    for _ in range(2):
        with Session(engine) as session:
            row = session.get(CallbackKeyRow, key)
            if row is None:
                session.add(CallbackKeyRow(key=key, channel=channel, payload=payload, title=title, created_at=clock()))
            else:
                row.channel, row.payload, row.title, row.created_at = channel, payload, title, clock()
            try:
                session.commit()
                return
            except IntegrityError:  # stored concurrently by another worker: update that row instead
                session.rollback()
    raise RuntimeError(f"could not store button key {key}")


def lookup(
    engine: Engine, channel: str, key: str, *, max_age: timedelta | None = None, clock: Clock = system_clock
) -> tuple[str, str] | None:
    """(payload, title) stored for ``key`` on ``channel`` (None when unknown or older than ``max_age``)."""
    with Session(engine) as session:
        row = session.execute(
            select(CallbackKeyRow).where(CallbackKeyRow.key == key, CallbackKeyRow.channel == channel)
        ).scalar_one_or_none()
        if row is None:
            return None
        if max_age is not None and as_utc(row.created_at) < clock() - max_age:
            return None
        return row.payload, row.title
