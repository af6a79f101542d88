"""Bot turns for the dashboard: one row per citizen message the action server handled.

The text is stored as typed except personal numbers: phone numbers, CCCD/CMND numbers and any other
run of 8 or more digits are masked (``0912 345 678`` → ``09** *** ***``), so the dashboard's list of
unanswered questions never shows them.
"""

from __future__ import annotations

import re
from enum import Enum

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from core.clock import Clock, system_clock
from core.models import BotTurnRow
from knowledge_base.text import nfc

MAX_TEXT_CHARS = 1000
# A run of digits, possibly split by spaces, dots or dashes (+84 912.345.678, 0791 2345 6789).
_NUMBER_RE = re.compile(r"\+?\d(?:[\s.\-]?\d){7,}")


class TurnOutcome(str, Enum):
    ANSWERED = "answered"
    NOT_FOUND = "not_found"
    FALLBACK = "fallback"


def mask_numbers(text: str, *, all_digits: bool = False) -> str:
    """Mask phone and ID numbers (8+ digits: all but the first two digits); ``all_digits`` masks
    every digit (an answer to "the last 4 digits of your phone")."""
    if all_digits:
        return re.sub(r"\d", "*", text)

    def mask(match: re.Match[str]) -> str:
        seen = 0
        out = []
        for ch in match.group(0):
            if ch.isdigit():
                seen += 1
                out.append(ch if seen <= 2 else "*")
            else:
                out.append(ch)
        return "".join(out)

    return _NUMBER_RE.sub(mask, text)


class BotTurnStore:
    def __init__(self, engine: Engine, *, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.clock = clock

    def record(
        self,
        *,
        channel: str,
        sender_id: str,
        text: str,
        intent: str,
        confidence: float,
        outcome: TurnOutcome | str,
        procedure_code: str | None = None,
        mask_all_digits: bool = False,
    ) -> int:
        """Store one turn (text masked, at most MAX_TEXT_CHARS); returns its id."""
        row = BotTurnRow(
            channel=channel[:32],
            sender_id=sender_id[:128],
            text=mask_numbers(nfc(text or "").strip(), all_digits=mask_all_digits)[:MAX_TEXT_CHARS],
            intent=(intent or "")[:64],
            confidence=float(confidence or 0.0),
            outcome=TurnOutcome(outcome).value,
            procedure_code=procedure_code or None,
            at=self.clock(),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    def set_outcome(self, turn_id: int, outcome: TurnOutcome | str, procedure_code: str | None = None) -> None:
        """Correct a turn's outcome once the action that finished the turn knows it (e.g. a form's last
        answer was recorded as answered, then the lookup found nothing)."""
        values: dict[str, object] = {"outcome": TurnOutcome(outcome).value}
        if procedure_code is not None:
            values["procedure_code"] = procedure_code or None
        with Session(self.engine) as session, session.begin():
            session.execute(update(BotTurnRow).where(BotTurnRow.id == turn_id).values(**values))
