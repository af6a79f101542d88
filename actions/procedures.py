"""action_answer_procedure: answers a citizen's question about an administrative procedure.

The procedure comes from the citizen's own words (searched in the catalogue), a procedure code from a
disambiguation button, or the conversation (slot ``procedure_code``) for follow-ups such as "còn lệ
phí thì sao?". The aspect (documents, fee, …) comes from the ``aspect`` entity or the message text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import aspects as asp
from actions import formatting as fmt
from actions import resolution as res
from actions.common import TurnOutcome, record_turn
from actions.knowledge import get_catalogue
from knowledge_base import text as vn
from knowledge_base.model import Procedure

logger = logging.getLogger(__name__)

INTENT = "ask_procedure"
HUMAN_BUTTON = {"title": "Gặp cán bộ", "payload": "/request_human"}
MAX_ASPECTS = 3
FOLLOW_UP_BUTTONS = 4
BUTTON_TITLE_CHARS = 60


def payload(**entities: str) -> str:
    """ `/ask_procedure{"aspect":"fee"}` — the intent with entities, as Rasa parses button payloads."""
    return "/" + INTENT + json.dumps(entities, ensure_ascii=False, separators=(",", ":"))


def aspect_buttons(procedure: Procedure, exclude: Sequence[str], limit: int | None = None) -> list[dict[str, str]]:
    """Buttons for the aspects the catalogue has something to say about, except ``exclude``."""
    available = [a for a in asp.ASPECTS if a not in exclude and _has(procedure, a)]
    if limit is not None:
        available = available[:limit]
    return [{"title": asp.BUTTON_TITLES[a], "payload": payload(aspect=a)} for a in available]


def _has(procedure: Procedure, aspect: str) -> bool:
    checks = {
        asp.DOCUMENTS: any(c.documents for c in procedure.cases),
        asp.FEE: any(ch.fees for ch in procedure.channels),
        asp.DURATION: any(ch.times for ch in procedure.channels),
        asp.PLACE: bool(procedure.implementing_agencies or procedure.competent_agencies or procedure.channels),
        asp.STEPS: bool(procedure.steps),
        asp.CONDITIONS: bool(procedure.conditions),
        asp.LEGAL_BASIS: bool(procedure.legal_basis),
        asp.RESULT: bool(procedure.results),
        asp.FORM: any(d.form for c in procedure.cases for d in c.documents),
    }
    return checks[aspect]


def entity_values(message: dict[str, Any], entity: str) -> list[str]:
    return [
        str(e.get("value")).strip()
        for e in message.get("entities") or []
        if e.get("entity") == entity and e.get("value") not in (None, "")
    ]


def asked_aspects(message: dict[str, Any], text: str, previous: str | None) -> list[str]:
    """Aspects from the entity, then from the text; "còn … thì sao?" with none asks the previous one."""
    found = [a for a in (asp.normalize_aspect(v) for v in entity_values(message, "aspect")) if a]
    if text and not text.startswith("/"):
        found.extend(asp.detect_aspects(text))
    found = list(dict.fromkeys(found))
    if not found and text and asp.is_contrastive(text) and asp.normalize_aspect(previous):
        found = [str(asp.normalize_aspect(previous))]
    return found[:MAX_ASPECTS]


class ActionAnswerProcedure(Action):
    def name(self) -> str:
        return "action_answer_procedure"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        text = vn.nfc(str(message.get("text") or "")).strip()
        aspects = asked_aspects(message, text, tracker.get_slot("aspect"))
        try:
            catalogue = get_catalogue()
            resolution = res.resolve(
                catalogue,
                text=text,
                entity_values=entity_values(message, "procedure"),
                context_code=tracker.get_slot("procedure_code"),
            )
        except Exception:  # the catalogue is down: say so, never leave the citizen without a reply
            logger.exception("procedure lookup failed")
            record_turn(tracker, TurnOutcome.NOT_FOUND)
            dispatcher.utter_message(
                text="Dạ, hệ thống tra cứu thủ tục đang gặp sự cố, anh/chị vui lòng thử lại sau ít phút "
                "hoặc gặp cán bộ Bộ phận Một cửa ạ.",
                buttons=[HUMAN_BUTTON],
            )
            return []
        logger.info("ask_procedure %r → %s %s", text, resolution.kind,
                    resolution.procedure.code if resolution.procedure else "")
        answered = resolution.kind != res.NOT_FOUND
        record_turn(tracker, TurnOutcome.ANSWERED if answered else TurnOutcome.NOT_FOUND,
                    resolution.procedure.code if resolution.procedure and resolution.kind == res.ANSWER else None)
        return self._reply(dispatcher, resolution, aspects, text)

    def _reply(
        self, dispatcher: CollectingDispatcher, resolution: res.Resolution, aspects: list[str], text: str
    ) -> list[EventType]:
        if resolution.kind == res.ANSWER and resolution.procedure is not None:
            return self._answer(dispatcher, resolution.procedure, aspects, text)
        if resolution.kind in (res.CHOOSE, res.UNSURE):
            first = {"aspect": aspects[0]} if aspects else {}
            buttons = [
                {
                    "title": f"{fmt.shorten(hit.name, BUTTON_TITLE_CHARS)} ({hit.code})",
                    "payload": payload(procedure=hit.code, **first),
                }
                for hit in resolution.candidates
            ]
            if resolution.kind == res.UNSURE:
                buttons.append(HUMAN_BUTTON)
            candidates = [(hit.code, hit.name) for hit in resolution.candidates]
            dispatcher.utter_message(
                text=fmt.choice_text(candidates, aspects[0] if aspects else None,
                                     unsure=resolution.kind == res.UNSURE),
                buttons=buttons,
            )
            return []
        if resolution.kind == res.ASK_WHICH:
            dispatcher.utter_message(text=fmt.which_procedure_text(aspects))
            return []
        shown = "" if text.startswith("/") else text
        dispatcher.utter_message(text=fmt.not_found_text(shown), buttons=[HUMAN_BUTTON])
        return [SlotSet("procedure_code", None)]

    @staticmethod
    def _answer(
        dispatcher: CollectingDispatcher, procedure: Procedure, aspects: list[str], text: str
    ) -> list[EventType]:
        hint = "" if text.startswith("/") else text
        if aspects:
            messages = fmt.aspect_answer(procedure, aspects, hint)
            buttons = aspect_buttons(procedure, exclude=aspects, limit=FOLLOW_UP_BUTTONS)
        else:
            messages = fmt.summary_answer(procedure)
            buttons = aspect_buttons(procedure, exclude=())
        for i, message in enumerate(messages):
            if i == len(messages) - 1:
                dispatcher.utter_message(text=message, buttons=buttons)
            else:
                dispatcher.utter_message(text=message)
        return [
            SlotSet("procedure_code", procedure.code),
            SlotSet("aspect", aspects[0] if aspects else None),
        ]
