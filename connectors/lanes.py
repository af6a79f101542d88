"""Keyed lanes: work for one key (a citizen) runs strictly in order; different keys run concurrently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)


class KeyedLanes:
    """At most one running job per key and at most ``limit`` jobs at a time."""

    def __init__(self, limit: int, name: str) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._busy: set[Hashable] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._name = name

    def start(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> bool:
        """Run ``job`` for ``key`` unless that key's lane is busy (its running job picks up new work)."""
        if key in self._busy:
            return False
        self._busy.add(key)
        task = asyncio.create_task(self._run(key, job), name=f"{self._name}:{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        try:
            async with self._slots:
                await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: a job failed (it will be retried)", self._name)
        finally:
            self._busy.discard(key)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
