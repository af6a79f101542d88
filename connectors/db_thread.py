"""One thread for the gateway's database work, most urgent first.

SQLite lets one writer in at a time and a blocked writer sleeps in growing steps (up to 100 ms). Running
all of the gateway's statements on one thread means they never wait on each other's locks, and a priority
queue lets the inbox's group commit (a webhook waiting for its ack) go before the workers' bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

URGENT, NORMAL = 0, 1


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class DbThread:
    def __init__(self, name: str = "gateway-db") -> None:
        self._name = name
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def run(self, function: Callable[..., T], *args: Any, priority: int = NORMAL) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_thread()
        self._queue.put((priority, next(self._order), (function, args, loop, future)))
        return await future

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            function, args, loop, future = job
            try:
                result, error = function(*args), None
            except BaseException as exc:
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, future, result, error)

    def close(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put((NORMAL + 1, next(self._order), None))
                self._thread.join(timeout=10)
            self._thread = None
