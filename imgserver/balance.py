"""Even keep-alive connections across the serving processes.

Every serving process listens on one shared socket, and a process accepts a connection only
while it holds no more open connections than the least-loaded live one. The counts live in a
small shared memory array the supervisor creates before forking (this module: no Tornado, so
the supervisor stays small); imgserver.httpserver accepts in turn.

# Why not SO_REUSEPORT alone: the kernel hashes each connection to one process's socket, so a
# client's eight keep-alive connections landed 2/6, 3/5 or 1/7 in most tries here. A
# CDN origin pool is a handful of long-lived connections, so the busier process sets the
# latency tail for as long as they live. A shared socket without this check is worse: whichever
# process wakes first takes the whole burst.
"""

from __future__ import annotations

import mmap

#: The count of a slot whose process is not running: never the least loaded.
ABSENT = 1 << 62


class ConnectionCounts:
    """Open connections per serving process, in memory shared across a fork."""

    def __init__(self, processes: int) -> None:
        self._memory = mmap.mmap(-1, 8 * processes)  # anonymous and shared: forked children see writes
        self._counts = memoryview(self._memory).cast("q")
        for index in range(processes):
            self._counts[index] = ABSENT

    def set(self, index: int, count: int) -> None:
        self._counts[index] = count

    def absent(self, index: int) -> None:
        """The process in this slot has exited (the supervisor calls this)."""
        self._counts[index] = ABSENT

    def snapshot(self) -> list[int]:
        return list(self._counts)


def my_turn(counts: list[int], index: int) -> bool:
    """Whether process ``index`` should accept the next connection: it holds no more than
    any other live process (ties: every tied process tries, one wins the accept)."""
    mine = counts[index]
    return all(mine <= other for i, other in enumerate(counts) if i != index)
