"""Satisfaction ratings (asked once per conversation), handoff to an officer (on duty / outside hours),
the fallback's dashboard record and the bot-turn store; on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.common import parse_sender, use_stores
from actions.feedback import parse_level
from core.bot_turns import BotTurnStore, mask_numbers
from core.clock import ManualClock
from core.feedback import SatisfactionLevel
from core.models import BotTurnRow, ComplaintRow, ConversationRow, FeedbackRow, HandoffRow
from tests.action_driver import Chat, make_stores

FORM = "feedback_form"
WEDNESDAY_10H = datetime(2026, 3, 18, 3, 0, tzinfo=timezone.utc)  # 10:00 in Hà Nội
WEDNESDAY_20H = datetime(2026, 3, 18, 13, 0, tzinfo=timezone.utc)  # 20:00


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(WEDNESDAY_10H)


@pytest.fixture()
def stores(tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    built = make_stores(tmp_path, clock, handoff_minutes_per_waiting=4.0)
    yield built
    use_stores(None)
    built.engine.dispose()


def all_rows(stores: Any, model: Any) -> list[Any]:
    with Session(stores.engine) as session:
        return list(session.scalars(select(model).order_by(model.id)))


def test_sender_ids_carry_the_channel() -> None:
    assert parse_sender("zalo:8464123") == parse_sender("zalo:8464123")
    assert (parse_sender("telegram:42").channel, parse_sender("telegram:42").user_id) == ("telegram", "42")
    assert (parse_sender("e2e-abc").channel, parse_sender("e2e-abc").user_id) == ("rest", "e2e-abc")
    assert parse_sender("webchat:a:b").user_id == "a:b"


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ('/give_feedback{"level":"rat_hai_long"}', SatisfactionLevel.VERY_SATISFIED),
        ("Không hài lòng", SatisfactionLevel.DISSATISFIED),
        ("toi rat hai long voi can bo", SatisfactionLevel.VERY_SATISFIED),
        ("hài lòng", SatisfactionLevel.SATISFIED),
        ("chưa hài lòng lắm", SatisfactionLevel.DISSATISFIED),
        ("web chậm quá", None),
    ],
)
def test_levels_from_buttons_and_words(text: str, level: SatisfactionLevel | None) -> None:
    assert parse_level(text) == level


def test_rating_is_asked_once_per_conversation_after_an_answer(stores: Any) -> None:
    chat = Chat()
    assert chat.run("action_ask_feedback", "cảm ơn", intent="thank").messages == []  # nothing answered yet
    chat.slots["procedure_code"] = "1.004222"
    asked = chat.run("action_ask_feedback", "cảm ơn nhé", intent="thank")
    assert [b["title"] for b in asked.buttons] == ["Rất hài lòng", "Hài lòng", "Không hài lòng"]
    assert "Nghị định 61/2018" in asked.text
    assert chat.run("action_ask_feedback", "tạm biệt", intent="goodbye").messages == []  # once only

    press = asked.buttons[2]["payload"]
    comment_question = chat.start(FORM, press, intent="give_feedback")
    assert "cần cải thiện" in comment_question.text
    thanks = chat.answer("Hướng dẫn lệ phí chưa rõ ràng")
    assert "cảm ơn" in thanks.text.lower()
    [row] = all_rows(stores, FeedbackRow)
    assert (row.level, row.comment, row.procedure_code, row.flow) == (
        "khong_hai_long", "Hướng dẫn lệ phí chưa rõ ràng", "1.004222", "procedure",
    )  # fmt: skip
    assert (row.channel, row.sender_id) == ("zalo", "citizen-1")

    next_session = Chat()
    next_session.slots["procedure_code"] = "1.004222"
    assert next_session.run("action_ask_feedback", "cảm ơn", intent="thank").buttons  # a new conversation


def test_satisfied_rating_needs_no_comment(stores: Any) -> None:
    chat = Chat()
    done = chat.start(FORM, '/give_feedback{"level":"rat_hai_long"}', intent="give_feedback")
    assert "cảm ơn" in done.text.lower() and chat.form is None
    [row] = all_rows(stores, FeedbackRow)
    assert (row.level, row.comment) == ("rat_hai_long", "")


def test_free_text_feedback_is_kept(stores: Any) -> None:
    chat = Chat("telegram:9")
    done = chat.start(FORM, "Cán bộ hướng dẫn rất nhiệt tình, tôi rất hài lòng", intent="give_feedback")
    assert chat.form is None and "cảm ơn" in done.text.lower()
    chat2 = Chat("telegram:10")
    asked = chat2.start(FORM, "web tra cứu chậm quá", intent="give_feedback")
    assert "Rất hài lòng" in [b["title"] for b in asked.buttons]
    chat2.answer('/give_feedback{"level":"hai_long"}', intent="give_feedback")
    rows = all_rows(stores, FeedbackRow)
    assert [(r.level, r.comment) for r in rows] == [
        ("rat_hai_long", "Cán bộ hướng dẫn rất nhiệt tình, tôi rất hài lòng"),
        ("hai_long", "web tra cứu chậm quá"),
    ]


def test_officer_on_duty_queues_and_pauses(stores: Any) -> None:
    first = Chat("zalo:a").run("action_request_human", "cho tôi gặp cán bộ", intent="request_human")
    second = Chat("zalo:b").run("action_request_human", "/request_human", intent="request_human")
    assert first.paused and second.paused
    assert "vị trí số 1" in first.text and "4 phút" in first.text
    assert "vị trí số 2" in second.text and "8 phút" in second.text
    conversations = all_rows(stores, ConversationRow)
    assert [(c.sender_id, c.status) for c in conversations] == [("a", "waiting"), ("b", "waiting")]
    assert [h.reason for h in all_rows(stores, HandoffRow)] == ["cho tôi gặp cán bộ", ""]


def test_outside_hours_a_message_becomes_a_ticket(stores: Any, clock: ManualClock) -> None:
    clock.now = WEDNESDAY_20H
    chat = Chat("webchat:w1")
    offer = chat.run("action_request_human", "gặp cán bộ", intent="request_human")
    assert not offer.paused and "ngoài giờ làm việc" in offer.text and "07:30 thứ Năm, 19/03/2026" in offer.text
    assert [b["title"] for b in offer.buttons] == ["Để lại lời nhắn", "Không cần"]
    assert all_rows(stores, ConversationRow) == []
    chat.start("handoff_message_form", "/affirm", intent="affirm")
    left = chat.answer("Tôi cần hỏi về hồ sơ đất đai nộp tháng trước")
    [ticket] = all_rows(stores, ComplaintRow)
    assert ticket.code in left.text and ticket.category == "after_hours" and ticket.phone is None
    assert (ticket.channel, ticket.sender_id) == ("webchat", "w1")


def test_fallback_turns_are_recorded(stores: Any) -> None:
    Chat().run("action_log_fallback", "asdfgh qwe", intent="nlu_fallback")
    [turn] = all_rows(stores, BotTurnRow)
    assert (turn.outcome, turn.text, turn.intent) == ("fallback", "asdfgh qwe", "nlu_fallback")


def test_bot_turn_store_masks_numbers(stores: Any) -> None:
    assert mask_numbers("sđt 0912 345 678, cccd 001203004567") == "sđt 09** *** ***, cccd 00**********"
    assert mask_numbers("hồ sơ nộp ngày 12/3, lệ phí 50.000") == "hồ sơ nộp ngày 12/3, lệ phí 50.000"
    store = BotTurnStore(stores.engine, clock=stores.clock)
    turn = store.record(
        channel="zalo",
        sender_id="x",
        text="gọi +84 912.345.678",
        intent="request_human",
        confidence=0.9,
        outcome="answered",
    )
    store.set_outcome(turn, "not_found", "1.001193")
    [row] = all_rows(stores, BotTurnRow)
    assert (row.text, row.outcome, row.procedure_code) == ("gọi +84 ***.***.***", "not_found", "1.001193")
