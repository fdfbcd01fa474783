"""The one bounded pool where all imaging runs, with a bounded wait queue in front.

Three ways a job never starts, each cheaper than rendering for nobody:

- the queue is full when it arrives → :class:`Overloaded` at once (503 + Retry-After);
- it waited longer than ``queue_timeout`` for a thread → Overloaded, before any work;
- its client went away while it waited (``cancel`` set) → :class:`ClientGone`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from imgserver.errors import ClientGone, Overloaded
from imgserver.metrics import IN_FLIGHT, QUEUE_DEPTH, observe

T = TypeVar("T")


class Cancel(Protocol):
    def is_set(self) -> bool: ...


class RenderPool:
    """``threads`` workers; at most ``queue_size`` more jobs wait, each at most
    ``queue_timeout`` seconds."""

    def __init__(self, threads: int, queue_size: int, queue_timeout: float = 10.0) -> None:
        self.threads = threads
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render")
        #: Jobs admitted and not finished (running + waiting).
        self.in_flight = 0
        #: Jobs that ran to completion or failure (a test and metrics hook).
        self.completed = 0
        #: Jobs dropped before starting: queue full, deadline passed, client gone.
        self.rejected = 0
        self.expired = 0
        self.cancelled = 0
        self._lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._lock:  # counters are bumped from render threads
            setattr(self, name, getattr(self, name) + 1)

    @property
    def waiting(self) -> int:
        return max(0, self.in_flight - self.threads)

    async def run(self, fn: Callable[..., T], *args: object, cancel: Cancel | None = None) -> T:
        """Run ``fn(*args)`` on a render thread and return its result."""
        if self.in_flight >= self.threads + self.queue_size:
            self.rejected += 1
            raise Overloaded()
        submitted = time.monotonic()
        deadline = submitted + self.queue_timeout

        def job() -> T:
            QUEUE_DEPTH.dec()
            observe("queue", time.monotonic() - submitted)
            if cancel is not None and cancel.is_set():
                self._count("cancelled")
                raise ClientGone()
            if time.monotonic() > deadline:
                self._count("expired")
                raise Overloaded("waited too long for a render thread")
            try:
                return fn(*args)
            finally:
                self._count("completed")

        self.in_flight += 1
        IN_FLIGHT.inc()
        QUEUE_DEPTH.inc()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, job)
        finally:
            self.in_flight -= 1
            IN_FLIGHT.dec()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
