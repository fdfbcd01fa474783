"""server.cpu_affinity: which CPU each serving process gets (pure rule)."""

from __future__ import annotations

import pytest

from imgserver.affinity import cpu_for


def test_one_process_per_cpu_each_gets_its_own() -> None:
    assert [cpu_for(i, 2, {0, 1}, "auto") for i in range(2)] == [0, 1]
    assert [cpu_for(i, 4, {0, 1, 2, 3}, "auto") for i in range(4)] == [0, 1, 2, 3]


def test_cpus_in_order_even_when_sparse() -> None:
    # A cpuset such as 2,5 (containers): processes go to those CPUs, lowest first.
    assert [cpu_for(i, 2, {5, 2}, "auto") for i in range(2)] == [2, 5]


def test_more_processes_than_cpus_round_robin() -> None:
    assert [cpu_for(i, 5, {0, 1}, "auto") for i in range(5)] == [0, 1, 0, 1, 0]


@pytest.mark.parametrize(
    ("processes", "usable", "mode"),
    [
        (2, {0, 1}, "off"),  # switched off
        (1, {0}, "auto"),  # one process: nothing to separate
        (1, {0, 1}, "auto"),
        (2, {0, 1, 2, 3}, "auto"),  # fewer processes than CPUs: pinned ones could not use the rest
        (2, set(), "auto"),
    ],
)
def test_not_pinned(processes: int, usable: set[int], mode: str) -> None:
    assert all(cpu_for(i, processes, usable, mode) is None for i in range(processes))
