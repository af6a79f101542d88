"""The gateway against a real Rasa and action server: replies, duplicates answered once, Rasa stopped and
restarted mid-test (every message answered exactly once, in order), handed-off conversations kept from
Rasa."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.base import IncomingMessage
from connectors.gateway import Gateway, GatewayConfig
from connectors.rasa_client import RasaClient
from core.db import create_all, make_engine
from core.handoff import HandoffService
from core.models import InboxMessageRow, OutboxMessageRow
from tests import rasa_server
from tests.app_server import RealRasa, start_real_rasa
from tests.test_gateway import RecordingSender

pytestmark = pytest.mark.rasa

CONFIG = GatewayConfig(poll_seconds=0.05, retry_base_seconds=0.2, retry_max_seconds=2.0)


@pytest.fixture(scope="module")
def rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRasa]:
    real = start_real_rasa(tmp_path_factory.mktemp("gateway-rasa"))
    try:
        yield real
    finally:
        real.servers.stop()


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    create_all(engine)
    yield engine
    engine.dispose()


@pytest_asyncio.fixture()
async def setup(rasa: RealRasa, engine: Engine) -> AsyncIterator[tuple[Gateway, RecordingSender]]:
    gateway = Gateway(engine, RasaClient(rasa.url), HandoffService(engine), config=CONFIG)
    sender = RecordingSender()
    gateway.add_sender(sender)
    await gateway.start()
    yield gateway, sender
    await gateway.stop()


def _rows(engine: Engine) -> list[InboxMessageRow]:
    with Session(engine) as session:
        return list(session.scalars(select(InboxMessageRow).order_by(InboxMessageRow.id)))


def _outbox(engine: Engine) -> list[OutboxMessageRow]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxMessageRow).order_by(OutboxMessageRow.id)))


async def _until_done(engine: Engine, count: int, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while sum(r.status != "pending" for r in _rows(engine)) < count:
        if asyncio.get_running_loop().time() > deadline:
            state = [(r.id, r.status, r.last_error) for r in _rows(engine)]
            raise AssertionError(f"not handled in {timeout}s: {state}")
        await asyncio.sleep(0.1)


async def _user_texts(rasa: RealRasa, sender: str) -> list[str]:
    async with httpx.AsyncClient(timeout=30) as client:
        tracker = (await client.get(f"{rasa.url}/conversations/{sender}/tracker")).json()
    return [e.get("text") for e in tracker.get("events") or [] if e.get("event") == "user"]


def _user() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


@pytest.mark.asyncio
async def test_bot_answers_through_the_gateway(setup: tuple[Gateway, RecordingSender], engine: Engine) -> None:
    gateway, sender = setup
    user = _user()
    assert await gateway.accept(IncomingMessage("test", "a1", user, text="làm căn cước cần giấy tờ gì"))
    await _until_done(engine, 1, 120)
    await asyncio.sleep(0.5)
    (row,) = _rows(engine)
    assert row.status == "done" and row.attempts == 1
    assert sender.sent and all(m.recipient_id == user for m in sender.sent)
    assert "căn cước" in "\n".join(m.text for m in sender.sent).lower()
    assert [r.status for r in _outbox(engine)] == ["sent"] * len(sender.sent)


@pytest.mark.asyncio
async def test_redelivered_message_is_answered_once(
    setup: tuple[Gateway, RecordingSender], engine: Engine, rasa: RealRasa
) -> None:
    gateway, sender = setup
    user = _user()
    message = IncomingMessage("test", "dup-1", user, text="xin chào")
    results = await asyncio.gather(*(gateway.accept(message) for _ in range(5)))
    assert results.count(True) == 1
    await _until_done(engine, 1, 120)
    await asyncio.sleep(1.0)
    assert await gateway.accept(message) is False  # a late redelivery too
    await asyncio.sleep(0.5)
    assert await _user_texts(rasa, f"test:{user}") == ["xin chào"]
    delivered = [m.outbox_id for m in sender.sent]
    assert delivered and len(delivered) == len(set(delivered)) == len(_outbox(engine))


@pytest.mark.asyncio
async def test_rasa_stopped_then_restarted_every_message_answered_once(
    setup: tuple[Gateway, RecordingSender], engine: Engine, rasa: RealRasa
) -> None:
    gateway, sender = setup
    users = [_user() for _ in range(3)]
    rasa_server.stop_rasa(rasa.servers)
    try:
        texts = {u: ["xin chào", "cảm ơn"] for u in users}
        for n, user in enumerate(users):
            for k, text in enumerate(texts[user]):
                assert await gateway.accept(IncomingMessage("test", f"down-{n}-{k}", user, text=text))
        await asyncio.sleep(2.0)
        rows = _rows(engine)
        assert [r.status for r in rows] == ["pending"] * 6 and not sender.sent
        assert all(r.attempts >= 1 for r in rows if r.platform_message_id.endswith("-0"))
        assert all(r.attempts == 0 for r in rows if r.platform_message_id.endswith("-1"))  # wait behind
    finally:
        await asyncio.to_thread(rasa_server.restart_rasa, rasa.servers, rasa.model, rasa.work_dir)
    await _until_done(engine, 6, 120)
    await asyncio.sleep(1.0)
    assert [r.status for r in _rows(engine)] == ["done"] * 6
    for user in users:  # Rasa saw each message once, in the order sent
        assert await _user_texts(rasa, f"test:{user}") == texts[user]
    outbox_rows = _outbox(engine)
    assert {r.inbox_id for r in outbox_rows} == {r.id for r in _rows(engine)}  # every message answered
    delivered = [m.outbox_id for m in sender.sent]
    assert sorted(delivered) == [r.id for r in outbox_rows]  # each reply delivered exactly once
    for user in users:  # and in order for each citizen
        mine = [m.outbox_id for m in sender.sent if m.recipient_id == user]
        assert mine == sorted(mine)


@pytest.mark.asyncio
async def test_handed_off_conversation_is_not_sent_to_rasa(
    setup: tuple[Gateway, RecordingSender], engine: Engine, rasa: RealRasa
) -> None:
    gateway, sender = setup
    user = _user()
    handoff = HandoffService(engine)
    ticket = handoff.request("test", user, "muốn gặp cán bộ")
    await gateway.accept(IncomingMessage("test", "o1", user, text="tôi cần cán bộ giúp"))
    await _until_done(engine, 1, 30)
    assert _rows(engine)[0].status == "officer"
    assert "tôi cần cán bộ giúp" not in await _user_texts(rasa, f"test:{user}")
    assert not sender.sent
    handoff.return_to_bot(ticket.conversation_id)
    await gateway.accept(IncomingMessage("test", "o2", user, text="xin chào"))
    await _until_done(engine, 2, 120)
    assert _rows(engine)[1].status == "done"
    assert await _user_texts(rasa, f"test:{user}") == ["xin chào"]
