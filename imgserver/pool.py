"""The one bounded pool where all imaging runs, with a bounded wait queue in front."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from imgserver.errors import Overloaded

T = TypeVar("T")


class RenderPool:
    """``threads`` workers; at most ``queue_size`` more jobs wait. Beyond that, callers get
    Overloaded (503 + Retry-After) at once instead of unbounded latency."""

    def __init__(self, threads: int, queue_size: int) -> None:
        self.threads = threads
        self.queue_size = queue_size
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="render")
        self.in_flight = 0
        #: Jobs run so far (a test and metrics hook).
        self.completed = 0

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
