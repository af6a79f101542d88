"""What every skill form shares (dossier status, complaint, complaint status, feedback, message).

- "hủy" / "dừng lại" / "thôi" at any question stops the form: its slots are cleared, nothing is stored,
  and the action that follows the form says so (``form_stopped`` = ``cancelled``).
- Three invalid answers in a row → "continue or stop?" (slot ``form_continue``), as in RasaHQ's
  financial-demo custom form validation; "Tiếp tục" asks the pending question again.
- The form's questions are ``action_ask_<slot>`` actions (their text lives next to the skill's code).
- Each message the form handles is one dashboard turn (``actions.common.record_turn``).
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import get_stores, is_no, is_stop, is_yes, message_text, record_turn, sender_of
from core.bot_turns import TurnOutcome

REQUESTED_SLOT = "requested_slot"
INVALID_COUNT = "form_invalid_count"
CONTINUE = "form_continue"
STOPPED = "form_stopped"
CANCELLED, LOCKED = "cancelled", "locked"
MAX_INVALID = 3
Buttons = Sequence[dict[str, str]]


class GuardedForm(FormValidationAction):
    """Base of the skill forms' validation actions."""

    slots_in_order: tuple[str, ...] = ()  # the form's own slots, in the order they are asked
    private_slots: frozenset[str] = frozenset()  # answers never written to the dashboard as typed
    free_text_slots: frozenset[str] = frozenset()  # answers where only a whole stop phrase stops the form
    extra_slots: tuple[str, ...] = ()  # slots the form fills itself (cleared too when it stops)
    verified_lookup = False  # a lookup behind the lockout: a locked-out sender is stopped at activation

    @abstractmethod
    def name(self) -> str: ...

    def active_slots(self, tracker: Tracker) -> list[str]:
        """The slots this conversation needs (subclasses drop optional ones)."""
        return list(self.slots_in_order)

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot(STOPPED):
            return []
        slots = self.active_slots(tracker)
        if (tracker.get_slot(INVALID_COUNT) or 0) >= MAX_INVALID:
            return [CONTINUE, *slots]
        return slots

    async def next_requested_slot(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> EventType | None:
        """Always explicit: the first missing slot of ``required_slots``, None when done or stopped."""
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        return SlotSet(REQUESTED_SLOT, next((s for s in required if tracker.slots.get(s) is None), None))

    # --- hooks -----------------------------------------------------------------------------------
    def before_validation(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        """Slots to set before the answer is validated (attachments, a lock found at activation: a
        ``form_stopped`` value ends the form at once)."""
        if self.verified_lookup and tracker.get_slot(REQUESTED_SLOT) is None:
            return self._stop_if_locked(tracker)
        return {}

    @staticmethod
    def _stop_if_locked(tracker: Tracker) -> dict[str, Any]:
        """``form_stopped = locked`` when the sender is locked out of verified lookups (a store error:
        nothing; the lookup itself will tell the citizen the system is busy)."""
        sender = sender_of(tracker)
        try:
            locked = get_stores().lockout.state(sender.channel, sender.user_id).locked
        except Exception:
            return {}
        return {STOPPED: LOCKED} if locked else {}

    # --- helpers for validate_<slot> methods -----------------------------------------------------
    def stop(self, reason: str = CANCELLED) -> dict[str, Any]:
        """Slot values that end the form now, with every answer cleared (nothing half kept)."""
        values: dict[str, Any] = {slot: None for slot in (*self.slots_in_order, *self.extra_slots)}
        values.update({CONTINUE: None, INVALID_COUNT: 0, STOPPED: reason})
        return values

    @staticmethod
    def accept(slot: str, value: Any, **more: Any) -> dict[str, Any]:
        return {slot: value, INVALID_COUNT: 0, **more}

    @staticmethod
    def reject(
        dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, message: str, buttons: Buttons = ()
    ) -> dict[str, Any]:
        """An invalid answer: say why and ask again; three in a row → continue or stop. A prefilled value
        (not the answer to the question just asked) is dropped silently."""
        if tracker.get_slot(REQUESTED_SLOT) != slot:
            return {slot: None}
        dispatcher.utter_message(text=message, buttons=list(buttons))
        return {slot: None, INVALID_COUNT: int(tracker.get_slot(INVALID_COUNT) or 0) + 1}

    def accept_if(
        self, value: str | None, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, message: str,
        buttons: Buttons = (),
    ) -> dict[str, Any]:  # fmt: skip
        """``value`` (the answer, already parsed; None or "" when it could not be) accepted, else rejected."""
        if value:
            return self.accept(slot, value)
        return self.reject(dispatcher, tracker, slot, message, buttons)

    @staticmethod
    def just_answered(tracker: Tracker, slot: str) -> bool:
        return tracker.get_slot(REQUESTED_SLOT) == slot

    def validate_form_continue(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        if is_yes(tracker, text):
            return {CONTINUE: None, INVALID_COUNT: 0}
        if is_no(tracker, text) or is_stop(text):
            return self.stop(CANCELLED)
        dispatcher.utter_message(text='Dạ, anh/chị bấm "Tiếp tục" hoặc "Dừng lại" giúp em ạ.')
        return {CONTINUE: None}

    # --- the run -----------------------------------------------------------------------------------
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested and is_stop(message_text(tracker), exact=requested in self.free_text_slots):
            return [*_slot_events(self.stop(CANCELLED)), SlotSet(REQUESTED_SLOT, None)]
        early = self.before_validation(dispatcher, tracker)
        if early.get(STOPPED):
            return [*_slot_events({**self.stop(early[STOPPED]), **early}), SlotSet(REQUESTED_SLOT, None)]
        early_events = list(_slot_events(early))
        tracker.add_slots(early_events)
        events = [*early_events, *await super().run(dispatcher, tracker, domain)]
        if not any(_is_slot(e, INVALID_COUNT) for e in events):
            # Always set one slot: Rasa rejects a form turn in which nothing was set (an image without
            # text, say) and would then leave the form to other policies.
            events.append(SlotSet(INVALID_COUNT, tracker.get_slot(INVALID_COUNT) or 0))
        next_slot = next((e["value"] for e in reversed(events) if _is_slot(e, REQUESTED_SLOT)), None)
        if next_slot is not None:  # the form goes on; when it ends the action after it records the turn
            record_turn(tracker, TurnOutcome.ANSWERED, private=requested in self.private_slots)
        return events


def _is_slot(event: EventType, name: str) -> bool:
    return event.get("event") == "slot" and event.get("name") == name


def _slot_events(values: dict[str, Any]) -> Iterable[EventType]:
    return [SlotSet(k, v) for k, v in values.items()]


def reset_events(slots: Iterable[str]) -> list[EventType]:
    """What the action after a form returns to leave a clean slate for the next time."""
    return [
        *(SlotSet(s, None) for s in slots),
        SlotSet(STOPPED, None),
        SlotSet(INVALID_COUNT, 0),
        SlotSet(CONTINUE, None),
    ]


class AskAction(Action, ABC):
    """``action_ask_<slot>``: a form's question with optional buttons."""

    text: str = ""
    buttons: tuple[dict[str, str], ...] = ()

    @abstractmethod
    def name(self) -> str: ...

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text=self.text, buttons=list(self.buttons))
        return []


def ask_action(slot: str, text: str, buttons: Buttons = ()) -> type[AskAction]:
    """A concrete AskAction class for ``slot`` (registered by the action server like any other).

    The class is also bound under its own name in the calling module, so that it can be pickled (the
    action server's Sanic workers receive the actions that way)."""
    action_name = f"action_ask_{slot}"
    module = sys._getframe(1).f_globals["__name__"]
    class_name = f"AskAction_{slot}"
    cls = type(
        class_name,
        (AskAction,),
        {"name": lambda self: action_name, "text": text, "buttons": tuple(buttons), "__module__": module},
    )
    setattr(sys.modules[module], class_name, cls)
    return cls


ASK_CONTINUE = ask_action(
    CONTINUE,
    "Dạ, thông tin vẫn chưa đúng sau vài lần nhập. Anh/chị muốn tiếp tục hay dừng lại ạ?",
    [{"title": "Tiếp tục", "payload": "/affirm"}, {"title": "Dừng lại", "payload": "/deny"}],
)
