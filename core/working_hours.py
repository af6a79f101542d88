"""Officer working hours (giờ làm việc) and working-day arithmetic (Saturdays and Sundays off).

Public holidays are out of scope: an office that closes for Tết simply answers later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.clock import as_utc

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
VI_DAY_NAMES = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
_SPEC_RE = re.compile(r"^\s*(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+(?P<spans>.+)$")
_SPAN_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def add_working_days(start: date, days: int) -> date:
    """``start`` + ``days`` working days, skipping Saturdays and Sundays (Friday + 1 → Monday)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


@dataclass(frozen=True)
class OfficerHours:
    """When officers answer chats: weekdays (0 = Monday) and local-time spans, in one time zone."""

    weekdays: frozenset[int]
    spans: tuple[tuple[time, time], ...]
    tz: str = "Asia/Ho_Chi_Minh"

    @classmethod
    def parse(cls, spec: str, tz: str = "Asia/Ho_Chi_Minh") -> OfficerHours:
        """``"mon-fri 07:30-11:30,13:30-17:00"`` (days: ``mon-fri``, ``mon,wed,fri``, ``mon-fri,sat``)."""
        match = _SPEC_RE.match(spec.strip().lower())
        if not match:
            raise ValueError(f"officer hours {spec!r}: expected e.g. 'mon-fri 07:30-11:30,13:30-17:00'")
        weekdays: set[int] = set()
        for part in match["days"].split(","):
            first, _, last = part.partition("-")
            if first not in DAY_NAMES or (last and last not in DAY_NAMES):
                raise ValueError(f"officer hours {spec!r}: unknown day in {part!r}")
            a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
            weekdays.update(range(a, b + 1))
        spans: list[tuple[time, time]] = []
        for part in match["spans"].split(","):
            span = _SPAN_RE.match(part)
            if not span:
                raise ValueError(f"officer hours {spec!r}: bad time span {part!r}")
            h1, m1, h2, m2 = (int(x) for x in span.groups())
            begin, end = time(h1, m1), time(h2, m2)
            if end <= begin:
                raise ValueError(f"officer hours {spec!r}: span {part!r} ends before it starts")
            spans.append((begin, end))
        ZoneInfo(tz)  # fail early on a bad zone name
        return cls(frozenset(weekdays), tuple(sorted(spans)), tz)

    def _local(self, moment: datetime) -> datetime:
        return as_utc(moment).astimezone(ZoneInfo(self.tz))

    def is_on_duty(self, moment: datetime) -> bool:
        """Whether an officer is at work at ``moment`` (any aware datetime)."""
        local = self._local(moment)
        if local.weekday() not in self.weekdays:
            return False
        now = local.time()
        return any(begin <= now < end for begin, end in self.spans)

    def next_start(self, moment: datetime) -> datetime:
        """When officers are next at work (``moment`` itself if they are now), as aware UTC."""
        if self.is_on_duty(moment):
            return as_utc(moment)
        local = self._local(moment)
        zone = ZoneInfo(self.tz)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.weekdays:
                continue
            for begin, _end in self.spans:
                start = datetime.combine(day, begin, tzinfo=zone)
                if start > local:
                    return as_utc(start)
        raise ValueError("officer hours have no working time in a week")

    def describe(self) -> str:
        """Vietnamese summary for citizens: "thứ Hai đến thứ Sáu, 07:30–11:30 và 13:30–17:00"."""
        days = sorted(self.weekdays)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            day_text = f"{VI_DAY_NAMES[days[0]]} đến {VI_DAY_NAMES[days[-1]]}"
        else:
            day_text = ", ".join(VI_DAY_NAMES[d] for d in days)
        spans = " và ".join(f"{b:%H:%M}–{e:%H:%M}" for b, e in self.spans)
        return f"{day_text}, {spans}"


def describe_moment(moment: datetime, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """ "07:30 thứ Hai, 17/03/2025" in the office's time zone."""
    local = as_utc(moment).astimezone(ZoneInfo(tz))
    return f"{local:%H:%M} {VI_DAY_NAMES[local.weekday()]}, {local:%d/%m/%Y}"
