"""Every limit is a setting, checked before decoding, and answered with a clear 4xx / 503."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import pyvips

from imgserver.handlers import image as image_handler
from imgserver.imaging.steps import render as real_render
from imgserver.settings import Settings
from tests import images
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def limit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("limits")
    images.write(root, "medium.jpg", images.jpeg(1000, 800))
    progressive = images.scene(1000, 800).jpegsave_buffer(interlace=True, keep=images.KEEP_NONE)
    images.write(root, "progressive.jpg", bytes(progressive))
    baseline_small = images.jpeg(400, 300)
    images.write(root, "small.jpg", baseline_small)
    # Distinct frames: the GIF encoder merges identical consecutive ones.
    frames = [images.scene(60, 40).draw_rect([255, 0, 0], i * 5, 0, 4, 40, fill=True) for i in range(12)]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 40)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [50] * 12)
    images.write(root, "anim12.gif", bytes(strip.gifsave_buffer()))
    return root


@pytest.fixture
def settings(limit_root: Path) -> Settings:
    return make_settings(
        limit_root,
        limits__max_source_bytes=200_000,
        limits__max_source_pixels=900_000,
        limits__max_interlaced_pixels=500_000,
        limits__max_frames=10,
        limits__max_output_width=2000,
        limits__max_output_height=1000,
        imaging__threads=1,
        imaging__queue_size=0,
    )


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/unsafe/100x100/medium.jpg", 200, ""),
        ("/unsafe/100x100/progressive.jpg", 422, "progressive"),
        ("/unsafe/100x100/anim12.gif", 422, "frames"),
        ("/unsafe/2001x10/small.jpg", 400, "limit"),
        ("/unsafe/10x1001/small.jpg", 400, "limit"),
        ("/unsafe/2000x1000/small.jpg", 200, ""),
    ],
)
@pytest.mark.gen_test
async def test_limits(fetch, path, status, words) -> None:
    response = await fetch(path)
    assert response.code == status, response.body
    assert words in response.body.decode(errors="replace")


@pytest.mark.gen_test
async def test_source_bytes_limit_is_413(fetch, limit_root: Path) -> None:
    noise = pyvips.Image.gaussnoise(300, 300, sigma=80).bandjoin([pyvips.Image.gaussnoise(300, 300)] * 2)
    images.write(limit_root, "heavy.png", bytes(noise.cast("uchar").pngsave_buffer()))  # noise: > 200 kB
    size = (limit_root / "heavy.png").stat().st_size
    assert size > 200_000
    response = await fetch("/unsafe/100x100/heavy.png")
    assert response.code == 413
    assert "too large" in response.body.decode() or "limit" in response.body.decode()


@pytest.mark.gen_test
async def test_pixel_limit_is_checked_from_the_header(fetch, limit_root: Path) -> None:
    images.write(limit_root, "wide.jpg", images.jpeg(1200, 800))  # 960k pixels > 900k
    response = await fetch("/unsafe/10x10/wide.jpg")
    assert response.code == 422
    assert "pixels" in response.body.decode()


@pytest.mark.gen_test
async def test_full_queue_answers_503_with_retry_after(fetch, monkeypatch) -> None:
    """One render thread, no waiting room: a second render while one is held gets 503 at once."""
    started, release = threading.Event(), threading.Event()

    def held_render(*args):  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(30)
        return real_render(*args)

    monkeypatch.setattr(image_handler, "render", held_render)
    first = asyncio.ensure_future(fetch("/unsafe/100x100/medium.jpg"))
    while not started.is_set():
        await asyncio.sleep(0.01)
    second = await fetch("/unsafe/50x50/medium.jpg")
    assert second.code == 503
    assert second.headers["Retry-After"] == "1"
    assert "Cache-Control" not in second.headers  # never cache a 5xx
    release.set()
    assert (await first).code == 200
    assert (await fetch("/unsafe/50x50/medium.jpg")).code == 200  # recovers once free
