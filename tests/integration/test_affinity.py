"""server.cpu_affinity on real serving processes: each one, and every thread it starts
(render threads, libvips workers), runs on its own CPU, a restarted one on its slot's CPU
again; ``off`` leaves them unpinned.

The server is started on the first two CPUs this test may use (it inherits the test's mask
for the duration), so the test is the same on a 2-core CI machine and a 64-core one."""

from __future__ import annotations

import os
import signal
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.test_balance import _wait_for
from tests.integration.test_cli import children_of
from tests.servers import clean_env, running

pytestmark = pytest.mark.integration


@contextmanager
def _two_cpus() -> Iterator[frozenset[int]]:
    """Run the block with this process limited to two of its CPUs (children inherit it)."""
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("needs two usable CPUs to tell pinned from unpinned")
    two = frozenset(sorted(before)[:2])
    os.sched_setaffinity(0, two)
    try:
        yield two
    finally:
        os.sched_setaffinity(0, before)


def _masks(pid: int) -> dict[int, frozenset[int]]:
    """Per thread of ``pid``: the CPUs it may run on."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = frozenset(os.sched_getaffinity(int(task.name)))
        except OSError:  # the thread ended meanwhile
            continue
    return found


def _render_everywhere(base: str, workers: list[int]) -> None:
    """Concurrent renders (connections spread over the processes) until every serving process
    has started both its render threads (and so its libvips workers)."""

    def get(_: int) -> None:
        with urllib.request.urlopen(f"{base}/unsafe/40x30/sample.png", timeout=30) as answer:
            assert answer.status == 200

    def python_threads(pid: int) -> int:
        """The event loop and the render threads: threads named like the main one (libvips
        names its workers)."""
        main = Path(f"/proc/{pid}/comm").read_text()
        return sum(1 for task in Path(f"/proc/{pid}/task").iterdir() if (task / "comm").read_text() == main)

    def started() -> bool:
        with ThreadPoolExecutor(4 * len(workers)) as pool:
            list(pool.map(get, range(4 * len(workers))))
        # One render thread per CPU the server may use (two), in a pinned process too.
        return all(python_threads(pid) >= 3 for pid in workers)

    assert _wait_for(started, 30)


def _pinned_to(pid: int) -> int | None:
    """The one CPU every thread of ``pid`` is pinned to, or None if they are not."""
    masks = set(_masks(pid).values())
    if len(masks) != 1 or len(mask := next(iter(masks))) != 1:
        return None
    return next(iter(mask))


def _env(tmp_path: Path, mode: str) -> dict[str, str]:
    import pyvips

    pyvips.Image.black(64, 48, bands=3).pngsave(str(tmp_path / "sample.png"))
    return clean_env(
        IMGSERVER_FILE_ROOT=str(tmp_path),
        IMGSERVER_SECURITY_ALLOW_UNSAFE="true",
        IMGSERVER_SERVER_CPU_AFFINITY=mode,
        IMGSERVER_IMAGING_COALESCE="false",
    )


def test_one_process_per_cpu_each_on_its_own_and_a_restarted_one_back_on_its_cpu(tmp_path: Path) -> None:
    env = _env(tmp_path, "auto")
    with _two_cpus() as cpus, running("--processes", "0", env=env) as (proc, base):  # one per CPU
        assert _wait_for(lambda: len(children_of(proc.pid)) == 2)
        workers = children_of(proc.pid)
        _render_everywhere(base, workers)
        pinned = {pid: _pinned_to(pid) for pid in workers}  # every thread of each on one CPU...
        assert sorted(pinned.values(), key=str) == sorted(cpus), {pid: _masks(pid) for pid in workers}  # ...its own
        assert frozenset(os.sched_getaffinity(proc.pid)) == cpus  # the supervisor is left alone

        # A worker killed outright comes back on the CPU it had.
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        assert _wait_for(lambda: victim not in children_of(proc.pid) and len(children_of(proc.pid)) == 2, 20)
        (replacement,) = set(children_of(proc.pid)) - set(workers)
        assert _wait_for(lambda: _pinned_to(replacement) == pinned[victim], 20), _masks(replacement)


def test_off_leaves_every_thread_unpinned(tmp_path: Path) -> None:
    env = _env(tmp_path, "off")
    with _two_cpus() as cpus, running("--processes", "0", env=env) as (proc, base):
        assert _wait_for(lambda: len(children_of(proc.pid)) == 2)
        workers = children_of(proc.pid)
        _render_everywhere(base, workers)
        masks = {pid: _masks(pid) for pid in workers}
        assert all(mask == cpus for threads in masks.values() for mask in threads.values()), masks
