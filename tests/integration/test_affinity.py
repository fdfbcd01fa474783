"""server.cpu_affinity on real serving processes: each one, and every thread it starts
(render threads, libvips workers), runs on its own CPU; ``off`` leaves them unpinned."""

from __future__ import annotations

import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.test_balance import _wait_for
from tests.integration.test_cli import children_of
from tests.servers import clean_env, running

pytestmark = pytest.mark.integration


def _allowed(pid: int) -> dict[int, frozenset[int]]:
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
    has started its render and libvips threads."""

    def get(_: int) -> None:
        with urllib.request.urlopen(f"{base}/unsafe/40x30/sample.png", timeout=30) as answer:
            assert answer.status == 200

    def started() -> bool:
        with ThreadPoolExecutor(4 * len(workers)) as pool:
            list(pool.map(get, range(4 * len(workers))))
        return all(len(list(Path(f"/proc/{pid}/task").iterdir())) > 2 for pid in workers)

    assert _wait_for(started, 30)


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_one_process_per_cpu_pins_each_to_its_own(tmp_path: Path, mode: str) -> None:
    import pyvips

    pyvips.Image.black(64, 48, bands=3).pngsave(str(tmp_path / "sample.png"))
    usable = frozenset(os.sched_getaffinity(0))
    processes = len(usable) if len(usable) > 1 else 2  # one per usable CPU (at least two)
    env = clean_env(
        IMGSERVER_FILE_ROOT=str(tmp_path),
        IMGSERVER_SECURITY_ALLOW_UNSAFE="true",
        IMGSERVER_SERVER_CPU_AFFINITY=mode,
        IMGSERVER_IMAGING_COALESCE="false",
    )
    with running("--processes", str(processes), env=env) as (proc, base):
        assert _wait_for(lambda: len(children_of(proc.pid)) == processes)
        workers = children_of(proc.pid)
        _render_everywhere(base, workers)
        masks = {pid: _allowed(pid) for pid in workers}
        if mode == "off":
            assert all(mask == usable for threads in masks.values() for mask in threads.values()), masks
            return
        cpus = []
        for threads in masks.values():
            (cpu,) = set(threads.values())  # every thread of the process on one CPU...
            assert len(cpu) == 1, threads
            cpus.append(next(iter(cpu)))
        order = sorted(usable)
        assert sorted(cpus) == sorted(order[i % len(order)] for i in range(processes))  # ...its own
        assert frozenset(os.sched_getaffinity(proc.pid)) == usable  # the supervisor is left alone
