"""Complaints and petitions (phản ánh, kiến nghị).

``complaint_form``: content → place / agency → optional name → phone (a Vietnamese number, or "bỏ qua"
for an anonymous petition) → consent (Nghị định 13/2023/NĐ-CP, asked only when a name or phone was
given, before anything is stored; refused: they are dropped) → read-back → "Gửi". Images the gateway
puts in the message metadata ({"attachments": [...]}) are collected while the form runs.

``action_file_complaint`` stores it with ``ComplaintService.submit``; only after the database has
confirmed the write is the citizen given the code. If it fails, the citizen is told it was NOT stored
and can send it again (the answers are kept for that).

``complaint_status_form`` + ``action_check_complaint_status``: code + last 4 phone digits (an anonymous
complaint: code only, from the chat account that sent it, and then the status without the reply).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import phonenumbers
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    BUSY_TEXT,
    HUMAN_BUTTON,
    TurnOutcome,
    attachments_of,
    get_stores,
    is_no,
    is_skip,
    is_yes,
    lock_text,
    record_turn,
    remaining_attempts,
    sender_of,
)
from actions.feedback import ask_feedback
from actions.forms import (
    CANCELLED,
    LOCKED,
    STOPPED,
    GuardedForm,
    ask_action,
    reset_events,
)
from core.complaints import (
    MAX_ATTACHMENTS,
    MAX_CONTENT_CHARS,
    ComplaintError,
    ComplaintNotStored,
    ContentTooLong,
    SubmittedComplaint,
    normalize_complaint_code,
)
from core.dossiers import LookupOutcome
from core.phones import InvalidPhone, clean_last4, normalize_vn_phone
from knowledge_base.text import nfc, syllables

logger = logging.getLogger(__name__)

CONTENT, PLACE, NAME, PHONE = "complaint_content", "complaint_place", "complaint_name", "complaint_phone"
CONSENT, CONFIRM, ATTACHMENTS = "complaint_consent", "complaint_confirm", "complaint_attachments"
FORM_SLOTS = (CONTENT, PLACE, NAME, PHONE, CONSENT, CONFIRM)
STATUS_CODE, STATUS_LAST4 = "complaint_code", "complaint_last4"
YES, NO = "yes", "no"
MIN_CONTENT_WORDS = 3
MAX_PLACE_CHARS = 500
MAX_NAME_CHARS = 100
PREVIEW_CHARS = 400
SKIP_BUTTON = {"title": "Bỏ qua", "payload": "bỏ qua"}
CONFIRM_BUTTONS = ({"title": "Gửi phản ánh", "payload": "/affirm"}, {"title": "Hủy", "payload": "/deny"})
STATUS_RETRY_BUTTON = {"title": "Tra cứu lại", "payload": "/check_complaint_status"}
_CODE_RE = re.compile(r"PA[\s\-_.]*\d{4}[\s\-_.]*\d{1,7}", re.IGNORECASE)
ANONYMOUS_WARNING = (
    "Dạ, anh/chị gửi phản ánh không kèm số điện thoại. Lưu ý: khi đó cơ quan chỉ trả lời được trong cuộc trò "
    "chuyện này, không liên hệ được với anh/chị bằng cách khác."
)


def national(phone: str) -> str:
    """ "+84912345678" → "0912 345 678" (how the citizen wrote it)."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(phone, "VN"), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return phone


def _thousands(number: int) -> str:
    return f"{number:,}".replace(",", ".")


# --- the complaint form ------------------------------------------------------------------------------
class ValidateComplaintForm(GuardedForm):
    slots_in_order = FORM_SLOTS
    extra_slots = (ATTACHMENTS,)
    private_slots = frozenset({NAME, PHONE})
    free_text_slots = frozenset({CONTENT, PLACE, NAME})

    def name(self) -> str:
        return "validate_complaint_form"

    def active_slots(self, tracker: Tracker) -> list[str]:
        name, phone = tracker.get_slot(NAME), tracker.get_slot(PHONE)
        if name == "" and phone == "":  # nothing personal given: no consent to ask
            return [s for s in FORM_SLOTS if s != CONSENT]
        return list(FORM_SLOTS)

    def before_validation(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        new = attachments_of(tracker)
        if not new:
            return {}
        kept = list(tracker.get_slot(ATTACHMENTS) or [])
        merged = list(dict.fromkeys([*kept, *new]))
        if len(merged) > MAX_ATTACHMENTS:
            dispatcher.utter_message(
                text=f"Dạ, mỗi phản ánh kèm tối đa {MAX_ATTACHMENTS} tệp; em giữ {MAX_ATTACHMENTS} tệp đầu tiên ạ."
            )
            merged = merged[:MAX_ATTACHMENTS]
        else:
            dispatcher.utter_message(text=f"Dạ, em đã nhận {len(new)} ảnh/tệp đính kèm (tổng cộng {len(merged)}).")
        return {ATTACHMENTS: merged}

    def validate_complaint_content(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = nfc(str(value or "")).strip()
        if len(text) > MAX_CONTENT_CHARS:
            return self.reject(dispatcher, tracker, CONTENT, str(ContentTooLong(len(text))))
        if len(syllables(text)) < MIN_CONTENT_WORDS or text.startswith("/"):
            return self.reject(
                dispatcher, tracker, CONTENT,
                "Dạ, anh/chị mô tả cụ thể hơn giúp em: chuyện gì đã xảy ra, ở đâu, khi nào ạ.",
            )  # fmt: skip
        return self.accept(CONTENT, text)

    def validate_complaint_place(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = nfc(str(value or "")).strip()
        if not text or (self.just_answered(tracker, PLACE) and is_skip(text)):
            return self.accept(PLACE, "")
        if len(text) > MAX_PLACE_CHARS:
            return self.reject(
                dispatcher,
                tracker,
                PLACE,
                f"Dạ, phần này anh/chị ghi ngắn gọn (dưới {MAX_PLACE_CHARS} ký tự) giúp em ạ.",
            )
        return self.accept(PLACE, text)

    def validate_complaint_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = nfc(str(value or "")).strip()
        if not text or (self.just_answered(tracker, NAME) and (is_skip(text) or text.startswith("/"))):
            return self.accept(NAME, "")
        if any(ch.isdigit() for ch in text) or len(text) > MAX_NAME_CHARS:
            return self.reject(
                dispatcher, tracker, NAME,
                "Dạ, họ tên không chứa chữ số và dưới 100 ký tự. Anh/chị nhập lại họ tên, hoặc bấm \"Không để lại "
                "tên\" ạ.",
                [{"title": "Không để lại tên", "payload": "bỏ qua"}],
            )  # fmt: skip
        return self.accept(NAME, text)

    def validate_complaint_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        answered = self.just_answered(tracker, PHONE)
        if not text or (answered and is_skip(text)):
            if answered:
                dispatcher.utter_message(text=ANONYMOUS_WARNING)
            return self.accept(PHONE, "")
        try:
            return self.accept(PHONE, normalize_vn_phone(text))
        except InvalidPhone as exc:
            return self.reject(
                dispatcher, tracker, PHONE,
                f"Dạ, {str(exc)[0].lower()}{str(exc)[1:]} Anh/chị nhập lại số di động hoặc cố định Việt Nam (ví dụ "
                "0912 345 678), hoặc bấm \"Bỏ qua\" để gửi ẩn danh ạ.",
                [SKIP_BUTTON],
            )  # fmt: skip

    def validate_complaint_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if not self.just_answered(tracker, CONSENT):
            return {CONSENT: text} if text in (YES, NO) else {CONSENT: None}
        if is_yes(tracker, text):
            return self.accept(CONSENT, YES)
        if is_no(tracker, text):
            dispatcher.utter_message(
                text="Dạ, em sẽ không lưu họ tên và số điện thoại của anh/chị. Anh/chị vẫn có thể gửi phản ánh ẩn "
                "danh (câu trả lời chỉ gửi vào cuộc trò chuyện này) hoặc hủy ạ."
            )
            return self.accept(CONSENT, NO, **{NAME: "", PHONE: ""})
        return self.reject(
            dispatcher, tracker, CONSENT, "Dạ, anh/chị bấm \"Đồng ý\" hoặc \"Không đồng ý\" giúp em ạ.",
            [{"title": "Đồng ý", "payload": "/affirm"}, {"title": "Không đồng ý", "payload": "/deny"}],
        )  # fmt: skip

    def validate_complaint_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if not self.just_answered(tracker, CONFIRM):
            return {CONFIRM: None}  # a read-back is always confirmed by the citizen, never carried over
        if is_yes(tracker, text):
            return self.accept(CONFIRM, YES)
        if is_no(tracker, text):
            return self.stop(CANCELLED)
        return self.reject(
            dispatcher, tracker, CONFIRM, "Dạ, anh/chị bấm \"Gửi phản ánh\" để gửi hoặc \"Hủy\" để hủy giúp em ạ.",
            CONFIRM_BUTTONS,
        )  # fmt: skip


def read_back(tracker: Tracker) -> str:
    content = str(tracker.get_slot(CONTENT) or "")
    preview = content if len(content) <= PREVIEW_CHARS else content[:PREVIEW_CHARS].rstrip() + "…"
    name, phone = tracker.get_slot(NAME) or "", tracker.get_slot(PHONE) or ""
    lines = [
        "Anh/chị kiểm tra lại phản ánh trước khi gửi:",
        f"• Nội dung ({_thousands(len(content))} ký tự): {preview}",
        f"• Nơi xảy ra / cơ quan, thủ tục: {tracker.get_slot(PLACE) or '(không ghi)'}",
        f"• Họ tên: {name or '(không để lại)'}",
        f"• Số điện thoại: {national(phone) if phone else '(không có, gửi ẩn danh)'}",
    ]
    attachments = tracker.get_slot(ATTACHMENTS) or []
    if attachments:
        lines.append(f"• Ảnh/tệp đính kèm: {len(attachments)}")
    if name or phone:
        lines.append("• Đồng ý cho cơ quan lưu họ tên, số điện thoại để xử lý phản ánh: có")
    lines.append('Anh/chị bấm "Gửi phản ánh" để gửi, hoặc "Hủy" nếu không gửi nữa.')
    return "\n".join(lines)


class ActionAskComplaintConfirm(Action):
    def name(self) -> str:
        return "action_ask_complaint_confirm"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text=read_back(tracker), buttons=list(CONFIRM_BUTTONS))
        return []


def receipt_text(submitted: SubmittedComplaint, *, has_phone: bool, working_days: int) -> str:
    how = "qua số điện thoại anh/chị để lại và trong cuộc trò chuyện này" if has_phone else "trong cuộc trò chuyện này"
    return (
        f"Dạ, phản ánh của anh/chị đã được tiếp nhận với mã {submitted.code}.\n"
        f"Phân loại ban đầu: {submitted.category_label}. Hạn trả lời: {submitted.due_date:%d/%m/%Y} "
        f"({working_days} ngày làm việc).\n"
        f"Tiếp theo: cán bộ sẽ xem xét, chuyển đến đơn vị có thẩm quyền và trả lời {how}. Anh/chị có thể tra cứu "
        f'tình trạng bằng mã {submitted.code} (ví dụ nhắn "tra cứu phản ánh {submitted.code}").'
    )


class ActionFileComplaint(Action):
    """After the form: store the complaint, then (and only then) give the code."""

    def name(self) -> str:
        return "action_file_complaint"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done = reset_events([*FORM_SLOTS, ATTACHMENTS])
        if tracker.get_slot(STOPPED) == CANCELLED or tracker.get_slot(CONFIRM) != YES:
            record_turn(tracker, TurnOutcome.ANSWERED)
            dispatcher.utter_message(
                text="Dạ, em đã hủy phản ánh này; không có thông tin nào được lưu. Anh/chị cần hỗ trợ gì khác không ạ?"
            )
            return done
        stores = get_stores()
        sender = sender_of(tracker)
        consent = tracker.get_slot(CONSENT) == YES
        name = str(tracker.get_slot(NAME) or "") if consent else ""
        phone = str(tracker.get_slot(PHONE) or "") if consent else ""
        record_turn(tracker, TurnOutcome.ANSWERED)
        try:
            submitted = stores.complaints.submit(
                str(tracker.get_slot(CONTENT) or ""),
                channel=sender.channel, sender_id=sender.user_id, consent=consent,
                name=name or None, phone=phone or None, place=str(tracker.get_slot(PLACE) or ""),
                attachments=list(tracker.get_slot(ATTACHMENTS) or []),
            )  # fmt: skip
        except (ComplaintError, InvalidPhone) as exc:  # the input (checked by the form already)
            dispatcher.utter_message(text=f"Dạ, {str(exc)[0].lower()}{str(exc)[1:]}")
            return done
        except ComplaintNotStored:
            logger.warning("complaint not stored (database unavailable); the citizen is asked to send it again")
            return self._retry(dispatcher)
        except Exception:
            logger.exception("complaint not stored")
            return self._retry(dispatcher)
        dispatcher.utter_message(
            text=receipt_text(submitted, has_phone=bool(phone), working_days=stores.settings.complaint_due_working_days)
        )
        return [*done, *ask_feedback(dispatcher, tracker, flow="complaint")]

    @staticmethod
    def _retry(dispatcher: CollectingDispatcher) -> list[EventType]:
        """Not stored: say so plainly; the answers are kept so "Gửi lại" shows the read-back again."""
        dispatcher.utter_message(
            text='Dạ, hệ thống đang bận nên phản ánh của anh/chị CHƯA được lưu. Anh/chị vui lòng bấm "Gửi lại" '
            "sau ít phút (nội dung đã nhập vẫn được giữ) ạ.",
            buttons=[{"title": "Gửi lại", "payload": "/file_complaint"}, HUMAN_BUTTON],
        )
        return [SlotSet(CONFIRM, None), SlotSet(STOPPED, None)]


# --- complaint status ----------------------------------------------------------------------------------
def find_complaint_code(text: str) -> str | None:
    match = _CODE_RE.search(nfc(text or ""))
    return normalize_complaint_code(match.group(0)) if match else None


class ValidateComplaintStatusForm(GuardedForm):
    slots_in_order = (STATUS_CODE, STATUS_LAST4)
    private_slots = frozenset({STATUS_LAST4})
    verified_lookup = True

    def name(self) -> str:
        return "validate_complaint_status_form"

    def validate_complaint_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.accept_if(
            find_complaint_code(str(value or "")), dispatcher, tracker, STATUS_CODE,
            "Dạ, mã phản ánh có dạng PA-2026-000123 (em đã gửi mã này khi tiếp nhận). Anh/chị nhập lại giúp em ạ.",
        )  # fmt: skip

    def validate_complaint_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        if is_skip(text):
            return self.accept(STATUS_LAST4, "")
        return self.accept_if(
            clean_last4(text), dispatcher, tracker, STATUS_LAST4,
            "Dạ, anh/chị nhập đúng 4 chữ số cuối của số điện thoại đã để lại (ví dụ 5678), hoặc bấm \"Không có số "
            "điện thoại\" nếu đã gửi ẩn danh ạ.",
            [{"title": "Không có số điện thoại", "payload": "bỏ qua"}],
        )  # fmt: skip


class ActionCheckComplaintStatus(Action):
    def name(self) -> str:
        return "action_check_complaint_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done = reset_events([STATUS_CODE, STATUS_LAST4])
        stopped = tracker.get_slot(STOPPED)
        if stopped == CANCELLED:
            record_turn(tracker, TurnOutcome.ANSWERED)
            dispatcher.utter_message(text="Dạ, em đã dừng tra cứu phản ánh. Anh/chị cần hỗ trợ gì khác không ạ?")
            return done
        stores = get_stores()
        sender = sender_of(tracker)
        code, last4 = tracker.get_slot(STATUS_CODE), tracker.get_slot(STATUS_LAST4)
        try:
            if stopped == LOCKED:
                state = stores.lockout.state(sender.channel, sender.user_id)
                record_turn(tracker, TurnOutcome.ANSWERED)
                dispatcher.utter_message(text=lock_text(stores, state.retry_at), buttons=[HUMAN_BUTTON])
                return done
            if not code or last4 is None:
                record_turn(tracker, TurnOutcome.ANSWERED)
                dispatcher.utter_message(
                    text="Dạ, em chưa đủ mã phản ánh và thông tin xác minh để tra cứu. Anh/chị thử lại giúp em ạ.",
                    buttons=[STATUS_RETRY_BUTTON],
                )
                return done
            result = stores.complaints.lookup(
                str(code), str(last4) or None, channel=sender.channel, sender_id=sender.user_id
            )
        except Exception:
            logger.exception("complaint lookup failed")
            record_turn(tracker, TurnOutcome.ANSWERED, private=True)
            dispatcher.utter_message(text=BUSY_TEXT, buttons=[HUMAN_BUTTON])
            return done
        if result.outcome is LookupOutcome.FOUND and result.complaint is not None:
            record_turn(tracker, TurnOutcome.ANSWERED, private=True)
            view = result.complaint
            if not last4:  # code only: the status, not the reply (it was sent to the chat that filed it)
                text = dataclasses.replace(view, reply_text="").message()
                if view.reply_text:
                    text += "\nPhản ánh đã có trả lời; nội dung trả lời đã được gửi vào cuộc trò chuyện này."
            else:
                text = view.message()
            dispatcher.utter_message(text=text)
            return [*done, *ask_feedback(dispatcher, tracker, flow="complaint_status")]
        record_turn(tracker, TurnOutcome.NOT_FOUND, private=True)
        if result.outcome is LookupOutcome.LOCKED:
            dispatcher.utter_message(text=lock_text(stores, result.retry_at), buttons=[HUMAN_BUTTON])
            return done
        try:
            left = remaining_attempts(stores, sender)
        except Exception:
            left = 1
        if left <= 0:
            state = stores.lockout.state(sender.channel, sender.user_id)
            dispatcher.utter_message(text=lock_text(stores, state.retry_at), buttons=[HUMAN_BUTTON])
            return done
        dispatcher.utter_message(
            text="Dạ, em không tìm thấy phản ánh khớp với mã và thông tin xác minh anh/chị nhập. Anh/chị kiểm tra "
            "lại mã phản ánh và 4 số cuối điện thoại đã để lại (phản ánh ẩn danh chỉ tra cứu được từ cuộc trò "
            f"chuyện đã gửi nó), rồi thử lại (còn {left} lần thử).",
            buttons=[STATUS_RETRY_BUTTON, HUMAN_BUTTON],
        )
        return done


ASK_CONTENT = ask_action(
    CONTENT,
    "Dạ, em sẵn sàng ghi nhận phản ánh, kiến nghị của anh/chị. Anh/chị vui lòng mô tả sự việc: chuyện gì đã xảy "
    'ra, khi nào (tối đa 5.000 ký tự); có thể gửi kèm ảnh. Gõ "hủy" nếu muốn dừng.',
)
ASK_PLACE = ask_action(
    PLACE,
    "Sự việc xảy ra ở đâu, liên quan đến cơ quan, bộ phận hoặc thủ tục nào ạ? (ví dụ: Bộ phận Một cửa UBND "
    "phường, thủ tục đăng ký khai sinh)",
    [SKIP_BUTTON],
)
ASK_NAME = ask_action(
    NAME,
    "Anh/chị có muốn để lại họ tên không ạ? (không bắt buộc)",
    [{"title": "Không để lại tên", "payload": "bỏ qua"}],
)
ASK_PHONE = ask_action(
    PHONE,
    "Anh/chị vui lòng cho biết số điện thoại để cơ quan liên hệ trả lời (ví dụ: 0912 345 678). Nếu muốn gửi ẩn "
    'danh, bấm "Bỏ qua": khi đó câu trả lời chỉ được gửi vào cuộc trò chuyện này.',
    [SKIP_BUTTON],
)
ASK_CONSENT = ask_action(
    CONSENT,
    "Theo Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân: anh/chị có đồng ý để cơ quan lưu và sử dụng họ tên, "
    "số điện thoại vừa cung cấp chỉ để xử lý và trả lời phản ánh này không ạ? Nếu không đồng ý, em sẽ không lưu "
    "các thông tin đó; phản ánh vẫn có thể gửi ẩn danh.",
    [{"title": "Đồng ý", "payload": "/affirm"}, {"title": "Không đồng ý", "payload": "/deny"}],
)
ASK_STATUS_CODE = ask_action(STATUS_CODE, "Anh/chị vui lòng nhập mã phản ánh đã nhận khi gửi (dạng PA-2026-000123).")
ASK_STATUS_LAST4 = ask_action(
    STATUS_LAST4,
    "Anh/chị vui lòng nhập 4 số cuối của số điện thoại đã để lại khi gửi phản ánh. Nếu đã gửi ẩn danh, bấm "
    '"Không có số điện thoại": em chỉ báo được tình trạng xử lý.',
    [{"title": "Không có số điện thoại", "payload": "bỏ qua"}],
)
