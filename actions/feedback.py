"""Satisfaction ratings (Nghị định 61/2018/NĐ-CP): Rất hài lòng / Hài lòng / Không hài lòng.

- ``ask_feedback``: after an answered question or a finished flow, the three levels as buttons, once per
  conversation (``FeedbackService.mark_asked``); the slots ``feedback_flow`` and ``procedure_code``
  say what the rating is about.
- ``feedback_form``: the level (a button, or words such as "rất hài lòng" in free text), then an
  optional comment when not satisfied. Free-text feedback at any time ("cán bộ hướng dẫn nhiệt tình
  quá") is kept as the comment.
- ``action_give_feedback`` stores it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    TurnOutcome,
    conversation_id,
    get_stores,
    is_skip,
    message_text,
    record_turn,
    sender_of,
)
from actions.forms import CANCELLED, REQUESTED_SLOT, STOPPED, GuardedForm, ask_action, reset_events
from core.feedback import MAX_COMMENT_CHARS, FeedbackError, SatisfactionLevel
from knowledge_base.text import fold

FLOW_SLOT = "feedback_flow"
LEVEL, COMMENT = "feedback_level", "feedback_comment"
FORM_SLOTS = (LEVEL, COMMENT)
PROMPT = (
    "Anh/chị vui lòng dành vài giây đánh giá mức độ hài lòng với sự hỗ trợ của Bộ phận Một cửa "
    "(theo Nghị định 61/2018/NĐ-CP) ạ:"
)


def level_payload(level: SatisfactionLevel) -> str:
    return "/give_feedback" + json.dumps({"level": level.value}, separators=(",", ":"))


LEVEL_BUTTONS = (
    {"title": "Rất hài lòng", "payload": level_payload(SatisfactionLevel.VERY_SATISFIED)},
    {"title": "Hài lòng", "payload": level_payload(SatisfactionLevel.SATISFIED)},
    {"title": "Không hài lòng", "payload": level_payload(SatisfactionLevel.DISSATISFIED)},
)
_PAYLOAD_RE = re.compile(r'^/give_feedback\{.*"level"\s*:\s*"([a-z_]+)".*\}$')
# Folded words → level, longest first ("không hài lòng" before "hài lòng").
_LEVEL_WORDS: tuple[tuple[str, SatisfactionLevel], ...] = (
    ("rat khong hai long", SatisfactionLevel.DISSATISFIED),
    ("khong hai long", SatisfactionLevel.DISSATISFIED),
    ("chua hai long", SatisfactionLevel.DISSATISFIED),
    ("ko hai long", SatisfactionLevel.DISSATISFIED),
    ("k hai long", SatisfactionLevel.DISSATISFIED),
    ("that vong", SatisfactionLevel.DISSATISFIED),
    ("rat hai long", SatisfactionLevel.VERY_SATISFIED),
    ("qua hai long", SatisfactionLevel.VERY_SATISFIED),
    ("hai long", SatisfactionLevel.SATISFIED),
)
_LEVEL_ONLY = {words for words, _ in _LEVEL_WORDS} | {"toi " + w for w, _ in _LEVEL_WORDS}


def parse_level(text: str) -> SatisfactionLevel | None:
    """The level in a button payload or in the citizen's words, None if there is none."""
    if text.strip() in {level.value for level in SatisfactionLevel}:
        return SatisfactionLevel(text.strip())
    match = _PAYLOAD_RE.match(text.strip())
    if match:
        try:
            return SatisfactionLevel(match.group(1))
        except ValueError:
            return None
    folded = " " + re.sub(r"[^\w\s]", " ", fold(text)) + " "
    folded = re.sub(r"\s+", " ", folded)
    for words, level in _LEVEL_WORDS:
        if f" {words} " in folded:
            return level
    return None


def is_free_comment(text: str) -> bool:
    """Text worth keeping as a comment: not a button payload and more than just a level."""
    if not text or text.startswith("/"):
        return False
    words = re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", fold(text))).strip()
    return words not in _LEVEL_ONLY and len(words.split()) >= 2


def ask_feedback(
    dispatcher: CollectingDispatcher, tracker: Tracker, *, flow: str, procedure_code: str | None = None
) -> list[EventType]:
    """Ask for a rating, once per conversation; returns the slots that say what it rates."""
    try:
        first = get_stores().feedback.mark_asked(conversation_id(tracker))
    except Exception:  # no rating question is better than a crash
        return []
    if not first:
        return []
    dispatcher.utter_message(text=PROMPT, buttons=list(LEVEL_BUTTONS))
    events: list[EventType] = [SlotSet(FLOW_SLOT, flow)]
    if procedure_code is not None:
        events.append(SlotSet("procedure_code", procedure_code))
    return events


class ActionAskFeedback(Action):
    """After thanks / before goodbye: ask once, if the conversation answered something."""

    def name(self) -> str:
        return "action_ask_feedback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        record_turn(tracker, TurnOutcome.ANSWERED)
        flow = tracker.get_slot(FLOW_SLOT)
        code = tracker.get_slot("procedure_code")
        if not flow and not code:
            return []
        return ask_feedback(dispatcher, tracker, flow=str(flow or "procedure"), procedure_code=code)


class ValidateFeedbackForm(GuardedForm):
    slots_in_order = FORM_SLOTS
    free_text_slots = frozenset({COMMENT})

    def name(self) -> str:
        return "validate_feedback_form"

    def active_slots(self, tracker: Tracker) -> list[str]:
        if tracker.get_slot(LEVEL) == SatisfactionLevel.DISSATISFIED.value:
            return [LEVEL, COMMENT]
        return [LEVEL]

    def before_validation(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        if tracker.get_slot(REQUESTED_SLOT) is not None:
            return {}
        # Activation: the level from the button or the words; free text is the comment.
        text = message_text(tracker)
        level = parse_level(text)
        values: dict[str, Any] = {}
        if level is not None:
            values[LEVEL] = level.value
        if is_free_comment(text):
            values[COMMENT] = text[:MAX_COMMENT_CHARS]
        return values

    def validate_feedback_level(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        level = parse_level(str(value or ""))
        if level is None:
            return self.reject(
                dispatcher, tracker, LEVEL,
                "Dạ, anh/chị chọn một trong ba mức: Rất hài lòng, Hài lòng hoặc Không hài lòng ạ.",
            )  # fmt: skip
        return self.accept(LEVEL, level.value)

    def validate_feedback_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if self.just_answered(tracker, COMMENT) and (is_skip(text) or text.startswith("/")):
            return self.accept(COMMENT, "")
        if len(text) > MAX_COMMENT_CHARS:
            return self.reject(
                dispatcher, tracker, COMMENT,
                f"Góp ý dài quá {MAX_COMMENT_CHARS} ký tự; anh/chị vui lòng rút gọn giúp em ạ.",
            )  # fmt: skip
        return self.accept(COMMENT, text)


class ActionGiveFeedback(Action):
    def name(self) -> str:
        return "action_give_feedback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done = [*reset_events(FORM_SLOTS)]
        if tracker.get_slot(STOPPED) == CANCELLED or not tracker.get_slot(LEVEL):
            record_turn(tracker, TurnOutcome.ANSWERED)
            dispatcher.utter_message(text="Dạ vâng, em đã bỏ qua phần đánh giá. Anh/chị cần hỗ trợ gì thêm không ạ?")
            return done
        stores = get_stores()
        sender = sender_of(tracker)
        flow = str(tracker.get_slot(FLOW_SLOT) or ("procedure" if tracker.get_slot("procedure_code") else "chat"))
        try:
            stores.feedback.record(
                str(tracker.get_slot(LEVEL)),
                channel=sender.channel, sender_id=sender.user_id, conversation_id=conversation_id(tracker),
                comment=str(tracker.get_slot(COMMENT) or ""), flow=flow,
                procedure_code=tracker.get_slot("procedure_code") if flow == "procedure" else None,
            )  # fmt: skip
        except FeedbackError as exc:
            dispatcher.utter_message(text=str(exc))
            return done
        except Exception:
            record_turn(tracker, TurnOutcome.ANSWERED)
            dispatcher.utter_message(
                text="Dạ, hệ thống đang bận nên em chưa lưu được đánh giá. Anh/chị vui lòng gửi lại sau ít phút ạ."
            )
            return done
        record_turn(tracker, TurnOutcome.ANSWERED)
        if tracker.get_slot(LEVEL) == SatisfactionLevel.DISSATISFIED.value:
            text = "Em cảm ơn anh/chị đã góp ý. Ý kiến của anh/chị đã được ghi nhận để Bộ phận Một cửa cải thiện ạ."
        else:
            text = "Em cảm ơn anh/chị đã đánh giá! Chúc anh/chị một ngày tốt lành ạ."
        dispatcher.utter_message(text=text)
        return [*done, SlotSet(FLOW_SLOT, None)]


ASK_LEVEL = ask_action(LEVEL, "Anh/chị đánh giá thế nào về sự hỗ trợ vừa rồi ạ?", LEVEL_BUTTONS)
ASK_COMMENT = ask_action(
    COMMENT,
    "Em rất tiếc vì anh/chị chưa hài lòng. Anh/chị có thể cho biết điều gì cần cải thiện không ạ? (không bắt buộc)",
    [{"title": "Bỏ qua", "payload": "bỏ qua"}],
)
