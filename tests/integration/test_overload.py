"""Overload behaviour: deadlines and disconnects drop queued work before it starts."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

from imgserver.handlers import image as image_handler
from imgserver.imaging.steps import render as real_render
from imgserver.settings import Settings
from imgserver.state import AppState
from tests import images
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("overload")
    images.write(root, "a.jpg", images.jpeg(640, 480))
    return root


@pytest.fixture
def settings(root: Path) -> Settings:
    return make_settings(root, imaging__threads=1, imaging__queue_size=4, imaging__queue_timeout=0.3)


@pytest.fixture
def held(monkeypatch):  # type: ignore[no-untyped-def]
    """Renders block until ``release`` is set; ``started`` counts renders that began."""
    started: list[int] = []
    release = threading.Event()

    def held_render(*args):  # type: ignore[no-untyped-def]
        started.append(1)
        assert release.wait(30)
        return real_render(*args)

    monkeypatch.setattr(image_handler, "render", held_render)
    yield started, release
    release.set()


async def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, "condition never became true"
        await asyncio.sleep(0.01)


@pytest.mark.gen_test
async def test_request_past_its_queue_deadline_gets_503_unrendered(fetch, held, state: AppState) -> None:
    started, release = held
    first = asyncio.ensure_future(fetch("/unsafe/100x100/a.jpg"))
    await wait_for(lambda: len(started) == 1)
    second = asyncio.ensure_future(fetch("/unsafe/50x50/a.jpg"))
    await wait_for(lambda: state.pool.waiting == 1)
    await asyncio.sleep(0.5)  # longer than queue_timeout (0.3 s) while the only thread is held
    release.set()
    assert (await first).code == 200
    late = await second
    assert late.code == 503
    assert late.headers["Retry-After"] == "1"
    assert len(started) == 1  # the late request never rendered
    assert state.pool.expired == 1


@pytest.mark.gen_test
async def test_client_disconnect_cancels_its_queued_render(http_server, fetch, held, state: AppState) -> None:
    started, release = held
    first = asyncio.ensure_future(fetch("/unsafe/100x100/a.jpg"))
    await wait_for(lambda: len(started) == 1)
    port = next(iter(http_server._sockets.values())).getsockname()[1]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /unsafe/60x60/a.jpg HTTP/1.1\r\nHost: x\r\n\r\n")
    await wait_for(lambda: state.pool.waiting == 1)
    sock.close()  # the client gives up while its render is queued
    await wait_for(lambda: state.in_flight == 1)  # the server noticed the disconnect
    release.set()
    assert (await first).code == 200
    await wait_for(lambda: state.pool.cancelled == 1)
    assert len(started) == 1
    assert (await fetch("/unsafe/70x70/a.jpg")).code == 200  # and it serves normally after
