"""Complaints: the form (content, place, name, phone, consent, read-back), storing before acknowledging,
the database failing at the last step, and the status lookup; on a real SQLite store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.common import use_stores
from core.clock import ManualClock
from core.complaints import ComplaintService
from core.db import make_engine
from core.models import ComplaintRow
from tests.action_driver import Chat, make_stores
from tests.local_services import free_port

FORM = "complaint_form"
CONTENT = "Cán bộ tiếp nhận hồ sơ ở quầy số 2 thu thêm 200.000 đồng mà không đưa biên lai."
CODE = re.compile(r"PA-\d{4}-\d{6}")


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 18, 3, 0, tzinfo=timezone.utc))


@pytest.fixture()
def stores(tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    built = make_stores(tmp_path, clock)
    yield built
    use_stores(None)
    built.engine.dispose()


def rows(stores: Any) -> list[ComplaintRow]:
    with Session(stores.engine) as session:
        return list(session.scalars(select(ComplaintRow).order_by(ComplaintRow.id)))


def fill(chat: Chat, *, name: str = "Trần Văn Bình", phone: str = "0912 345 678") -> None:
    chat.start(FORM, "tôi muốn phản ánh", intent="file_complaint")
    chat.answer(CONTENT)
    chat.answer("Bộ phận Một cửa UBND phường Dịch Vọng")
    chat.answer(name)
    chat.answer(phone)


def test_complaint_is_stored_before_the_code_is_given(stores: Any) -> None:
    chat = Chat()
    asked = chat.start(FORM, "tôi muốn phản ánh", intent="file_complaint")
    assert "mô tả sự việc" in asked.text and "5.000" in asked.text
    image = chat.answer("", metadata={"attachments": ["https://zalo.example/img/1.jpg"]})
    assert "đã nhận 1 ảnh" in image.text and chat.slots["requested_slot"] == "complaint_content"
    chat.answer(CONTENT, metadata={"attachments": [{"url": "https://zalo.example/img/2.jpg"}]})
    chat.answer("Bộ phận Một cửa UBND phường Dịch Vọng")
    chat.answer("Trần Văn Bình")
    consent_question = chat.answer("0912 345 678")
    assert "Nghị định 13/2023/NĐ-CP" in consent_question.text
    assert rows(stores) == []  # nothing stored before consent and confirmation
    read_back = chat.answer("/affirm", intent="affirm")
    assert CONTENT in read_back.text and "0912 345 678" in read_back.text and "Ảnh/tệp đính kèm: 2" in read_back.text
    assert [b["title"] for b in read_back.buttons] == ["Gửi phản ánh", "Hủy"]
    assert rows(stores) == []

    receipt = chat.answer("/affirm", intent="affirm")
    [row] = rows(stores)
    assert row.code in receipt.text and CODE.fullmatch(row.code)
    assert f"{row.due_date:%d/%m/%Y}" in receipt.text and "tra cứu" in receipt.text
    assert (row.content, row.name, row.phone, row.consent) == (CONTENT, "Trần Văn Bình", "+84912345678", True)
    assert row.place == "Bộ phận Một cửa UBND phường Dịch Vọng" and row.category == "wrong_fee"
    assert row.attachments == ["https://zalo.example/img/1.jpg", "https://zalo.example/img/2.jpg"]
    assert (row.channel, row.sender_id) == ("zalo", "citizen-1")
    assert chat.slots["complaint_content"] is None and chat.slots["complaint_attachments"] is None
    assert "Rất hài lòng" in [b["title"] for b in receipt.buttons]


def test_anonymous_complaint_warns_and_asks_no_consent(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "phản ánh", intent="file_complaint")
    chat.answer(CONTENT)
    chat.answer("bỏ qua")
    chat.answer("bỏ qua")
    anonymous = chat.answer("không")
    assert "chỉ trả lời được trong cuộc trò chuyện này" in anonymous.text
    assert "Nghị định 13" not in anonymous.text and "kiểm tra lại phản ánh" in anonymous.text
    receipt = chat.answer("gửi đi")
    [row] = rows(stores)
    assert row.code in receipt.text
    assert (row.name, row.phone, row.consent, row.consent_at) == (None, None, False, None)


def test_refused_consent_drops_name_and_phone(stores: Any) -> None:
    chat = Chat()
    fill(chat)
    refused = chat.answer("/deny", intent="deny")
    assert "không lưu họ tên và số điện thoại" in refused.text
    assert "Trần Văn Bình" not in refused.text and "0912 345 678" not in refused.text
    assert chat.slots["complaint_name"] == "" and chat.slots["complaint_phone"] == ""
    chat.answer("/affirm", intent="affirm")
    [row] = rows(stores)
    assert (row.name, row.phone, row.consent) == (None, None, False)
    assert "Trần Văn Bình" not in row.content and "0912" not in str(row.attachments)


def test_refused_consent_then_cancel_stores_nothing(stores: Any) -> None:
    chat = Chat()
    fill(chat)
    chat.answer("không đồng ý")
    cancelled = chat.answer("/deny", intent="deny")
    assert "đã hủy" in cancelled.text and "không có thông tin nào được lưu" in cancelled.text
    assert rows(stores) == [] and chat.form is None


def test_abandoned_midway_stores_nothing_and_forgets_the_answers(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "phản ánh", intent="file_complaint")
    chat.answer(CONTENT)
    chat.answer("UBND phường")
    chat.answer("Trần Văn Bình")
    stopped = chat.answer("thôi không gửi nữa")
    assert "đã hủy" in stopped.text and chat.form is None
    assert rows(stores) == []
    assert all(chat.slots.get(s) is None for s in ("complaint_content", "complaint_name", "complaint_phone"))


def test_stop_at_the_name_question(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "phản ánh", intent="file_complaint")
    chat.answer(CONTENT)
    chat.answer("UBND phường")
    assert "đã hủy" in chat.answer("thôi, hủy").text
    assert rows(stores) == [] and chat.slots["complaint_name"] is None


def test_content_about_a_cancelled_dossier_is_not_a_stop(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "phản ánh", intent="file_complaint")
    chat.answer("hồ sơ bị hủy")
    assert chat.slots["complaint_content"] == "hồ sơ bị hủy" and chat.form == FORM


def test_invalid_phone_then_three_strikes_offer_to_stop(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "phản ánh", intent="file_complaint")
    chat.answer(CONTENT)
    chat.answer("UBND phường")
    chat.answer("bỏ qua")
    first = chat.answer("12345")
    assert "hợp lệ" in first.text and "Bỏ qua" in [b["title"] for b in first.buttons]
    chat.answer("0123")
    third = chat.answer("+1 202 555 0100")
    assert "tiếp tục hay dừng" in third.text
    chat.answer("tiếp tục")
    assert chat.slots["requested_slot"] == "complaint_phone"
    chat.answer("0983 112 233")
    assert chat.slots["complaint_phone"] == "+84983112233"


def test_over_long_content_is_refused_with_the_limit(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "phản ánh", intent="file_complaint")
    refused = chat.answer("chậm trễ " * 700)
    assert "5.000 ký tự" in refused.text and "6.299" in refused.text and chat.slots["complaint_content"] is None


def test_database_down_at_the_last_step_is_never_acknowledged(stores: Any) -> None:
    chat = Chat()
    fill(chat, name="bỏ qua", phone="bỏ qua")
    working = stores.complaints
    dead = make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/motcua?connect_timeout=2")
    stores.complaints = ComplaintService(dead, lockout=working.lockout, clock=working.clock)
    try:
        failed = chat.answer("/affirm", intent="affirm")
    finally:
        stores.complaints = working
        dead.dispose()
    assert "CHƯA được lưu" in failed.text and not CODE.search(failed.text)
    assert "Gửi lại" in [b["title"] for b in failed.buttons]
    assert chat.slots["complaint_content"] == CONTENT  # kept for the retry

    again = chat.start(FORM, "/file_complaint", intent="file_complaint")
    assert CONTENT in again.text and "Gửi phản ánh" in [b["title"] for b in again.buttons]
    receipt = chat.answer("/affirm", intent="affirm")
    [row] = rows(stores)
    assert row.code in receipt.text and row.content == CONTENT


def test_complaint_status_by_code_and_last_4_digits(stores: Any) -> None:
    chat = Chat("zalo:citizen-2")
    fill(chat)
    chat.answer("đồng ý")
    chat.answer("/affirm", intent="affirm")
    [row] = rows(stores)
    stores.complaints.reply(row.code, "Đơn vị đã hoàn trả khoản thu sai và nhắc nhở cán bộ.", actor="canbo")

    other = Chat("telegram:someone-else")
    other.start("complaint_status_form", "", prefilled={"complaint_code": row.code.lower()})
    verified = other.answer("5678")
    assert "đã trả lời" in verified.text and "hoàn trả" in verified.text
    assert "Trần Văn Bình" not in verified.text and CONTENT not in verified.text

    other.start("complaint_status_form", "", prefilled={"complaint_code": row.code})
    wrong_digits = other.answer("1111").text
    other.start("complaint_status_form", "", prefilled={"complaint_code": "PA-2026-999999"})
    wrong_code = other.answer("5678").text
    assert "không tìm thấy" in wrong_digits
    assert re.sub(r"\d", "#", wrong_digits) == re.sub(r"\d", "#", wrong_code)


def test_anonymous_complaint_status_by_code_only_shows_no_reply(stores: Any) -> None:
    chat = Chat("webchat:abc")
    fill(chat, name="bỏ qua", phone="bỏ qua")
    chat.answer("/affirm", intent="affirm")
    [row] = rows(stores)
    stores.complaints.reply(row.code, "Nội dung trả lời chi tiết.", actor="canbo")
    asked = chat.start("complaint_status_form", "tra cứu phản ánh", intent="check_complaint_status")
    assert "PA-2026-000123" in asked.text
    chat.answer(f"mã {row.code}")
    status = chat.answer("bỏ qua")
    assert "đã trả lời" in status.text and "Nội dung trả lời chi tiết" not in status.text
    stranger = Chat("webchat:xyz")
    stranger.start("complaint_status_form", "", prefilled={"complaint_code": row.code})
    assert "không tìm thấy" in stranger.answer("bỏ qua").text
