"""Long polling (``getUpdates``) for local use, when Telegram cannot reach a public webhook URL.

One task loops for the life of the app: fetch updates after the last confirmed one, hand each to the
same handler the webhook uses, and confirm it (next offset) only once the gateway stored it, so an
update is never lost; one fetched twice is dropped by the gateway's dedupe on update_id. Telegram refuses
getUpdates while a webhook is set (409 Conflict): that is logged and retried slowly, never "fixed" by
deleting a production webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, TelegramError

log = logging.getLogger(__name__)


class TelegramPoller:
    def __init__(
        self,
        bot: Bot,
        handle: Callable[[Update], Awaitable[bool]],
        *,
        allowed_updates: Sequence[str] = ("message", "callback_query"),
        poll_timeout: int = 25,
        retry_delay: float = 2.0,
    ) -> None:
        self._bot = bot
        self._handle = handle
        self._allowed = list(allowed_updates)
        self._poll_timeout = poll_timeout
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self.offset: int | None = None  # the next update_id to fetch

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="telegram-polling")
            log.info("telegram: long polling started")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                updates = await self._bot.get_updates(
                    offset=self.offset, timeout=self._poll_timeout, allowed_updates=self._allowed
                )
            except Conflict:
                log.error(
                    "telegram: a webhook is set, so polling gets nothing; run `motcua telegram "
                    "set-webhook` with the right URL, or delete the webhook to use polling"
                )
                await asyncio.sleep(max(self._retry_delay, 30.0))
                continue
            except InvalidToken:
                log.error("telegram: TELEGRAM_BOT_TOKEN was refused; polling retries in a minute")
                await asyncio.sleep(60.0)
                continue
            except TelegramError as exc:  # network trouble, timeouts, 5xx
                log.warning("telegram: getUpdates failed (%s), retrying", type(exc).__name__)
                await asyncio.sleep(self._retry_delay)
                continue
            for update in updates:
                await self._deliver(update)
                self.offset = max(self.offset or 0, update.update_id + 1)

    async def _deliver(self, update: Update) -> None:
        """Hand ``update`` to the gateway, retrying until it is stored (nothing fetched is lost)."""
        delay = self._retry_delay
        while True:
            try:
                await self._handle(update)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the type only: database errors quote the citizen's text
                log.error(
                    "telegram: could not store a polled update (%s), retrying in %.0f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
