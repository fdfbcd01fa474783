"""The one bounded pool where all imaging runs, with a bounded wait queue in front.

A request that must render first takes one of ``threads`` places (:meth:`RenderPool.admit`)
and only then loads its source and runs (:meth:`RenderPool.run`), so requests waiting for a
thread hold no source bytes. Three ways a request never starts, each cheaper than rendering
for nobody:

- the queue is full when it arrives → :class:`Overloaded` at once (503 + Retry-After);
- it waited longer than ``queue_timeout`` for a place → Overloaded, before any work;
- its client went away while it waited (``cancel`` set) → :class:`ClientGone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from imgserver.errors import ClientGone, Overloaded
from imgserver.imaging.setup import HEAP
from imgserver.metrics import IN_FLIGHT, QUEUE_DEPTH, observe

T = TypeVar("T")

#: Seconds the pool must stay idle before the heap is trimmed (imaging.setup.HeapTrimmer).
IDLE_TRIM_DELAY = 0.5


class Cancel(Protocol):
    def is_set(self) -> bool: ...


#: A job for a render thread: the call, and where its outcome goes (None: nowhere).
_Job = tuple[Callable[..., Any], tuple[object, ...], asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | None"]


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    """On the loop: hand a job's outcome to its awaiting request (unless it gave up)."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
        return
    try:
        future.set_exception(error)
    except TypeError:  # StopIteration and the like cannot travel through a future
        future.set_exception(RuntimeError(repr(error)))


def _serve_jobs(jobs: queue.SimpleQueue[_Job | None]) -> None:
    """A render thread: run jobs until the None that shuts the pool down."""
    while (job := jobs.get()) is not None:
        fn, args, loop, future = job
        if future is not None and future.done():
            continue  # its request was cancelled while the job waited: nobody wants it
        result: object = None
        error: BaseException | None = None
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting request, which re-raises it
            error = exc
        if loop is not None and future is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, future, result, error)
        del job, fn, args, result, error  # drop references (source bytes) before waiting again


class RenderPool:
    """``threads`` workers; at most ``queue_size`` more jobs wait, each at most
    ``queue_timeout`` seconds."""

    def __init__(self, threads: int, queue_size: int, queue_timeout: float = 10.0) -> None:
        self.threads = threads
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        # One queue and plain threads, not a ThreadPoolExecutor: a job needs no
        # concurrent.futures.Future, no executor locks and no future chaining, only one
        # call_soon_threadsafe back to the loop (measured: ~30% less CPU per thread hop).
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._closed = False
        #: Jobs admitted and not finished (running + waiting).
        self.in_flight = 0
        #: Jobs that ran to completion or failure (a test and metrics hook).
        self.completed = 0
        #: Jobs dropped before starting: queue full, deadline passed, client gone.
        self.rejected = 0
        self.expired = 0
        self.cancelled = 0
        self._lock = threading.Lock()
        self._admitted = 0
        self._waiters: list[asyncio.Future[None]] = []

    def _count(self, name: str) -> None:
        with self._lock:  # counters are bumped from render threads
            setattr(self, name, getattr(self, name) + 1)

    @property
    def waiting(self) -> int:
        """Requests waiting for a place (admission) or a thread."""
        return len(self._waiters) + max(0, self.in_flight - self.threads)

    @contextlib.asynccontextmanager
    async def admit(self, cancel: Cancel | None = None) -> AsyncIterator[None]:
        """One of ``threads`` places for a request's load and render, in arrival order. At most
        ``queue_size`` requests wait (later ones: Overloaded at once), each at most
        ``queue_timeout`` seconds (then Overloaded); a request whose clients all left gets
        ClientGone when its turn comes."""
        if self._admitted >= self.threads or self._waiters:
            if len(self._waiters) >= self.queue_size:
                self._count("rejected")
                raise Overloaded()
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            QUEUE_DEPTH.inc()
            started = time.monotonic()
            try:
                await asyncio.wait_for(waiter, self.queue_timeout)
            except TimeoutError:
                self._forget(waiter)
                self._count("expired")
                raise Overloaded("waited too long for a render thread") from None
            except BaseException:
                self._forget(waiter)
                raise
            finally:
                QUEUE_DEPTH.dec()
                observe("queue", time.monotonic() - started)
        else:
            self._admitted += 1
            observe("queue", 0.0)
        try:
            if cancel is not None and cancel.is_set():
                self._count("cancelled")
                raise ClientGone()
            yield
        finally:
            self._release()

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        elif waiter.done() and not waiter.cancelled():
            self._release()  # the place was handed over just as we gave up: pass it on

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)  # the place moves to the next waiter
                return
        self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args: object, cancel: Cancel | None = None) -> T:
        """Run ``fn(*args)`` on a render thread and return its result."""
        if self.in_flight >= self.threads + self.queue_size:
            self.rejected += 1
            raise Overloaded()
        submitted = time.monotonic()
        deadline = submitted + self.queue_timeout

        def job() -> T:
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
                HEAP.trim(busy=True)  # under sustained load: at most every HEAP.interval s

        self.in_flight += 1
        IN_FLIGHT.inc()
        try:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[T] = loop.create_future()
            self._submit((job, (), loop, future))
            return await future
        finally:
            self.in_flight -= 1
            IN_FLIGHT.dec()
            if self.in_flight == 0 and HEAP.dirty:
                asyncio.get_running_loop().call_later(IDLE_TRIM_DELAY, self._trim_if_idle)

    def _submit(self, job: _Job) -> None:
        """Queue a job, starting render threads as they are first needed."""
        if self._closed:
            raise RuntimeError("the render pool has shut down")
        if len(self._workers) < self.threads:
            worker = threading.Thread(
                target=_serve_jobs, args=(self._jobs,), name=f"render_{len(self._workers)}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        self._jobs.put(job)

    def _trim_if_idle(self) -> None:
        """Trim the heap on a render thread once the pool has stayed idle."""
        if self.in_flight == 0 and HEAP.dirty:
            with contextlib.suppress(RuntimeError):  # the pool has shut down
                self._submit((HEAP.trim, (), None, None))

    def shutdown(self) -> None:
        """Stop the render threads once their current jobs end; jobs still queued are
        cancelled (their requests see CancelledError). Does not wait: the threads are
        daemons, so a process exiting right after this does not wait for a render nobody
        will read."""
        self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            _, _, loop, future = job or (None, None, None, None)
            if loop is not None and future is not None:
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(future.cancel)
        for _ in self._workers:
            self._jobs.put(None)
