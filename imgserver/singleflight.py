"""Single-flight: concurrent calls with one key share one execution (per process).

Twenty requests for the same uncached result must not download the original twenty
times and fill the render queue with twenty identical jobs: the first caller starts the
work, later callers with the same key wait for its outcome (result or error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs ``fn`` once per key at a time. The work runs as its own task, so a caller
    that goes away (client disconnect, cancellation) does not cancel it for the others."""

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Task[T]] = {}
        self._waiting: dict[str, int] = {}
        #: Executions started, and calls that joined one already running (metrics, tests).
        self.started = 0
        self.joined = 0

    def waiting(self, key: str) -> int:
        """Callers waiting on ``key``'s flight now (0 when none runs)."""
        return self._waiting.get(key, 0)

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(fn())
            self._flights[key] = task
            self.started += 1
            task.add_done_callback(lambda done: self._land(key, done))
        else:
            self.joined += 1
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            return await asyncio.shield(task)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]

    def _land(self, key: str, task: asyncio.Task[T]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so an outcome nobody awaited is not "never retrieved"
