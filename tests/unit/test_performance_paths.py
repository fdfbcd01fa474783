"""The fast paths kept by the benchmark work (issue 9): JPEG DCT shrink choice, admission."""

from __future__ import annotations

import asyncio

import pytest

from imgserver.errors import Overloaded
from imgserver.imaging.steps import _jpeg_shrink
from imgserver.plan.model import SourceFacts
from imgserver.pool import RenderPool


def _facts(width: int, height: int, orientation: int = 1) -> SourceFacts:
    display = (height, width) if orientation >= 5 else (width, height)
    return SourceFacts("jpeg", display[0], display[1], width, height, orientation)


@pytest.mark.parametrize(
    ("stored", "orientation", "target", "shrink"),
    [
        ((1920, 1080), 1, (356, 200), 4),  # 480x270 still covers it; 240x135 would not
        ((4000, 3000), 1, (800, 600), 4),
        ((6000, 4000), 1, (1200, 800), 4),
        ((6000, 4000), 1, (750, 500), 8),
        ((640, 480), 6, (300, 400), 1),  # shown portrait: needs 400x300 stored
        ((640, 480), 6, (240, 320), 2),
        ((101, 101), 1, (51, 51), 2),  # libjpeg rounds up: 101 at 1/2 decodes to 51
        ((100, 100), 1, (100, 100), 1),
    ],
)
def test_jpeg_shrink_is_the_largest_that_covers_the_target(
    stored: tuple[int, int], orientation: int, target: tuple[int, int], shrink: int
) -> None:
    assert _jpeg_shrink(_facts(*stored, orientation), *target) == shrink


def test_admission_is_bounded_and_first_come_first_served() -> None:
    async def scenario() -> list[str]:
        pool = RenderPool(threads=1, queue_size=2)
        order: list[str] = []
        release = asyncio.Event()

        async def request(name: str) -> None:
            async with pool.admit():
                order.append(name)
                await release.wait()

        tasks = [asyncio.create_task(request(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0.01)
        assert order == ["a"]  # one place; b and c wait, holding nothing
        with pytest.raises(Overloaded):
            async with pool.admit():
                pass  # a fourth request finds the waiting room full
        release.set()
        await asyncio.gather(*tasks)
        pool.shutdown()
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c"]
