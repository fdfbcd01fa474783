"""Single-flight: concurrent calls with one key share one execution (per process).

Twenty requests for the same uncached result must not download the original twenty
times and fill the render queue with twenty identical jobs: the first caller starts the
work, later callers with the same key wait for its outcome (result or error).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Abandonment:
    """Set once every caller of a flight has gone (each brings its own disconnect event), so
    a queued render is skipped only when nobody is left to receive it."""

    def __init__(self) -> None:
        self._events: list[threading.Event] = []
        self._anonymous = False

    def add(self, gone: threading.Event | None) -> None:
        if gone is None:
            self._anonymous = True  # a caller that cannot go away keeps the flight alive
        else:
            self._events.append(gone)

    def is_set(self) -> bool:
        return not self._anonymous and bool(self._events) and all(e.is_set() for e in self._events)


class SingleFlight(Generic[T]):
    """Runs ``fn`` once per key at a time. The work runs as its own task, so a caller
    that goes away (client disconnect, cancellation) does not cancel it for the others.

    A flight that succeeded stays joinable for ``linger`` seconds: a burst of identical
    requests is not all parsed before a fast render lands (32 requests take the event loop
    longer than one small render), and the stragglers get the same result instead of a
    second render. Keys name results by content (request + source version), so the answer
    is the one they would have rendered; failures are never reused, and ``lingers`` picks
    which results may stay (the server keeps renders, not result-cache hits, so what it holds
    is bounded by its render rate)."""

    def __init__(self, linger: float = 0.0, lingers: Callable[[T], bool] | None = None) -> None:
        self.linger = linger
        self._lingers = lingers
        self._flights: dict[str, asyncio.Task[T]] = {}
        self._abandon: dict[str, Abandonment] = {}
        self._waiting: dict[str, int] = {}
        #: Executions started, and calls that joined one already running (metrics, tests).
        self.started = 0
        self.joined = 0

    def waiting(self, key: str) -> int:
        """Callers waiting on ``key``'s flight now (0 when none runs)."""
        return self._waiting.get(key, 0)

    def joinable(self, key: str) -> bool:
        """Whether a call for ``key`` now would join a flight (running or lingering)."""
        return key in self._flights

    async def do(
        self, key: str, fn: Callable[[Abandonment], Awaitable[T]], gone: threading.Event | None = None
    ) -> T:
        """``fn(abandonment)`` once for all concurrent callers of ``key``; ``gone`` is set when
        this caller disconnects."""
        task = self._flights.get(key)
        if task is None:
            abandonment = Abandonment()
            abandonment.add(gone)
            task = asyncio.ensure_future(fn(abandonment))
            self._flights[key] = task
            self._abandon[key] = abandonment
            self.started += 1
            task.add_done_callback(lambda done: self._land(key, done))
        else:
            if not task.done():  # a lingering result cannot be abandoned any more
                self._abandon[key].add(gone)
            self.joined += 1
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            return await asyncio.shield(task)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]

    def _land(self, key: str, task: asyncio.Task[T]) -> None:
        succeeded = not task.cancelled() and task.exception() is None  # retrieved: never "unretrieved"
        if succeeded and self.linger > 0 and (self._lingers is None or self._lingers(task.result())):
            asyncio.get_running_loop().call_later(self.linger, self._forget, key, task)
        else:
            self._forget(key, task)

    def _forget(self, key: str, task: asyncio.Task[T]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
            self._abandon.pop(key, None)
