"""CPUs: how many this server may use, and ``server.cpu_affinity``, one serving process pinned
to each.

With one serving process per usable CPU (or two, three… each), each process's event loop,
render threads and libvips workers stay on one core's caches and the scheduler stops moving
them between cores (it also no longer parks two busy processes on one core for a while).
Paired wrk runs at c=8 on 2 cores: +1 to +8% req/s per scenario and a lower c=32 p99. Nothing
is pinned unless every usable CPU gets the same number of processes: the connection balance
gives each process the same share of the load, so an uneven split (3 processes on 2 CPUs)
would overload one CPU, and with fewer processes than CPUs a pinned process could not use the
idle ones. Linux only (elsewhere nothing is pinned). No Tornado or libvips import: the
supervisor stays small.
"""

from __future__ import annotations

import os
from collections.abc import Collection

#: ``server.cpu_affinity`` values.
MODES = ("auto", "off")


def _usable() -> set[int] | None:
    """The CPUs this process may run on (its affinity mask: a cpuset or ``taskset`` narrows it)."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return None


#: The server's CPU count, remembered by :func:`pin` before it narrows this process to one.
_server_cpus: int | None = None


def usable_cpus() -> int:
    """How many CPUs the server may use: what "one per core" means for the defaults (in a
    container limited to 2 of a host's 64 CPUs, 2). In a pinned serving process it is still
    the server's count, not the one CPU the process now runs on."""
    if _server_cpus is not None:
        return _server_cpus
    usable = _usable()
    return len(usable) if usable else (os.cpu_count() or 1)


def cpu_for(index: int, processes: int, usable: Collection[int], mode: str) -> int | None:
    """The CPU serving process ``index`` of ``processes`` is pinned to, or None: ``auto`` pins
    only when there are two or more usable CPUs and each gets the same number of processes
    (round robin in CPU order)."""
    if mode != "auto" or len(usable) < 2 or processes % len(usable):
        return None
    return sorted(usable)[index % len(usable)]


def pin(index: int, processes: int, mode: str) -> int | None:
    """Pin the calling process (in a fresh serving process, before it starts any thread: new
    threads inherit the mask) as :func:`cpu_for` says, among the CPUs it inherited from the
    supervisor; the CPU, or None if not pinned."""
    global _server_cpus
    usable = _usable()
    cpu = cpu_for(index, processes, usable or (), mode)
    if cpu is None:
        return None
    _server_cpus = usable_cpus()  # the defaults (render threads per process…) stay as they were
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:  # e.g. a cpuset changed under us: run unpinned rather than not at all
        return None
    return cpu
