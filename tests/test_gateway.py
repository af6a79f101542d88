"""Gateway core on a real database (SQLite and PostgreSQL): durable inbox, duplicates, routing to the
officer, outbox retries/backoff, splitting, notifications. The Rasa side is a closed port here (Rasa
down); tests/test_gateway_rasa.py runs against a real Rasa."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from connectors import outbox
from connectors.base import Button, IncomingMessage, OutgoingMessage, SendError
from connectors.gateway import Gateway, GatewayConfig
from connectors.outbox import split_text
from connectors.rasa_client import RasaClient
from core import notifications
from core.handoff import HandoffService
from core.models import ChatMessageRow, InboxMessageRow, NotificationRow, OutboxMessageRow
from tests.app_server import closed_port_url

FAST = GatewayConfig(poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.3, send_attempts=4)


class RecordingSender:
    """A channel whose delivery fails as the test says (``failures``: what each call does before every call
    succeeds: an error to raise, or None to deliver)."""

    def __init__(
        self, channel: str = "test", max_text_length: int = 4000, failures: list[SendError | None] | None = None
    ):
        self.channel = channel
        self.max_text_length = max_text_length
        self.failures = list(failures or [])
        self.sent: list[OutgoingMessage] = []
        self.calls = 0

    async def send(self, message: OutgoingMessage) -> None:
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.sent.append(message)


@pytest_asyncio.fixture()
async def gateway(engine: Engine) -> AsyncIterator[Gateway]:
    gw = Gateway(engine, RasaClient(closed_port_url(), timeout=2), HandoffService(engine), config=FAST)
    await gw.start()
    yield gw
    await gw.stop()


def _message(n: int, sender: str = "u1", text: str = "xin chào") -> IncomingMessage:
    return IncomingMessage("test", f"m{n}", sender, text=f"{text} {n}")


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def _queue(engine: Engine, message: OutgoingMessage) -> int:
    with Session(engine) as session, session.begin():
        return outbox.enqueue(session, message)


# --- inbox -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_redelivered_message_is_stored_once(gateway: Gateway, engine: Engine) -> None:
    assert await gateway.accept(_message(1)) is True
    assert await gateway.accept(_message(1)) is False
    results = await asyncio.gather(*(gateway.accept(_message(2)) for _ in range(20)))
    assert results.count(True) == 1
    assert _count(engine, InboxMessageRow) == 2
    assert _count(engine, ChatMessageRow, ChatMessageRow.direction == "in") == 2  # the transcript too


@pytest.mark.asyncio
async def test_a_burst_is_stored_whole_and_in_order(gateway: Gateway, engine: Engine) -> None:
    messages = [_message(n, sender=f"s{n % 7}") for n in range(300)]
    assert all(await asyncio.gather(*(gateway.accept(m) for m in messages)))
    with Session(engine) as session:
        rows = session.scalars(select(InboxMessageRow).order_by(InboxMessageRow.id)).all()
    assert [r.platform_message_id for r in rows] == [m.platform_message_id for m in messages]


@pytest.mark.asyncio
async def test_while_rasa_is_down_messages_wait_with_backoff(gateway: Gateway, engine: Engine) -> None:
    await gateway.accept(_message(1))
    await gateway.accept(_message(2))
    await _until(lambda: _count(engine, InboxMessageRow, InboxMessageRow.attempts >= 2) >= 1)
    with Session(engine) as session:
        first, second = session.scalars(select(InboxMessageRow).order_by(InboxMessageRow.id)).all()
    assert first.status == second.status == "pending"  # nothing lost, nothing answered
    assert "ConnectError" in first.last_error
    assert second.attempts == 0  # the sender's later message waits behind the first
    assert _count(engine, OutboxMessageRow) == 0


@pytest.mark.asyncio
async def test_handed_off_conversation_goes_to_the_officer(gateway: Gateway, engine: Engine) -> None:
    handoff = HandoffService(engine)
    handoff.request("test", "citizen7", "muốn gặp cán bộ")
    await gateway.accept(IncomingMessage("test", "h1", "citizen7", text="cho tôi hỏi cán bộ"))
    await _until(lambda: _count(engine, InboxMessageRow, InboxMessageRow.status == "officer") == 1)
    # Rasa is down here: had the gateway tried it, the row would still be pending with an error.
    with Session(engine) as session:
        row = session.scalars(select(InboxMessageRow)).one()
        transcript = session.scalars(select(ChatMessageRow)).one()
    assert row.attempts == 1 and row.last_error == ""
    assert transcript.text == "cho tôi hỏi cán bộ" and transcript.direction == "in"
    assert handoff.get(handoff.open("test", "citizen7").id).last_message_at is not None  # listed for officers


@pytest.mark.asyncio
async def test_start_twice_runs_one_worker(gateway: Gateway) -> None:
    tasks = list(gateway._tasks)
    await gateway.start()
    assert gateway._tasks == tasks


# --- outbox ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_delivery_is_retried_with_backoff_then_sent_once(gateway: Gateway, engine: Engine) -> None:
    sender = RecordingSender(failures=[SendError("timeout"), SendError("HTTP 502")])
    gateway.add_sender(sender)
    outbox_id = _queue(engine, OutgoingMessage("test", "u1", text="Hồ sơ của anh/chị đã có kết quả."))
    gateway.wake_dispatcher()
    await _until(lambda: len(sender.sent) == 1)
    await asyncio.sleep(0.3)
    assert sender.calls == 3 and len(sender.sent) == 1
    with Session(engine) as session:
        row = session.get(OutboxMessageRow, outbox_id)
        assert row is not None and row.status == "sent" and row.attempts == 3


@pytest.mark.asyncio
async def test_permanent_failure_is_recorded_and_the_next_message_still_goes(gateway: Gateway, engine: Engine) -> None:
    sender = RecordingSender(failures=[SendError("user blocked the bot", retryable=False)])
    gateway.add_sender(sender)
    first = _queue(engine, OutgoingMessage("test", "u1", text="một"))
    _queue(engine, OutgoingMessage("test", "u1", text="hai"))
    gateway.wake_dispatcher()
    await _until(lambda: len(sender.sent) == 1)
    assert sender.sent[0].text == "hai" and sender.calls == 2
    with Session(engine) as session:
        row = session.get(OutboxMessageRow, first)
        assert row is not None and row.status == "failed" and "blocked" in row.last_error


@pytest.mark.asyncio
async def test_gives_up_after_the_configured_attempts(gateway: Gateway, engine: Engine) -> None:
    sender = RecordingSender(failures=[SendError("down")] * 10)
    gateway.add_sender(sender)
    outbox_id = _queue(engine, OutgoingMessage("test", "u1", text="một"))
    gateway.wake_dispatcher()
    await _until(lambda: _count(engine, OutboxMessageRow, OutboxMessageRow.status == "failed") == 1)
    assert sender.calls == FAST.send_attempts
    with Session(engine) as session:
        row = session.get(OutboxMessageRow, outbox_id)
        assert row is not None and row.attempts == FAST.send_attempts
        assert row.last_error.startswith(f"Đã thử gửi {FAST.send_attempts} lần nhưng không thành công.")


@pytest.mark.asyncio
async def test_one_recipient_gets_messages_in_order_despite_a_retry(gateway: Gateway, engine: Engine) -> None:
    sender = RecordingSender(failures=[SendError("timeout")])
    gateway.add_sender(sender)
    for n in range(5):
        _queue(engine, OutgoingMessage("test", "u1", text=f"tin {n}"))
    gateway.wake_dispatcher()
    await _until(lambda: len(sender.sent) == 5)
    assert [m.text for m in sender.sent] == [f"tin {n}" for n in range(5)]


@pytest.mark.asyncio
async def test_long_reply_is_split_at_paragraphs_with_buttons_on_the_last_part(
    gateway: Gateway, engine: Engine
) -> None:
    sender = RecordingSender(max_text_length=60)
    gateway.add_sender(sender)
    paragraphs = ["Giấy tờ cần nộp gồm tờ khai và giấy khai sinh.", "Lệ phí: miễn phí lần đầu.", "Thời hạn: 7 ngày."]
    buttons = (Button("Lệ phí", "/fee"), Button("Nơi nộp", "/place"))
    _queue(engine, OutgoingMessage("test", "u1", text="\n\n".join(paragraphs), buttons=buttons))
    gateway.wake_dispatcher()
    await _until(lambda: _count(engine, OutboxMessageRow, OutboxMessageRow.status == "sent") == 1)
    assert all(len(m.text) <= 60 for m in sender.sent) and len(sender.sent) == 2
    assert "\n\n".join(m.text for m in sender.sent) == "\n\n".join(paragraphs)
    assert [m.buttons for m in sender.sent] == [(), buttons]


@pytest.mark.asyncio
async def test_a_split_reply_goes_on_after_a_restart_without_repeating_a_part(engine: Engine) -> None:
    paragraphs = ["Giấy tờ cần nộp gồm tờ khai và giấy khai sinh.", "Lệ phí: miễn phí lần đầu.", "Thời hạn: 7 ngày."]
    buttons = (Button("Lệ phí", "/fee"),)
    text = "\n\n".join(paragraphs)
    parts = split_text(text, 30)
    assert len(parts) == 4
    outbox_id = _queue(engine, OutgoingMessage("test", "u1", text=text, buttons=buttons))
    patient = GatewayConfig(poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.1, send_attempts=1000)
    first = Gateway(engine, RasaClient(closed_port_url(), timeout=2), HandoffService(engine), config=patient)
    first_sender = RecordingSender(max_text_length=30, failures=[None, *[SendError("timeout")] * 1000])
    first.add_sender(first_sender)
    await first.start()
    try:
        await _until(lambda: _count(engine, OutboxMessageRow, OutboxMessageRow.attempts >= 1) == 1)
    finally:
        await first.stop()  # the process goes down with part 2 undelivered
    assert [m.text for m in first_sender.sent] == parts[:1]

    second = Gateway(engine, RasaClient(closed_port_url(), timeout=2), HandoffService(engine), config=FAST)
    second_sender = RecordingSender(max_text_length=30)
    second.add_sender(second_sender)
    await second.start()
    try:
        await _until(lambda: _count(engine, OutboxMessageRow, OutboxMessageRow.status == "sent") == 1)
    finally:
        await second.stop()
    assert [m.text for m in second_sender.sent] == parts[1:]  # part 1 is not sent again
    assert [m.buttons for m in second_sender.sent] == [(), (), buttons]
    with Session(engine) as session:
        row = session.get(OutboxMessageRow, outbox_id)
        assert row is not None and row.chunks_sent == 4 and row.last_error == ""


@pytest.mark.asyncio
async def test_a_crashing_sender_leaves_no_message_text_in_the_error(gateway: Gateway, engine: Engine) -> None:
    class CrashingSender(RecordingSender):
        async def send(self, message: OutgoingMessage) -> None:
            self.calls += 1
            raise ValueError(f"cannot encode {message.text!r}")

    sender = CrashingSender()
    gateway.add_sender(sender)
    outbox_id = _queue(engine, OutgoingMessage("test", "u1", text="Số CCCD 001099012345 của tôi"))
    gateway.wake_dispatcher()
    await _until(lambda: sender.calls >= 1 and _count(engine, OutboxMessageRow, OutboxMessageRow.attempts >= 1) == 1)
    with Session(engine) as session:
        row = session.get(OutboxMessageRow, outbox_id)
        assert row is not None and row.status == "pending"  # kept for a later attempt
        assert "ValueError" in row.last_error and "001099012345" not in row.last_error


@pytest.mark.asyncio
async def test_a_sender_that_keeps_crashing_ends_on_the_failed_list_and_frees_the_queue(
    gateway: Gateway, engine: Engine
) -> None:
    """A bug in a channel sender is retried like a network error, FAST.send_attempts times, then the row
    is failed (staff see it under "Tin gửi lỗi" and can send it again) and the citizen's next message
    goes out: one broken message does not hold the queue for ever."""

    class CrashOnSender(RecordingSender):
        async def send(self, message: OutgoingMessage) -> None:
            if "hỏng" in message.text:
                raise KeyError("button")
            await super().send(message)

    sender = CrashOnSender()
    gateway.add_sender(sender)
    broken = _queue(engine, OutgoingMessage("test", "u1", text="tin hỏng"))
    _queue(engine, OutgoingMessage("test", "u1", text="tin sau"))
    gateway.wake_dispatcher()
    await _until(lambda: [m.text for m in sender.sent] == ["tin sau"])
    with Session(engine) as session:
        row = session.get(OutboxMessageRow, broken)
        assert row is not None and row.status == "failed" and row.attempts == FAST.send_attempts
        assert f"Đã thử gửi {FAST.send_attempts} lần" in row.last_error and "KeyError" in row.last_error


@pytest.mark.asyncio
async def test_message_for_a_channel_without_sender_fails_visibly(gateway: Gateway, engine: Engine) -> None:
    outbox_id = _queue(engine, OutgoingMessage("zalo", "u1", text="một"))
    gateway.wake_dispatcher()
    await _until(lambda: _count(engine, OutboxMessageRow, OutboxMessageRow.status == "failed") == 1)
    with Session(engine) as session:
        row = session.get(OutboxMessageRow, outbox_id)
        assert row is not None and "no sender" in row.last_error


@pytest.mark.asyncio
async def test_notifications_are_delivered_through_the_outbox(gateway: Gateway, engine: Engine) -> None:
    sender = RecordingSender()
    gateway.add_sender(sender)
    text = "Hồ sơ H01.2025.000123 đã có kết quả, mời anh/chị đến nhận."
    with Session(engine) as session, session.begin():
        notifications.enqueue(session, channel="test", sender_id="u9", kind="dossier_status", text=text)
    await _until(lambda: len(sender.sent) == 1)
    assert sender.sent[0].text == text and sender.sent[0].author == "system" and sender.sent[0].recipient_id == "u9"
    with Session(engine) as session:
        assert session.scalars(select(NotificationRow.status)).one() == "sent"
        transcript = session.scalars(select(ChatMessageRow)).one()
        assert transcript.direction == "out" and transcript.text == text  # officers see it in the transcript


def test_enqueue_writes_the_transcript_in_the_callers_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        outbox.enqueue(session, OutgoingMessage("test", "u1", text="Chào anh", author="officer:lan"))
        session.rollback()
    assert _count(engine, OutboxMessageRow) == 0 and _count(engine, ChatMessageRow) == 0


# --- splitting -------------------------------------------------------------------------------------


def test_split_text_keeps_every_word_and_the_limit() -> None:
    text = "\n\n".join(f"Đoạn {n}: " + "giấy tờ " * (n * 7) for n in range(1, 12))
    chunks = split_text(text, 100)
    assert all(0 < len(c) <= 100 for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())
    assert split_text("ngắn", 100) == ["ngắn"]
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
