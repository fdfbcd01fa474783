"""server.cpu_affinity: which CPU each serving process gets (pure rule), and what "one per
core" counts."""

from __future__ import annotations

import os

import pytest

from imgserver.affinity import cpu_for, usable_cpus


def test_one_process_per_cpu_each_gets_its_own() -> None:
    assert [cpu_for(i, 2, {0, 1}, "auto") for i in range(2)] == [0, 1]
    assert [cpu_for(i, 4, {0, 1, 2, 3}, "auto") for i in range(4)] == [0, 1, 2, 3]


def test_cpus_in_order_even_when_sparse() -> None:
    # A cpuset such as 2,5 (containers): processes go to those CPUs, lowest first.
    assert [cpu_for(i, 2, {5, 2}, "auto") for i in range(2)] == [2, 5]


def test_a_whole_multiple_of_the_cpus_shares_them_evenly() -> None:
    assert [cpu_for(i, 4, {0, 1}, "auto") for i in range(4)] == [0, 1, 0, 1]


@pytest.mark.parametrize(
    ("processes", "usable", "mode"),
    [
        (2, {0, 1}, "off"),  # switched off
        (1, {0, 1}, "auto"),  # fewer processes than CPUs: a pinned one could not use the rest
        (2, {0, 1, 2, 3}, "auto"),
        (3, {0, 1}, "auto"),  # uneven (2 on one CPU, 1 on the other) under even connection shares
        (5, {0, 1, 2}, "auto"),
        (2, {0}, "auto"),  # one CPU: nothing to choose
        (2, set(), "auto"),  # unknown (not Linux)
    ],
)
def test_not_pinned(processes: int, usable: set[int], mode: str) -> None:
    assert all(cpu_for(i, processes, usable, mode) is None for i in range(processes))


def test_one_per_core_counts_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 7}, raising=False)
    assert usable_cpus() == 2  # a container's cpuset, not the host's 64


def test_a_pinned_process_still_counts_the_servers_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render threads per process (``imaging.threads = 0``) are computed in the serving process
    after it is pinned: they must follow the server's CPUs, not the one CPU it runs on."""
    from imgserver import affinity
    from imgserver.settings import effective_threads, load_settings

    mask = {0, 1}

    def narrow(pid: int, cpus: set[int]) -> None:
        mask.clear()
        mask.update(cpus)

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(mask), raising=False)
    monkeypatch.setattr(os, "sched_setaffinity", narrow, raising=False)
    monkeypatch.setattr(affinity, "_server_cpus", None)
    settings = load_settings(None, environ={}, serving=False)
    assert effective_threads(settings) == 2
    assert affinity.pin(1, 2, "auto") == 1
    assert mask == {1}  # pinned...
    assert usable_cpus() == 2  # ...and still two render threads, not one
    assert effective_threads(settings) == 2
