"""``server.cpu_affinity``: one serving process per CPU, each pinned to its own.

With as many serving processes as CPUs, each process's event loop, render threads and libvips
workers then stay on one core's caches and the scheduler stops moving them between cores (it
also no longer parks two busy processes on one core for a while). Paired wrk runs at c=8 on 2
cores: +2 to +7% req/s per scenario, and a lower c=32 p99. With fewer processes than CPUs
nothing is pinned: a pinned process could not use the idle ones. No Tornado or libvips import:
the supervisor stays small.
"""

from __future__ import annotations

import os
from collections.abc import Collection

#: ``server.cpu_affinity`` values.
MODES = ("auto", "off")


def cpu_for(index: int, processes: int, usable: Collection[int], mode: str) -> int | None:
    """The CPU serving process ``index`` of ``processes`` is pinned to, or None: ``auto`` pins
    only when there are at least two processes and every usable CPU gets one (round robin
    over them in CPU order if there are more processes than CPUs)."""
    if mode != "auto" or processes < 2 or not usable or processes < len(usable):
        return None
    return sorted(usable)[index % len(usable)]


def pin(index: int, processes: int, mode: str) -> int | None:
    """Pin the calling process (in a fresh serving process, before it starts any thread: new
    threads inherit the mask) as :func:`cpu_for` says; the CPU, or None if not pinned."""
    try:
        usable = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux: leave scheduling to the OS
        return None
    cpu = cpu_for(index, processes, usable, mode)
    if cpu is None:
        return None
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:  # e.g. a cpuset changed under us: run unpinned rather than not at all
        return None
    return cpu
