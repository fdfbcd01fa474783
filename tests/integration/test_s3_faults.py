"""S3 faults against a SeaweedFS of this module's own: killed, paused, brought back.

Bounds, not performance targets: with connect 1 s, read 2 s and 2 attempts an outage
must be answered well inside 15 s, and imgserver recovers without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.ioloop

from imgserver.settings import Settings
from imgserver.state import AppState
from tests import images, s3server
from tests.integration.conftest import aws_environment, close_test_state, open_test_state, s3_settings
from tests.s3server import SeaweedServer

pytestmark = pytest.mark.integration

BOUND = 15.0


@pytest.fixture(scope="module")
def own_seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed-faults"))
    server.start()
    try:
        server.create_buckets(s3server.ORIGINALS, s3server.RESULTS)
        for name in ("a.jpg", "b.jpg", "c.jpg"):
            server.put(s3server.ORIGINALS, name, images.jpeg(200, 100))
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(image_root: Path, own_seaweed: SeaweedServer) -> Settings:
    return s3_settings(image_root, own_seaweed.endpoint, result_cache__kind="none")


@pytest.fixture
def state(
    io_loop: tornado.ioloop.IOLoop, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppState]:
    aws_environment(monkeypatch, s3server.IMGSERVER)
    state = open_test_state(io_loop, settings)
    yield state
    close_test_state(io_loop, state)


@pytest.mark.gen_test(timeout=60)
async def test_stopped_store_is_502_quickly_and_recovers_without_restart(fetch, own_seaweed: SeaweedServer) -> None:
    assert (await fetch("/unsafe/50x50/a.jpg")).code == 200  # the pool now holds a live connection
    own_seaweed.kill()
    try:
        started = time.monotonic()
        response = await fetch("/unsafe/50x50/b.jpg")
        elapsed = time.monotonic() - started
        assert response.code == 502, response.body
        assert "Cache-Control" not in response.headers
        assert elapsed < BOUND
    finally:
        own_seaweed.start()
    await asyncio.to_thread(own_seaweed.wait_serving, s3server.ORIGINALS, "c.jpg")  # the store, not us
    response = await fetch("/unsafe/50x50/c.jpg")
    assert response.code == 200


@pytest.mark.gen_test(timeout=60)
async def test_hung_store_is_504_within_the_timeouts_and_recovers(fetch, own_seaweed: SeaweedServer) -> None:
    assert (await fetch("/unsafe/60x60/a.jpg")).code == 200
    own_seaweed.pause()  # connections are accepted by the kernel, nothing ever answers
    try:
        started = time.monotonic()
        response = await fetch("/unsafe/60x60/b.jpg")
        elapsed = time.monotonic() - started
        assert response.code == 504, response.body
        assert "Cache-Control" not in response.headers
        assert elapsed < BOUND
    finally:
        own_seaweed.resume()
    await asyncio.to_thread(own_seaweed.wait_serving, s3server.ORIGINALS, "c.jpg")  # the store, not us
    assert (await fetch("/unsafe/60x60/c.jpg")).code == 200
