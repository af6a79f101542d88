"""Handoff to an officer (chuyển cán bộ) and the not-understood path.

- ``action_request_human``: an officer on duty (``OfficerHours`` from settings) → the conversation is
  queued (``HandoffService.request``), the citizen hears their place and the rough wait, and the bot
  pauses (``ConversationPaused``) until the officer returns the conversation. Outside working hours →
  when officers are back, and the offer to leave a message (``handoff_message_form``), which
  ``action_leave_message`` stores as a complaint-style ticket (category ``after_hours``).
- ``action_log_fallback``: records a message the bot did not understand (the two-stage fallback's
  second stage then offers an officer).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import BUSY_TEXT, TurnOutcome, get_stores, message_text, record_turn, sender_of
from actions.feedback import ask_feedback
from actions.forms import CANCELLED, STOPPED, GuardedForm, ask_action, reset_events
from core.complaints import MAX_CONTENT_CHARS, ComplaintError, ContentTooLong
from core.working_hours import describe_moment
from knowledge_base.text import nfc

logger = logging.getLogger(__name__)

MESSAGE = "handoff_message"
CATEGORY = "after_hours"
LEAVE_BUTTONS = (
    {"title": "Để lại lời nhắn", "payload": "/affirm"},
    {"title": "Không cần", "payload": "/deny"},
)


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        record_turn(tracker, TurnOutcome.ANSWERED)
        stores = get_stores()
        sender = sender_of(tracker)
        hours = stores.handoff.hours
        text = message_text(tracker)
        reason = "" if text.startswith("/") else text
        try:
            if not stores.handoff.on_duty_now():
                back = describe_moment(hours.next_start(stores.clock()), hours.tz)
                dispatcher.utter_message(
                    text=f"Dạ, hiện đang ngoài giờ làm việc của cán bộ ({hours.describe()}); cán bộ sẽ làm việc lại "
                    f"từ {back}. Anh/chị có muốn để lại lời nhắn không ạ? Cán bộ sẽ trả lời trong cuộc trò chuyện "
                    "này khi vào giờ làm việc.",
                    buttons=list(LEAVE_BUTTONS),
                )
                return []
            ticket = stores.handoff.request(sender.channel, sender.user_id, reason=reason)
        except Exception:
            logger.exception("handoff request failed")
            dispatcher.utter_message(text=BUSY_TEXT)
            return []
        dispatcher.utter_message(
            text="Dạ, em đã chuyển cuộc trò chuyện tới cán bộ Bộ phận Một cửa (đang trong giờ làm việc). "
            f"{ticket.message(hours)} Trong lúc chờ, anh/chị cứ nhắn nội dung cần hỗ trợ, cán bộ sẽ đọc được ạ."
        )
        return [ConversationPaused()]


class ValidateHandoffMessageForm(GuardedForm):
    slots_in_order = (MESSAGE,)
    free_text_slots = frozenset({MESSAGE})

    def name(self) -> str:
        return "validate_handoff_message_form"

    def validate_handoff_message(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = nfc(str(value or "")).strip()
        if len(text) > MAX_CONTENT_CHARS:
            return self.reject(dispatcher, tracker, MESSAGE, str(ContentTooLong(len(text))))
        if not text or text.startswith("/"):
            return self.reject(dispatcher, tracker, MESSAGE, "Dạ, anh/chị nhập nội dung lời nhắn giúp em ạ.")
        return self.accept(MESSAGE, text)


class ActionLeaveMessage(Action):
    """A message left outside working hours becomes a ticket the officers see with the complaints."""

    def name(self) -> str:
        return "action_leave_message"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done = reset_events([MESSAGE])
        record_turn(tracker, TurnOutcome.ANSWERED)
        if tracker.get_slot(STOPPED) == CANCELLED or not tracker.get_slot(MESSAGE):
            dispatcher.utter_message(text="Dạ vâng, em không gửi lời nhắn nào. Anh/chị cần hỗ trợ gì khác không ạ?")
            return done
        stores = get_stores()
        sender = sender_of(tracker)
        try:
            ticket = stores.complaints.submit(
                str(tracker.get_slot(MESSAGE)), channel=sender.channel, sender_id=sender.user_id, consent=False,
                category=CATEGORY,
            )  # fmt: skip
        except ComplaintError as exc:
            dispatcher.utter_message(text=str(exc))
            return done
        except Exception:
            logger.warning("after-hours message not stored")
            dispatcher.utter_message(
                text="Dạ, hệ thống đang bận nên lời nhắn của anh/chị CHƯA được lưu. Anh/chị vui lòng gửi lại sau ít "
                "phút ạ.",
                buttons=[{"title": "Gửi lại", "payload": "/request_human"}],
            )
            return []  # the message stays in its slot: "Gửi lại" sends it again
        hours = stores.handoff.hours
        back = describe_moment(hours.next_start(stores.clock()), hours.tz)
        dispatcher.utter_message(
            text=f"Dạ, em đã chuyển lời nhắn tới cán bộ (mã {ticket.code}). Cán bộ sẽ trả lời trong cuộc trò chuyện "
            f"này từ {back}, chậm nhất ngày {ticket.due_date:%d/%m/%Y}."
        )
        return [*done, *ask_feedback(dispatcher, tracker, flow="handoff")]


class ActionDefaultFallback(Action):
    """Rasa's core fallback (no policy is confident about the next step), overridden to record the turn;
    like the default it offers an officer (utter_default) and forgets the message it did not understand."""

    def name(self) -> str:
        return "action_default_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        record_turn(tracker, TurnOutcome.FALLBACK)
        dispatcher.utter_message(response="utter_default")
        return [UserUtteranceReverted()]


class ActionLogFallback(Action):
    def name(self) -> str:
        return "action_log_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        record_turn(tracker, TurnOutcome.FALLBACK)
        return []


ASK_MESSAGE = ask_action(
    MESSAGE,
    "Anh/chị vui lòng nhập lời nhắn cho cán bộ (nội dung cần hỗ trợ). Cán bộ sẽ trả lời trong cuộc trò chuyện này "
    "khi vào giờ làm việc.",
)
