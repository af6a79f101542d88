"""Dossier status: the form, the verified lookup, the lockout and "báo cho tôi khi có kết quả", run the
way Rasa runs them (tests/action_driver.py) on a real SQLite store with the demo dossiers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.common import use_stores
from actions.dossiers import find_dossier_code
from core.clock import ManualClock
from core.models import BotTurnRow, DossierSubscriptionRow, VerificationAttemptRow
from tests.action_driver import Chat, make_stores

FORM = "dossier_status_form"
KHAI_SINH = "000.00.25.H29-250312-0012"  # phone 0912345678, received today
OVERDUE = "H29.22-250305-0101"  # phone 0779135790, appointment long past
RESULT_READY = "G01.2025.001234"  # phone 0868975310
DATE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 18, 3, 0, tzinfo=timezone.utc))  # Wednesday 10:00 in Hà Nội


@pytest.fixture()
def stores(tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    built = make_stores(tmp_path, clock)
    yield built
    use_stores(None)
    built.engine.dispose()


def count(stores: Any, model: Any) -> int:
    with Session(stores.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("tra cứu hồ sơ 000.00.25.h29-250312-0012 giúp em", KHAI_SINH),
        ("H29.22 - 250312-0012", "H29.22-250312-0012"),
        ("mã g01.2025.001234 ạ", "G01.2025.001234"),
        ("HCM-2025-000777", "HCM-2025-000777"),  # another province's format
        ("không nhớ mã", None),
        ("0912345678", None),  # a phone number is not a dossier code
    ],
)
def test_dossier_codes_in_the_formats_provinces_print(typed: str, code: str | None) -> None:
    assert find_dossier_code(typed) == code


def test_code_then_last_4_digits_gives_the_status_without_personal_data(stores: Any) -> None:
    chat = Chat()
    asked = chat.start(FORM, f"tra cứu hồ sơ {KHAI_SINH}", prefilled={"dossier_code": KHAI_SINH})
    assert "4 số cuối" in asked.text

    reply = chat.answer("5678")
    assert "Đăng ký khai sinh" in reply.text and "đã tiếp nhận" in reply.text
    assert len(DATE.findall(reply.text)) >= 2  # received and appointment dates, dd/mm/yyyy
    for personal in ("Nguyễn Văn An", "0912345678", "0912 345 678", "+84912345678"):
        assert personal not in reply.text
    assert "Báo cho tôi khi có kết quả" in [b["title"] for b in reply.buttons]
    assert chat.slots["dossier_code"] is None and chat.slots["dossier_last4"] is None

    subscribed = chat.run("action_subscribe_dossier", "/affirm", intent="affirm")
    assert KHAI_SINH in subscribed.text and "Zalo" in subscribed.text
    with Session(stores.engine) as session:
        row = session.scalars(select(DossierSubscriptionRow)).one()
    assert (row.dossier_code, row.channel, row.sender_id, row.active) == (KHAI_SINH, "zalo", "citizen-1", True)
    assert "Rất hài lòng" in [b["title"] for b in subscribed.buttons]  # the rating question, once


def test_form_asks_for_the_code_and_explains_the_format(stores: Any) -> None:
    chat = Chat()
    first = chat.start(FORM, "tôi muốn tra cứu hồ sơ")
    assert "mã hồ sơ" in first.text and "000.00.25.H29-250312-0012" in first.text
    wrong = chat.answer("không biết nữa")
    assert "chưa đúng định dạng" in wrong.text and chat.slots["requested_slot"] == "dossier_code"
    phone = chat.answer("0912 345 678")
    assert "không phải số điện thoại" in phone.text
    chat.answer(RESULT_READY.lower())
    ready = chat.answer("5310")
    assert "đã có kết quả" in ready.text and "Quầy số 3" in ready.text
    assert "Báo cho tôi khi có kết quả" not in [b["title"] for b in ready.buttons]


def test_wrong_code_and_wrong_digits_get_the_same_answer(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "", prefilled={"dossier_code": KHAI_SINH})
    wrong_digits = chat.answer("1111").text
    chat.start(FORM, "", prefilled={"dossier_code": "000.00.25.H29-250312-9999"})
    wrong_code = chat.answer("5678").text
    assert "không tìm thấy" in wrong_digits
    assert re.sub(r"\d", "#", wrong_digits) == re.sub(r"\d", "#", wrong_code)
    assert "Đăng ký khai sinh" not in wrong_code + wrong_digits


def test_five_failures_lock_the_sender_for_15_minutes(stores: Any, clock: ManualClock) -> None:
    chat = Chat("telegram:777")
    replies = []
    for _ in range(5):
        chat.start(FORM, "", prefilled={"dossier_code": KHAI_SINH})
        replies.append(chat.answer("0000").text)
    assert "còn 1 lần thử" in replies[3]
    assert "tạm dừng tra cứu" in replies[4]
    locked = chat.start(FORM, "tra cứu hồ sơ", prefilled={"dossier_code": KHAI_SINH})
    assert "tạm dừng tra cứu" in locked.text and "4 số cuối" not in locked.text  # not even asked
    assert chat.form is None
    other = Chat("telegram:778")  # another citizen is not locked out
    other.start(FORM, "", prefilled={"dossier_code": KHAI_SINH})
    assert "Đăng ký khai sinh" in other.answer("5678").text
    clock.advance(minutes=16)
    chat.start(FORM, "", prefilled={"dossier_code": KHAI_SINH})
    assert "Đăng ký khai sinh" in chat.answer("5678").text


def test_overdue_dossier_apologises_and_gives_the_contact(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "", prefilled={"dossier_code": OVERDUE})
    reply = chat.answer("5790")
    assert "quá hạn" in reply.text and "xin lỗi" in reply.text and "Liên hệ: Bộ phận Một cửa" in reply.text
    assert "Phạm Thị Dung" not in reply.text


def test_stop_midway_counts_nothing_and_stores_nothing(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "", prefilled={"dossier_code": KHAI_SINH})
    stopped = chat.answer("thôi, hủy")
    assert "đã dừng" in stopped.text and chat.form is None
    assert chat.slots["dossier_code"] is None
    assert count(stores, VerificationAttemptRow) == 0


def test_three_invalid_answers_offer_to_continue_or_stop(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, "", prefilled={"dossier_code": KHAI_SINH})
    chat.answer("abc")
    chat.answer("12")
    third = chat.answer("năm sáu bảy tám")
    assert "tiếp tục hay dừng" in third.text and chat.slots["requested_slot"] == "form_continue"
    again = chat.answer("/affirm", intent="affirm")
    assert "4 số cuối" in again.text and chat.slots["requested_slot"] == "dossier_last4"
    assert "Đăng ký khai sinh" in chat.answer("5678").text

    chat.start(FORM, "", prefilled={"dossier_code": KHAI_SINH})
    for text in ("a", "b", "c"):
        chat.answer(text)
    stopped = chat.answer("/deny", intent="deny")
    assert "đã dừng" in stopped.text and chat.form is None


def test_turns_are_recorded_without_the_digits(stores: Any) -> None:
    chat = Chat()
    chat.start(FORM, f"tra cứu hồ sơ {KHAI_SINH}, sđt 0912345678", prefilled={"dossier_code": KHAI_SINH})
    chat.answer("1234")
    with Session(stores.engine) as session:
        turns = session.scalars(select(BotTurnRow).order_by(BotTurnRow.id)).all()
    assert [t.outcome for t in turns] == ["answered", "not_found"]
    assert "0912345678" not in turns[0].text and "09********" in turns[0].text
    assert "1234" not in turns[1].text and turns[1].channel == "zalo" and turns[1].sender_id == "citizen-1"
