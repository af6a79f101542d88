"""Satisfaction feedback (ask once per conversation), conversations, handoff queue and officer hours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from core.clock import ManualClock
from core.feedback import FeedbackError, FeedbackService
from core.handoff import HandoffService
from core.settings import Settings
from core.working_hours import OfficerHours

HOURS = OfficerHours.parse("mon-fri 07:30-11:30,13:30-17:00")


def hanoi(day: int, hour: int, minute: int = 0) -> datetime:
    """March 2025 in Hà Nội (UTC+7): the 17th is a Monday."""
    return datetime(2025, 3, day, hour, minute, tzinfo=timezone(timedelta(hours=7)))


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(hanoi(17, 9))


def test_feedback_is_asked_once_per_conversation(engine: Engine) -> None:
    feedback = FeedbackService(engine)
    assert not feedback.already_asked("conv-1")
    assert feedback.mark_asked("conv-1") is True
    assert feedback.mark_asked("conv-1") is False
    assert feedback.already_asked("conv-1")
    feedback.record("hai_long", channel="web", sender_id="w", conversation_id="conv-2", flow="procedure")
    assert feedback.already_asked("conv-2")  # gave it unasked: not asked again either
    assert feedback.mark_asked("conv-2") is False


def test_feedback_levels_and_counts(engine: Engine) -> None:
    feedback = FeedbackService(engine)
    for level in ("rat_hai_long", "rat_hai_long", "khong_hai_long"):
        feedback.record(
            level, channel="zalo", sender_id="z", conversation_id="c", procedure_code="1.001193",
            comment="Cán bộ hướng dẫn tận tình", flow="procedure",
        )  # fmt: skip
    assert feedback.counts() == {"rat_hai_long": 2, "hai_long": 0, "khong_hai_long": 1}
    with pytest.raises(FeedbackError):
        feedback.record("tuyet_voi", channel="zalo", sender_id="z", conversation_id="c")
    with pytest.raises(FeedbackError):
        feedback.record("hai_long", channel="zalo", sender_id="z", conversation_id="c", comment="x" * 2001)


@pytest.mark.parametrize(
    ("moment", "on_duty"),
    [
        (hanoi(17, 7, 29), False), (hanoi(17, 7, 30), True), (hanoi(17, 11, 29), True),
        (hanoi(17, 11, 30), False), (hanoi(17, 12, 30), False), (hanoi(17, 13, 30), True),
        (hanoi(21, 16, 59), True), (hanoi(21, 17, 0), False), (hanoi(22, 9), False), (hanoi(23, 9), False),
        (datetime(2025, 3, 17, 2, 0, tzinfo=timezone.utc), True),  # 09:00 in Hà Nội
    ],
)  # fmt: skip
def test_officer_hours(moment: datetime, on_duty: bool) -> None:
    assert HOURS.is_on_duty(moment) is on_duty


def test_next_start_and_description() -> None:
    assert HOURS.next_start(hanoi(21, 17, 30)) == hanoi(24, 7, 30)  # Friday evening → Monday morning
    assert HOURS.next_start(hanoi(17, 12)) == hanoi(17, 13, 30)
    assert HOURS.describe() == "thứ Hai đến thứ Sáu, 07:30–11:30 và 13:30–17:00"
    assert OfficerHours.parse("mon-fri,sat 08:00-11:00").is_on_duty(hanoi(22, 9))
    for bad in ("weekdays 8-17", "mon-fri 17:00-08:00", "xyz 08:00-09:00"):
        with pytest.raises(ValueError):
            OfficerHours.parse(bad)


def test_settings_defaults_build_the_service(engine: Engine) -> None:
    settings = Settings(
        data_dir=".", database_url="sqlite://", search_backend="sqlite",  # type: ignore[arg-type]
        elasticsearch_url="", elasticsearch_index="x", rasa_url="", not_found_threshold=0.35,
    )  # fmt: skip
    from core.handoff import handoff_service_from_settings

    service = handoff_service_from_settings(settings, engine)
    assert service.hours == HOURS and service.minutes_per_waiting == 5.0


def test_handoff_queue_take_and_return(engine: Engine, clock: ManualClock) -> None:
    service = HandoffService(engine, hours=HOURS, clock=clock, minutes_per_waiting=5)
    assert service.status("zalo", "a") == "bot"
    service.touch("zalo", "a")
    first = service.request("zalo", "a", reason="Hỏi về hồ sơ đất đai")
    clock.advance(minutes=1)
    second = service.request("telegram", "b")
    again = service.request("zalo", "a")  # asking twice does not queue twice
    assert (first.position, second.position, again.position) == (1, 2, 1)
    assert again.handoff_id == first.handoff_id
    assert second.on_duty and second.estimated_wait == timedelta(minutes=10)
    assert "vị trí số 2" in second.message(HOURS) and "10 phút" in second.message(HOURS)
    assert [c.sender_id for c, _, _ in service.waiting()] == ["a", "b"] and service.waiting_count() == 2

    assert service.take(first.conversation_id, "canbo.lan") is True
    assert service.take(first.conversation_id, "canbo.minh") is False  # already taken
    assert service.status("zalo", "a") == "with_officer"
    assert service.request("telegram", "b").position == 1  # moved up
    service.return_to_bot(first.conversation_id)
    assert service.status("zalo", "a") == "bot"
    conversation = service.get(first.conversation_id)
    assert conversation is not None and conversation.assigned_officer is None
    service.close(first.conversation_id)
    assert service.open("zalo", "a").id != first.conversation_id  # a new conversation after closing


def test_handoff_outside_working_hours(engine: Engine) -> None:
    clock = ManualClock(hanoi(21, 18))  # Friday 18:00
    service = HandoffService(engine, hours=HOURS, clock=clock, minutes_per_waiting=5)
    assert not service.on_duty_now()
    ticket = service.request("web", "w")
    assert not ticket.on_duty and ticket.next_start == hanoi(24, 7, 30)
    assert ticket.estimated_wait == hanoi(24, 7, 35) - hanoi(21, 18)
    assert "ngoài giờ làm việc" in ticket.message(HOURS) and "07:30 thứ Hai, 24/03/2025" in ticket.message(HOURS)
