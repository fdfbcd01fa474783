"""The connection-balancing rule and its shared counts (imgserver.balance)."""

from __future__ import annotations

import os

import pytest

from imgserver.balance import ABSENT, ConnectionCounts, my_turn

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("counts", "index", "expected"),
    [
        ([0, 0], 0, True),  # a tie: both try, one accept wins
        ([0, 0], 1, True),
        ([3, 2], 0, False),  # the other holds fewer: its turn
        ([3, 2], 1, True),
        ([2, 6], 0, True),
        ([5, ABSENT], 0, True),  # an exited process is never the least loaded
        ([ABSENT, 5], 1, True),
        ([4, 4, 3], 0, False),
        ([4, 4, 3], 2, True),
        ([7], 0, True),  # alone
    ],
)
def test_my_turn(counts: list[int], index: int, expected: bool) -> None:
    assert my_turn(counts, index) is expected


def test_counts_start_absent_and_are_shared_with_forked_processes() -> None:
    counts = ConnectionCounts(2)
    assert counts.snapshot() == [ABSENT, ABSENT]
    counts.set(0, 3)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only writes and exits
        counts.set(1, 7)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert counts.snapshot() == [3, 7]  # the child's write is visible here
    counts.absent(1)
    assert counts.snapshot() == [3, ABSENT]
