"""Drive the skill actions the way Rasa 3.6 does, without a Rasa server (the end-to-end tests use one).

``Chat`` keeps the slots of one conversation. ``chat.start(form, text)`` activates a form (prefilled
slots from entities are validated), ``chat.answer(text)`` is a citizen's answer while the form asks
(Rasa's ``from_text`` mapping fills the requested slot, then ``validate_<form>`` runs, then the next
question ``action_ask_<slot>`` or, when the form is done, the action after it). ``chat.run(name)``
runs any other action. Every step returns what the citizen reads.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

FORM_END_ACTIONS = {
    "dossier_status_form": "action_check_dossier_status",
    "complaint_form": "action_file_complaint",
    "complaint_status_form": "action_check_complaint_status",
    "feedback_form": "action_give_feedback",
    "handoff_message_form": "action_leave_message",
}
DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[1] / "domain.yml").read_text(encoding="utf-8"))
FORM_REQUIRED = {name: list(form["required_slots"]) for name, form in DOMAIN["forms"].items()}
_clock = itertools.count(1_700_000_000)
_executor = ActionExecutor()
_executor.register_package("actions")


def action(name: str) -> Any:
    """The registered action object called ``name``."""
    function = _executor.actions[name]
    return function.__self__


@dataclass
class Reply:
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(str(m.get("text") or "") for m in self.messages)

    @property
    def buttons(self) -> list[dict[str, str]]:
        return [b for m in self.messages for b in m.get("buttons") or []]

    @property
    def paused(self) -> bool:
        return any(e.get("event") == "pause" for e in self.events)


class Chat:
    def __init__(self, sender: str = "zalo:citizen-1") -> None:
        self.sender = sender
        self.slots: dict[str, Any] = {"form_invalid_count": 0}
        self.form: str | None = None
        self.session_start = float(next(_clock))
        self.events: list[dict[str, Any]] = [{"event": "session_started", "timestamp": self.session_start}]
        self.message: dict[str, Any] = {}

    # --- plumbing --------------------------------------------------------------------------------
    def _user(self, text: str, intent: str, metadata: dict[str, Any] | None, entities: list[dict[str, Any]]) -> None:
        self.message = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.93},
            "entities": entities,
            "metadata": metadata or {},
        }
        self.events.append({"event": "user", "timestamp": float(next(_clock)), "text": text, **self.message})

    def tracker(self, extra_events: list[dict[str, Any]] | None = None, slots: dict[str, Any] | None = None) -> Tracker:
        return Tracker(
            sender_id=self.sender,
            slots=dict(slots if slots is not None else self.slots),
            latest_message=dict(self.message),
            events=[*self.events, *(extra_events or [])],
            paused=False,
            followup_action=None,
            active_loop={"name": self.form} if self.form else {},
            latest_action_name="action_listen",
        )

    def _call(self, name: str, tracker: Tracker, reply: Reply) -> list[dict[str, Any]]:
        dispatcher = CollectingDispatcher()
        result = action(name).run(dispatcher, tracker, {"forms": {}, "slots": {}})
        events = asyncio.run(result) if inspect.isawaitable(result) else result
        reply.messages.extend(dispatcher.messages)
        reply.events.extend(events)
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        self.events.extend(events)
        return list(events)

    def _validate(self, form: str, candidates: dict[str, Any], reply: Reply, requested: str | None) -> None:
        domain = {"forms": {form: {"required_slots": FORM_REQUIRED[form]}}, "slots": {}}
        slot_events = [{"event": "slot", "name": k, "value": v, "timestamp": None} for k, v in candidates.items()]
        slots = {**self.slots, "requested_slot": requested, **candidates}
        tracker = self.tracker([{"event": "action", "name": form}, *slot_events], slots)
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action(f"validate_{form}").run(dispatcher, tracker, domain))
        reply.messages.extend(dispatcher.messages)
        reply.events.extend(events)
        self.slots.update(candidates)
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        self.events.extend(slot_events + events)
        nxt = self.slots.get("requested_slot")
        if nxt:
            self._call(f"action_ask_{nxt}", self.tracker(), reply)
        else:
            self.form = None
            self.slots["requested_slot"] = None
            self._call(FORM_END_ACTIONS[form], self.tracker(), reply)

    # --- what a citizen does -----------------------------------------------------------------------
    def start(
        self, form: str, text: str, *, intent: str = "", prefilled: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Reply:  # fmt: skip
        """A message that activates ``form`` (entities already mapped to ``prefilled``)."""
        self._user(text, intent, metadata, [])
        self.form = form
        self.slots["requested_slot"] = None
        filled = {k: self.slots[k] for k in FORM_REQUIRED[form] if self.slots.get(k) is not None}
        reply = Reply()
        self._validate(form, {**filled, **(prefilled or {})}, reply, None)
        return reply

    def answer(self, text: str, *, intent: str = "", metadata: dict[str, Any] | None = None) -> Reply:
        """An answer to the form's question (Rasa's from_text mapping fills the requested slot)."""
        assert self.form, "no active form"
        requested = self.slots.get("requested_slot")
        self._user(text, intent, metadata, [])
        reply = Reply()
        self._validate(self.form, {requested: text} if text else {}, reply, requested)
        return reply

    def run(self, name: str, text: str = "", *, intent: str = "", metadata: dict[str, Any] | None = None) -> Reply:
        """A message handled by one action (a rule: intent → action)."""
        self._user(text, intent, metadata, [])
        reply = Reply()
        self._call(name, self.tracker(), reply)
        return reply


def make_stores(tmp_path: Path, clock: Any, **settings_changes: Any) -> Any:
    """Real SQLite stores under ``tmp_path`` (demo dossiers seeded), installed for the actions."""
    import dataclasses

    from actions.common import build_stores, use_stores
    from core.db import create_all, make_engine
    from core.demo import seed_demo_dossiers
    from core.settings import Settings

    settings = dataclasses.replace(
        Settings.from_env(), data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'stores.db'}", **settings_changes
    )
    engine = make_engine(settings.database_url)
    create_all(engine)
    seed_demo_dossiers(engine, clock=clock, tz=settings.timezone)
    stores = build_stores(settings, engine, clock=clock)
    use_stores(stores)
    return stores
