"""The channel gateway: durable inbox → Rasa (or the officer) → outbox → the channel's sender.

- ``accept`` stores a verified message in the inbox (duplicates of a platform message id dropped) and
  returns at once; stores are grouped into one transaction per burst so a webhook acks in milliseconds.
- The inbox worker hands each sender's pending messages, strictly in order, to Rasa's REST channel
  (different senders concurrently, at most ``concurrency``), unless the conversation is with an officer.
  When Rasa or the action server is down the message waits with exponential backoff. A message is marked
  done in the same transaction that queues its replies, so nothing is answered twice.
- The dispatcher delivers pending outbox rows per recipient in order through the registered
  ``ChannelSender`` (split under its text limit), with retries and backoff; ``SendError(retryable=False)``
  fails a row at once. It also moves pending ``core.notifications`` rows into the outbox.
- ``submit_and_wait`` serves synchronous channels (the web widget): the replies are handed straight to
  the waiting request when they come within its timeout, otherwise they go through the outbox.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from connectors import inbox, outbox
from connectors.base import Button, ChannelSender, IncomingMessage, OutgoingMessage, SendError
from connectors.db_thread import URGENT, DbThread
from connectors.lanes import KeyedLanes
from connectors.rasa_client import RasaClient, RasaUnavailable
from core.clock import Clock, system_clock
from core.handoff import ConversationStatus, HandoffService
from core.models import InboxMessageRow, NotificationRow, OutboxMessageRow

log = logging.getLogger(__name__)

OFFICER_STATUSES = (ConversationStatus.WAITING.value, ConversationStatus.WITH_OFFICER.value)
NO_RASA_KINDS = ("unfollow",)  # stored, never answered
RASA_TEXT_FOR_KIND = {"follow": "/greet"}  # a new follower gets the welcome


@dataclass(frozen=True)
class GatewayConfig:
    concurrency: int = 16  # senders handled at once (Rasa serialises one sender's messages anyway)
    poll_seconds: float = 0.25  # how often the workers look for due rows when nothing woke them
    retry_base_seconds: float = 1.0  # first backoff; doubles per attempt ...
    retry_max_seconds: float = 60.0  # ... up to this
    send_attempts: int = 8  # deliveries tried before an outbox row is marked failed
    empty_reply_attempts: int = 4  # a turn Rasa answers with nothing is retried (action server down?)
    batch: int = 200


@dataclass(frozen=True)
class SyncReply:
    """The answer of ``submit_and_wait``: ``done`` (with the replies), ``officer`` or ``queued``."""

    status: str
    messages: list[OutgoingMessage] = field(default_factory=list)
    inbox_id: int = 0


class _Waiter:
    """A request waiting for the replies to its message (lives in the event loop: no locks needed)."""

    def __init__(self) -> None:
        self.future: asyncio.Future[SyncReply] = asyncio.get_running_loop().create_future()
        self.claimed = False
        self.abandoned = False

    def claim(self) -> bool:
        """The worker will hand the replies over directly (False: the request has given up)."""
        if self.abandoned:
            return False
        self.claimed = True
        return True

    def resolve(self, reply: SyncReply) -> None:
        if not self.future.done():
            self.future.set_result(reply)


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before attempt ``attempts + 1``: exponential with a little jitter."""
    return min(cap, base * (2 ** max(attempts, 0))) * random.uniform(0.8, 1.0)


def rasa_metadata(row: InboxMessageRow) -> dict[str, Any]:
    metadata: dict[str, Any] = {"channel": row.channel, "inbox_id": row.id, "kind": row.kind}
    payload = row.payload or {}
    if row.kind == "image":
        metadata["attachments"] = inbox.attachments_of(payload)
    if row.kind == "location":
        metadata["location"] = payload.get("location") or {
            k: payload[k] for k in ("latitude", "longitude", "address") if k in payload
        }
    return metadata


def replies_to_messages(replies: list[dict[str, Any]], channel: str, recipient_id: str) -> list[OutgoingMessage]:
    """Rasa's REST replies as outgoing messages (text, buttons, image; ``custom`` is not shown)."""
    messages = []
    for reply in replies:
        text = str(reply.get("text") or "")
        buttons = tuple(
            Button(str(b.get("title") or b.get("payload") or ""), str(b.get("payload") or b.get("title") or ""))
            for b in reply.get("buttons") or []
            if isinstance(b, dict)
        )
        image = reply.get("image")
        if not text and not buttons and not image:
            continue
        messages.append(
            OutgoingMessage(channel, recipient_id, text=text, buttons=buttons, image_url=str(image) if image else None)
        )
    return messages


class Gateway:
    def __init__(
        self,
        engine: Engine,
        rasa: RasaClient,
        handoff: HandoffService,
        *,
        config: GatewayConfig | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.engine = engine
        self.rasa = rasa
        self.handoff = handoff
        self.config = config or GatewayConfig()
        self.clock = clock
        self.senders: dict[str, ChannelSender] = {}
        self._waiters: dict[tuple[str, str], _Waiter] = {}
        self._pending_stores: list[tuple[IncomingMessage, asyncio.Future[inbox.Stored]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._stores_begun = 0  # messages handed to ``store`` so far ...
        self._stores_done = 0  # ... and how many of them are answered (committed or failed), in order
        self._ack_turns: list[tuple[int, asyncio.Future[None]]] = []  # worker steps waiting on _stores_done
        self._store_wake: asyncio.Event | None = None
        self._inbox_wake: asyncio.Event | None = None
        self._outbox_wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lanes: list[KeyedLanes] = []
        self._db = DbThread()
        self._rasa_down_until = 0.0  # loop time: while Rasa is unreachable only one message probes it
        self._rasa_failures = 0
        self.running = False

    # --- wiring --------------------------------------------------------------------------------

    def add_sender(self, sender: ChannelSender) -> None:
        self.senders[sender.channel] = sender

    async def start(self) -> None:
        """Start the workers (idempotent: a second call does nothing)."""
        if self.running:
            return
        self.running = True
        self._events()
        inbox_lanes = KeyedLanes(self.config.concurrency, "inbox")
        outbox_lanes = KeyedLanes(self.config.concurrency * 2, "outbox")
        self._lanes = [inbox_lanes, outbox_lanes]
        self._tasks = [
            asyncio.create_task(self._inbox_loop(inbox_lanes), name="gateway-inbox"),
            asyncio.create_task(self._outbox_loop(outbox_lanes), name="gateway-outbox"),
        ]

    async def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for lanes in self._lanes:
            await lanes.close()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        for _, future in self._pending_stores:
            if not future.done():
                future.set_exception(RuntimeError("the gateway stopped"))
        self._pending_stores.clear()
        self._stores_done = self._stores_begun
        self._release_ack_turns()
        self._tasks, self._lanes = [], []
        await self.rasa.aclose()
        self._db.close()

    def _events(self) -> tuple[asyncio.Event, asyncio.Event, asyncio.Event]:
        if self._store_wake is None or self._inbox_wake is None or self._outbox_wake is None:
            self._store_wake, self._inbox_wake, self._outbox_wake = asyncio.Event(), asyncio.Event(), asyncio.Event()
        return self._store_wake, self._inbox_wake, self._outbox_wake

    def wake_dispatcher(self) -> None:
        """Deliver new outbox rows now (the back office calls this after queueing a reply)."""
        self._events()[2].set()

    # --- accepting -----------------------------------------------------------------------------

    async def accept(self, message: IncomingMessage) -> bool:
        """Store a verified message; False for a duplicate. Returns as soon as it is committed."""
        return (await self.store(message)).new

    async def store(self, message: IncomingMessage) -> inbox.Stored:
        future: asyncio.Future[inbox.Stored] = asyncio.get_running_loop().create_future()
        self._pending_stores.append((message, future))
        self._stores_begun += 1
        store_wake = self._events()[0]
        store_wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._writer_loop(), name="gateway-inbox-writer")
        return await future

    async def _writer_loop(self) -> None:
        """Group commit: every message that arrived while the previous commit ran goes in the next one."""
        store_wake, inbox_wake, _ = self._events()
        while True:
            await store_wake.wait()
            store_wake.clear()
            while self._pending_stores:
                batch = self._pending_stores[: self.config.batch]
                del self._pending_stores[: len(batch)]
                try:
                    results = await self._db.run(self._store_batch, [m for m, _ in batch], priority=URGENT)
                except Exception as error:  # the webhook answers 5xx and the platform redelivers
                    log.exception("inbox: storing %d message(s) failed", len(batch))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                else:
                    for (_, future), result in zip(batch, results):
                        if not future.done():
                            future.set_result(result)
                    inbox_wake.set()
                finally:
                    self._stores_done += len(batch)
                    self._release_ack_turns()

    def _release_ack_turns(self) -> None:
        waiting = []
        for target, turn in self._ack_turns:
            if target > self._stores_done:
                waiting.append((target, turn))
            elif not turn.done():
                turn.set_result(None)
        self._ack_turns = waiting

    async def _after_acks(self) -> None:
        """Wait until every message received so far is stored and its webhook answered.

        The workers call this before each step (a claim, a Rasa call, a delivery, a poll): a burst of
        webhooks is acked before Rasa's replies and the bookkeeping take the event loop and the database
        thread back. The ack futures are resolved before the workers' turns, so the handlers run first.
        Only messages already received are waited for, so a steady stream cannot starve the workers."""
        if self._stores_done >= self._stores_begun:
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ack_turns.append((self._stores_begun, turn))
        await turn

    def _store_batch(self, messages: list[IncomingMessage]) -> list[inbox.Stored]:
        with Session(self.engine) as session, session.begin():
            return inbox.store_many(session, messages, self.clock())

    async def submit_and_wait(self, message: IncomingMessage, timeout: float) -> SyncReply:
        """Accept ``message`` and wait up to ``timeout`` seconds for its replies (synchronous channels)."""
        key = (message.channel, message.platform_message_id)
        waiter = self._waiters.get(key) or _Waiter()
        self._waiters[key] = waiter
        try:
            stored = await self.store(message)
            if not stored.new:  # a retried request: answer from what is stored
                done = await self._db.run(self._stored_reply, stored.inbox_id)
                if done is not None:
                    return done
            self._events()[1].set()
            try:
                return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
            except asyncio.TimeoutError:
                if waiter.claimed:  # the replies are being committed right now
                    return await waiter.future
                waiter.abandoned = True
                return SyncReply("queued", inbox_id=stored.inbox_id)
        finally:
            if self._waiters.get(key) is waiter:
                del self._waiters[key]

    def _stored_reply(self, inbox_id: int) -> SyncReply | None:
        with Session(self.engine) as session:
            status = inbox.status_of(session, inbox_id)
            if status == inbox.OFFICER:
                return SyncReply("officer", inbox_id=inbox_id)
            if status != inbox.DONE:
                return None
            rows = session.scalars(
                select(OutboxMessageRow).where(OutboxMessageRow.inbox_id == inbox_id).order_by(OutboxMessageRow.id)
            ).all()
            return SyncReply("done", [outbox.outgoing(r) for r in rows], inbox_id)

    # --- inbox worker --------------------------------------------------------------------------

    async def _inbox_loop(self, lanes: KeyedLanes) -> None:
        _, wake, _ = self._events()
        loop = asyncio.get_running_loop()
        while True:
            held = self._rasa_down_until - loop.time()
            if held > 0:  # Rasa unreachable: nothing goes before the next probe (no query per stored batch)
                await asyncio.sleep(held)
            await self._after_acks()
            try:
                keys = await self._db.run(self._due, inbox.due_senders)
                for key in keys:
                    lanes.start(key, functools.partial(self._drain_sender, *key))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbox worker: polling failed")
            await self._nap(wake)

    async def _nap(self, wake: asyncio.Event) -> None:
        """Until woken or ``poll_seconds`` pass (``asyncio.wait``: unlike ``wait_for`` on Python 3.11 it never
        swallows the cancellation that stops the gateway)."""
        if not wake.is_set():
            sleeper = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({sleeper}, timeout=self.config.poll_seconds)
            finally:
                sleeper.cancel()
        wake.clear()

    def _due(self, query: Callable[[Session, datetime, int], list[tuple[str, str]]]) -> list[tuple[str, str]]:
        with Session(self.engine) as session:
            return query(session, self.clock(), self.config.batch)

    def _claim_inbox(self, channel: str, sender_id: str) -> InboxMessageRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return inbox.next_due(session, channel, sender_id, self.clock())

    async def _drain_sender(self, channel: str, sender_id: str) -> None:
        while self.running and asyncio.get_running_loop().time() >= self._rasa_down_until:
            await self._after_acks()
            row = await self._db.run(self._claim_inbox, channel, sender_id)
            if row is None:
                return
            if not await self._handle(row):
                return  # it waits (backoff); the sender's later messages wait behind it

    async def _handle(self, row: InboxMessageRow) -> bool:
        """Handle one claimed inbox row; False when it has to wait for a later attempt."""
        waiter = self._waiters.get((row.channel, row.platform_message_id))
        status = await self._db.run(self._conversation_status, row)
        if row.kind in NO_RASA_KINDS or status in OFFICER_STATUSES:
            route = inbox.OFFICER if status in OFFICER_STATUSES else inbox.DONE
            await self._db.run(self._finish, row.id, route, [], False)
            if waiter:
                waiter.resolve(SyncReply(route, inbox_id=row.id))
            return True
        replies: list[dict[str, Any]] | None = None
        await self._after_acks()  # a burst that came in meanwhile goes before Rasa gets more work
        try:
            replies = await self.rasa.send(
                f"{row.channel}:{row.sender_id}", RASA_TEXT_FOR_KIND.get(row.kind, row.text), rasa_metadata(row)
            )
            if not replies and row.attempts + 1 < self.config.empty_reply_attempts:
                raise RasaUnavailable("the bot gave no reply (action server down?)")
        except RasaUnavailable as error:
            delay = backoff(row.attempts, self.config.retry_base_seconds, self.config.retry_max_seconds)
            if replies is None:  # Rasa unreachable: hold every sender back, not only this one
                self._rasa_failures += 1
                pause = backoff(self._rasa_failures - 1, self.config.retry_base_seconds, self.config.retry_max_seconds)
                self._rasa_down_until = asyncio.get_running_loop().time() + pause
            (log.warning if row.attempts == 0 else log.debug)("inbox %s: %s; next try in %.1fs", row.id, error, delay)
            await self._db.run(self._retry_inbox, row.id, str(error), delay)
            if waiter:
                waiter.resolve(SyncReply("queued", inbox_id=row.id))
            return False
        self._rasa_failures = 0
        messages = replies_to_messages(replies, row.channel, row.sender_id)
        await self._after_acks()  # and before this commit takes the database thread
        direct = waiter is not None and waiter.claim()
        try:
            ids = await self._db.run(self._finish, row.id, inbox.DONE, messages, direct)
        except Exception:
            if waiter:
                waiter.resolve(SyncReply("queued", inbox_id=row.id))
            raise
        if waiter:
            numbered = [OutgoingMessage(**{**m.__dict__, "outbox_id": i}) for m, i in zip(messages, ids)]
            waiter.resolve(SyncReply("done", numbered if direct else [], row.id))
        if not direct and ids:
            self.wake_dispatcher()
        return True

    def _conversation_status(self, row: InboxMessageRow) -> str:
        if row.kind in ("follow", "unfollow"):
            return self.handoff.status(row.channel, row.sender_id)
        if row.attempts == 0:
            return self.handoff.touch(row.channel, row.sender_id).status
        return self.handoff.status(row.channel, row.sender_id)

    def _finish(self, inbox_id: int, status: str, messages: list[OutgoingMessage], direct: bool) -> list[int]:
        with Session(self.engine) as session, session.begin():
            if not inbox.finish(session, inbox_id, status, self.clock()):
                return []  # handled already (another worker): its replies were queued then
            return [outbox.enqueue(session, m, inbox_id=inbox_id, delivered=direct) for m in messages]

    def _retry_inbox(self, inbox_id: int, error: str, delay: float) -> None:
        with Session(self.engine) as session:
            inbox.retry_later(session, inbox_id, error, self.clock() + timedelta(seconds=delay))

    # --- outbox dispatcher ---------------------------------------------------------------------

    async def _outbox_loop(self, lanes: KeyedLanes) -> None:
        _, _, wake = self._events()
        while True:
            await self._after_acks()
            try:
                moved = await self._db.run(self._pump_notifications)
                keys = await self._db.run(self._due, outbox.due_recipients)
                for key in keys:
                    lanes.start(key, functools.partial(self._drain_recipient, *key))
                if moved:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox dispatcher: polling failed")
            await self._nap(wake)

    def _pump_notifications(self) -> int:
        """Move pending notifications (dossier result ready, complaint answered…) into the outbox."""
        moved = 0
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(
                select(NotificationRow)
                .where(NotificationRow.status == "pending")
                .order_by(NotificationRow.id)
                .limit(self.config.batch)
            ).all()
            for row in rows:
                taken = session.execute(
                    update(NotificationRow)
                    .where(NotificationRow.id == row.id, NotificationRow.status == "pending")
                    .values(status="sent", sent_at=self.clock(), attempts=NotificationRow.attempts + 1)
                ).rowcount  # type: ignore[attr-defined]
                if taken:
                    message = OutgoingMessage(row.channel, row.sender_id, text=row.text, author="system")
                    outbox.enqueue(session, message, kind=row.kind)
                    moved += 1
        return moved

    def _claim_outbox(self, channel: str, recipient_id: str) -> OutboxMessageRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return outbox.next_due(session, channel, recipient_id, self.clock())

    async def _drain_recipient(self, channel: str, recipient_id: str) -> None:
        while self.running:
            await self._after_acks()
            row = await self._db.run(self._claim_outbox, channel, recipient_id)
            if row is None:
                return
            if not await self._deliver(row):
                return

    async def _deliver(self, row: OutboxMessageRow) -> bool:
        """Send one outbox row; False when it has to wait (the recipient's later rows wait too).

        A long text goes in parts; each part delivered is recorded (``chunks_sent``) before the next one
        is sent, so after a failure or a restart the citizen gets the remaining parts, not the first again."""
        sender = self.senders.get(row.channel)
        if sender is None:
            reason = f"Kênh {row.channel} chưa được bật trên máy chủ nên không gửi được tin."
            await self._db.run(self._mark_outbox, row, f"{reason} [no sender for channel {row.channel!r}]", True)
            return True
        message = outbox.outgoing(row)
        chunks = outbox.split_text(message.text, sender.max_text_length) or [""]
        done = min(row.chunks_sent or 0, len(chunks) - 1)
        try:
            for index in range(done, len(chunks)):
                last = index == len(chunks) - 1
                await sender.send(
                    OutgoingMessage(
                        **{
                            **message.__dict__,
                            "text": chunks[index],
                            "buttons": message.buttons if last else (),
                            "image_url": message.image_url if index == 0 else None,
                        }
                    )
                )
                if not last:
                    await self._db.run(self._record_chunk, row.id, index + 1)
        except SendError as error:
            return await self._failed_attempt(row, error)
        except Exception as error:  # a bug in a sender must not lose the message, nor retry it forever
            # only the error's type: its message may quote the text being sent
            return await self._failed_attempt(row, None, detail=f"{type(error).__name__} in the {row.channel} sender")
        await self._db.run(self._mark_sent, row.id, len(chunks))
        return True

    async def _failed_attempt(self, row: OutboxMessageRow, error: SendError | None, *, detail: str = "") -> bool:
        """Record a failed delivery (``error`` None: the sender crashed, which is retried like a network
        error). True when the row is given up: the platform refused it for good or its retries ran out;
        staff then see it under "Tin gửi lỗi"."""
        retryable = error is None or error.retryable
        final = not retryable or row.attempts + 1 >= self.config.send_attempts
        giving_up = " — giving up" if final else ""
        if error is None:
            log.exception("outbox %s (%s): sender crashed%s", row.id, row.channel, giving_up)
        else:
            log.warning("outbox %s (%s): %s%s", row.id, row.channel, error, giving_up)
        gave_up_after = row.attempts + 1 if final and retryable else 0
        text = outbox.failure_text(error, row.channel, detail=detail, gave_up_after=gave_up_after)
        await self._db.run(self._mark_outbox, row, text, final)
        return final

    def _record_chunk(self, outbox_id: int, chunks_sent: int) -> None:
        with Session(self.engine) as session:
            outbox.record_chunk(session, outbox_id, chunks_sent)

    def _mark_sent(self, outbox_id: int, chunks_sent: int) -> None:
        with Session(self.engine) as session:
            outbox.mark_sent(session, outbox_id, self.clock(), chunks_sent=chunks_sent)

    def _mark_outbox(self, row: OutboxMessageRow, error: str, final: bool) -> None:
        delay = backoff(row.attempts, self.config.retry_base_seconds, self.config.retry_max_seconds)
        with Session(self.engine) as session:
            outbox.mark_retry(session, row.id, error, self.clock() + timedelta(seconds=delay), final=final)
