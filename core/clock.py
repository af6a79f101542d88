"""Time for the stores: one injectable clock (tests pass a ``ManualClock``), always timezone-aware UTC."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]  # returns an aware datetime


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime (SQLite gives those back) is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def local_date(moment: datetime, tz: str) -> date:
    """The calendar day at ``moment`` in the office's time zone (Asia/Ho_Chi_Minh by default)."""
    return as_utc(moment).astimezone(ZoneInfo(tz)).date()


def parse_moment(text: str, formats: Iterable[str], tz: str) -> datetime | None:
    """ISO 8601 or one of the strptime ``formats``; without an offset it is local time in ``tz``.
    Aware UTC, or None when ``text`` is none of these."""
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in formats:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed.astimezone(timezone.utc)


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        self.now = as_utc(start)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
