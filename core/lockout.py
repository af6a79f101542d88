"""Lockout for verified lookups: at most N failed attempts per sender in a sliding window.

A failed attempt is a wrong code *or* a wrong verification factor: both look the same to the citizen,
so nobody can learn which dossier or complaint codes exist. Successful lookups are recorded too (for
the audit trail) but do not reset the count, so a citizen with one valid code cannot use it to keep
probing others. While locked nothing is recorded, so the lock ends on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from core.clock import Clock, as_utc, system_clock
from core.models import VerificationAttemptRow


@dataclass(frozen=True)
class LockState:
    locked: bool
    failures: int  # failed attempts in the current window
    retry_at: datetime | None  # when a locked sender may try again (aware UTC)


class Lockout:
    def __init__(
        self,
        engine: Engine,
        *,
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
        clock: Clock = system_clock,
    ) -> None:
        self.engine = engine
        self.max_failures = max_failures
        self.window = window
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Any, engine: Engine, *, clock: Clock = system_clock) -> Lockout:
        """The lockout of ``settings`` (``lockout_max_failures`` within ``lockout_window_minutes``)."""
        return cls(
            engine,
            max_failures=settings.lockout_max_failures,
            window=timedelta(minutes=settings.lockout_window_minutes),
            clock=clock,
        )

    def state(self, channel: str, sender_id: str) -> LockState:
        since = self.clock() - self.window
        with Session(self.engine) as session:
            recent = session.scalars(
                select(VerificationAttemptRow.at)
                .where(
                    VerificationAttemptRow.channel == channel,
                    VerificationAttemptRow.sender_id == sender_id,
                    VerificationAttemptRow.succeeded.is_(False),
                    VerificationAttemptRow.at > since,
                )
                .order_by(VerificationAttemptRow.at.desc())
                .limit(self.max_failures)
            ).all()
        if len(recent) < self.max_failures:
            return LockState(False, len(recent), None)
        # Locked until the oldest of the last N failures leaves the window.
        return LockState(True, len(recent), as_utc(recent[-1]) + self.window)

    def record(self, channel: str, sender_id: str, scope: str, *, succeeded: bool) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                VerificationAttemptRow(
                    channel=channel, sender_id=sender_id, scope=scope, succeeded=succeeded, at=self.clock()
                )
            )

    def purge(self, older_than: timedelta = timedelta(days=30)) -> int:
        """Delete attempts older than ``older_than`` (they no longer matter for any lock)."""
        cutoff = self.clock() - older_than
        with Session(self.engine) as session, session.begin():
            result = session.execute(delete(VerificationAttemptRow).where(VerificationAttemptRow.at < cutoff))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
