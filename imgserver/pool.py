"""The one bounded pool where all imaging runs, with a bounded wait queue in front."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from imgserver.errors import Overloaded

T = TypeVar("T")


class RenderPool:
    """``threads`` workers; at most ``queue_size`` more jobs wait. Beyond that, callers get
    Overloaded (503 + Retry-After) at once instead of unbounded latency.

    :meth:`admit` bounds a whole request (load + render) the same way, so a waiting request
    holds no source bytes: memory stays flat however many clients queue."""

    def __init__(self, threads: int, queue_size: int) -> None:
        self.threads = threads
        self.queue_size = queue_size
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render")
        self._admitted = 0
        self._waiters: list[asyncio.Future[None]] = []
        self.in_flight = 0
        #: Jobs run so far (a test and metrics hook).
        self.completed = 0

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """One of ``threads`` places for a request's load and render, in arrival order; at
        most ``queue_size`` requests wait for one, later ones get Overloaded at once."""
        if self._admitted >= self.threads or self._waiters:
            if len(self._waiters) >= self.queue_size:
                raise Overloaded()
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # the releasing request hands its place over
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif not waiter.cancelled():
                    self._release()  # handed over just as we were cancelled: pass it on
                raise
        else:
            self._admitted += 1
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)  # the place moves to the next waiter
                return
        self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.in_flight >= self.threads + self.queue_size:
            raise Overloaded()
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self.in_flight -= 1
            self.completed += 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
