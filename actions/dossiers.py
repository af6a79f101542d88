"""Dossier status (tra cứu hồ sơ): ``dossier_status_form`` asks for the code when it was not given,
then the last 4 digits of the phone registered on the dossier; ``action_check_dossier_status`` does
the verified lookup (``core.dossiers.DossierLookup``: a wrong code and wrong digits get the same
answer, 5 failures per sender in 15 minutes lock the lookup) and answers in plain Vietnamese without
any personal data; ``action_subscribe_dossier`` follows the dossier for this sender and channel
("báo cho tôi khi có kết quả").
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.common import (
    BUSY_TEXT,
    HUMAN_BUTTON,
    TurnOutcome,
    get_stores,
    intent_of,
    is_no,
    lock_text,
    message_text,
    record_turn,
    remaining_attempts,
    sender_of,
)
from actions.feedback import ask_feedback
from actions.forms import CANCELLED, LOCKED, REQUESTED_SLOT, STOPPED, GuardedForm, ask_action, reset_events
from core.dossiers import OVERDUE, DossierStatus, DossierStatusView, LookupOutcome, normalize_code
from core.notifications import subscribe
from core.phones import clean_last4
from core.working_hours import OfficerHours
from knowledge_base.text import fold, nfc

logger = logging.getLogger(__name__)

CODE, LAST4, VERIFIED = "dossier_code", "dossier_last4", "dossier_verified_code"
FORM_SLOTS = (CODE, LAST4)
SUBSCRIBE = "subscribe"  # form_stopped: the citizen asked to be notified about the dossier just shown
FLOW = "dossier"
# The formats provinces print on the receipt (giấy tiếp nhận hồ sơ và hẹn trả kết quả).
CODE_PATTERNS = (
    re.compile(
        r"\d{3}\s*\.\s*\d{2}\s*\.\s*\d{2}\s*\.\s*[A-Z]\d{2}\s*-\s*\d{6}\s*-\s*\d{4}"
    ),  # 000.00.25.H29-250312-0012
    re.compile(r"(?<![A-Z0-9.])[A-Z]\d{2}\s*\.\s*\d{2}\s*-\s*\d{6}\s*-\s*\d{4}"),  # H29.22-250312-0012
    re.compile(r"(?<![A-Z0-9.])[A-Z]\d{2}\s*\.\s*\d{4}\s*\.\s*\d{6}"),  # G01.2025.001234
)
# Another province's format: one token of letters, digits and separators with at least 4 digits.
_OTHER_CODE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/_]{5,39}$")
_PHONE_LIKE = re.compile(r"^\+?\d{9,12}$")
_SUBSCRIBE_WORDS = ("bao cho toi", "bao toi", "bao lai", "thong bao", "nhan tin", "bao khi co")
NOTIFY_STATUSES = {
    DossierStatus.RECEIVED.value, DossierStatus.PROCESSING.value, DossierStatus.NEEDS_SUPPLEMENT.value, OVERDUE,
}  # fmt: skip
NOTIFY_BUTTONS = (
    {"title": "Báo cho tôi khi có kết quả", "payload": "/affirm"},
    {"title": "Không cần", "payload": "/deny"},
)
RETRY_BUTTON = {"title": "Tra cứu lại", "payload": "/check_dossier_status"}
INCOMPLETE_TEXT = "Dạ, em chưa đủ mã hồ sơ và 4 số cuối điện thoại để tra cứu. Anh/chị thử lại giúp em ạ."
CHANNEL_NAMES = {"zalo": "Zalo", "telegram": "Telegram", "webchat": "khung chat trên website"}


def find_dossier_code(text: str) -> str | None:
    """The dossier code in what the citizen typed (any case, stray spaces), None when there is none."""
    upper = nfc(text or "").upper()
    for pattern in CODE_PATTERNS:
        match = pattern.search(upper)
        if match:
            return normalize_code(match.group(0))
    compact = normalize_code(upper)
    if _OTHER_CODE.match(compact) and sum(c.isdigit() for c in compact) >= 4 and not _PHONE_LIKE.match(compact):
        return compact
    return None


def office_contact() -> str:
    settings = get_stores().settings
    if settings.office_contact:
        return settings.office_contact
    hours = OfficerHours.parse(settings.officer_hours, settings.timezone)
    return f"Bộ phận Một cửa (giờ làm việc: {hours.describe()})"


def answer_text(view: DossierStatusView) -> str:
    """The reply: procedure, status, dates, what to do next; an apology and the contact when overdue."""
    text = view.message()
    if view.overdue:
        text += (
            "\nBộ phận Một cửa thành thật xin lỗi anh/chị vì hồ sơ bị chậm so với ngày hẹn. "
            f"Liên hệ: {office_contact()}."
        )
    return text


class ValidateDossierStatusForm(GuardedForm):
    slots_in_order = FORM_SLOTS
    private_slots = frozenset({LAST4})
    verified_lookup = True

    def name(self) -> str:
        return "validate_dossier_status_form"

    def before_validation(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        # Activation: "báo cho tôi khi có kết quả" right after a dossier was shown; or a locked sender.
        text = message_text(tracker)
        if (
            tracker.get_slot(REQUESTED_SLOT) is None
            and tracker.get_slot(VERIFIED)
            and any(w in fold(text) for w in _SUBSCRIBE_WORDS)
            and not find_dossier_code(text)
        ):
            return {STOPPED: SUBSCRIBE}
        return super().before_validation(dispatcher, tracker)

    def validate_dossier_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        code = find_dossier_code(text)
        if code:
            return self.accept(CODE, code)
        digits = re.sub(r"[\s.\-]", "", text)
        if _PHONE_LIKE.match(digits):
            message = (
                "Dạ, để tra cứu em cần mã hồ sơ in trên giấy tiếp nhận (không phải số điện thoại), ví dụ "
                "000.00.25.H29-250312-0012 ạ."
            )
        else:
            message = (
                "Dạ, mã hồ sơ chưa đúng định dạng. Mã in trên giấy tiếp nhận hồ sơ và hẹn trả kết quả, ví dụ "
                "000.00.25.H29-250312-0012, H29.22-250312-0012 hoặc G01.2025.001234. Anh/chị nhập lại giúp em ạ."
            )
        return self.reject(dispatcher, tracker, CODE, message)

    def validate_dossier_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.accept_if(
            clean_last4(str(value or "")), dispatcher, tracker, LAST4,
            "Dạ, anh/chị nhập đúng 4 chữ số cuối của số điện thoại đã đăng ký (ví dụ 5678) giúp em ạ.",
        )  # fmt: skip


def subscribe_verified(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Follow the dossier this conversation verified (per sender and channel)."""
    code = tracker.get_slot(VERIFIED)
    if not code:
        dispatcher.utter_message(
            text="Dạ, anh/chị tra cứu hồ sơ trước (gửi mã hồ sơ và 4 số cuối điện thoại), rồi em đăng ký báo "
            "kết quả cho anh/chị ạ."
        )
        return []
    stores = get_stores()
    sender = sender_of(tracker)
    try:
        with Session(stores.engine) as session, session.begin():
            subscribe(session, str(code), sender.channel, sender.user_id, clock=stores.clock)
    except Exception:
        logger.exception("dossier subscription failed")
        dispatcher.utter_message(text=BUSY_TEXT)
        return []
    where = CHANNEL_NAMES.get(sender.channel, "cuộc trò chuyện này")
    dispatcher.utter_message(
        text=f"Dạ, em đã ghi nhận. Khi hồ sơ {code} thay đổi tình trạng (ví dụ đã có kết quả), em sẽ nhắn "
        f"cho anh/chị qua {where} ạ."
    )
    return ask_feedback(dispatcher, tracker, flow=FLOW)


class ActionCheckDossierStatus(Action):
    def name(self) -> str:
        return "action_check_dossier_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done = reset_events(FORM_SLOTS)
        stopped = tracker.get_slot(STOPPED)
        stores = get_stores()
        sender = sender_of(tracker)
        if stopped == SUBSCRIBE:
            record_turn(tracker, TurnOutcome.ANSWERED)
            return [*done, *subscribe_verified(dispatcher, tracker)]
        if stopped == CANCELLED:
            record_turn(tracker, TurnOutcome.ANSWERED)
            dispatcher.utter_message(text="Dạ, em đã dừng tra cứu hồ sơ. Anh/chị cần hỗ trợ gì khác không ạ?")
            return done
        code, last4 = tracker.get_slot(CODE), tracker.get_slot(LAST4)
        try:
            if stopped == LOCKED:
                state = stores.lockout.state(sender.channel, sender.user_id)
                record_turn(tracker, TurnOutcome.ANSWERED)
                dispatcher.utter_message(text=lock_text(stores, state.retry_at), buttons=[HUMAN_BUTTON])
                return done
            if not code or not last4:
                record_turn(tracker, TurnOutcome.ANSWERED)
                dispatcher.utter_message(text=INCOMPLETE_TEXT, buttons=[RETRY_BUTTON])
                return done
            result = stores.dossiers.lookup(str(code), str(last4), channel=sender.channel, sender_id=sender.user_id)
        except Exception:
            logger.exception("dossier lookup failed")
            record_turn(tracker, TurnOutcome.ANSWERED, private=True)
            dispatcher.utter_message(text=BUSY_TEXT, buttons=[HUMAN_BUTTON])
            return done
        if result.outcome is LookupOutcome.FOUND and result.dossier is not None:
            return [*done, *self._found(dispatcher, tracker, result.dossier)]
        record_turn(tracker, TurnOutcome.NOT_FOUND, private=True)
        done.append(SlotSet(VERIFIED, None))
        if result.outcome is LookupOutcome.LOCKED:
            dispatcher.utter_message(text=lock_text(stores, result.retry_at), buttons=[HUMAN_BUTTON])
        elif result.outcome is LookupOutcome.UNAVAILABLE:
            dispatcher.utter_message(
                text="Dạ, hệ thống quản lý hồ sơ đang không phản hồi nên em chưa tra cứu được. Anh/chị vui lòng thử "
                "lại sau ít phút ạ.",
                buttons=[HUMAN_BUTTON],
            )
        else:
            self._not_found(dispatcher, sender)
        return done

    @staticmethod
    def _not_found(dispatcher: CollectingDispatcher, sender: Any) -> None:
        stores = get_stores()
        try:
            left = remaining_attempts(stores, sender)
        except Exception:
            left = 1
        if left <= 0:
            state = stores.lockout.state(sender.channel, sender.user_id)
            dispatcher.utter_message(text=lock_text(stores, state.retry_at), buttons=[HUMAN_BUTTON])
            return
        dispatcher.utter_message(
            text="Dạ, em không tìm thấy hồ sơ khớp với mã hồ sơ và 4 số cuối điện thoại anh/chị nhập. Anh/chị vui "
            "lòng kiểm tra lại mã trên giấy tiếp nhận và số điện thoại đã đăng ký khi nộp hồ sơ, rồi thử lại "
            f"(còn {left} lần thử).",
            buttons=[RETRY_BUTTON, HUMAN_BUTTON],
        )

    @staticmethod
    def _found(dispatcher: CollectingDispatcher, tracker: Tracker, view: DossierStatusView) -> list[EventType]:
        record_turn(tracker, TurnOutcome.ANSWERED, view.procedure_code or None, private=True)
        events: list[EventType] = [SlotSet(VERIFIED, view.code)]
        if view.status in NOTIFY_STATUSES:
            dispatcher.utter_message(text=answer_text(view))
            dispatcher.utter_message(
                text="Anh/chị có muốn em nhắn tin báo khi hồ sơ có kết quả không ạ?", buttons=list(NOTIFY_BUTTONS)
            )
            return events
        dispatcher.utter_message(text=answer_text(view))
        return [*events, *ask_feedback(dispatcher, tracker, flow=FLOW)]


class ActionSubscribeDossier(Action):
    """The answer to "Anh/chị có muốn em nhắn tin báo khi hồ sơ có kết quả không?"."""

    def name(self) -> str:
        return "action_subscribe_dossier"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        record_turn(tracker, TurnOutcome.ANSWERED)
        if intent_of(tracker)[0] == "deny" or is_no(tracker, message_text(tracker)):
            dispatcher.utter_message(text="Dạ vâng ạ.")
            return ask_feedback(dispatcher, tracker, flow=FLOW)
        return subscribe_verified(dispatcher, tracker)


ASK_CODE = ask_action(
    CODE,
    "Dạ, anh/chị vui lòng nhập mã hồ sơ in trên giấy tiếp nhận hồ sơ và hẹn trả kết quả (ví dụ: "
    "000.00.25.H29-250312-0012, H29.22-250312-0012 hoặc G01.2025.001234).",
)
ASK_LAST4 = ask_action(
    LAST4,
    "Để bảo vệ thông tin của người nộp, anh/chị vui lòng nhập 4 số cuối của số điện thoại đã đăng ký khi nộp hồ sơ.",
)
