"""Fixtures: a generated image folder and the real app served by pytest-tornado on a socket."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.web

from imgserver.app import make_app, make_state
from imgserver.imaging.setup import configure
from imgserver.settings import Settings, load_settings
from imgserver.state import AppState
from tests import images

TEST_KEY = "test-signing-key"


@pytest.fixture
def io_loop() -> Iterator[tornado.ioloop.IOLoop]:
    """pytest-tornado's own io_loop calls the deprecated make_current(); this one does not."""
    loop = tornado.ioloop.IOLoop(make_current=False)
    asyncio.set_event_loop(loop.asyncio_loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close(all_fds=True)


@pytest.fixture(scope="session", autouse=True)
def _vips() -> None:
    configure(concurrency=1)


@pytest.fixture(scope="session")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The loader root, with every source the HTTP tests use (all generated here)."""
    base = tmp_path_factory.mktemp("store")
    root = base / "root"
    root.mkdir()
    w = images.write
    for name, (width, height) in {
        "land.jpg": (1000, 500),
        "port.jpg": (500, 1000),
        "a43.jpg": (800, 600),
        "small.jpg": (300, 200),
        "hd.jpg": (1920, 1080),
        "sq.jpg": (100, 100),
    }.items():
        w(root, name, images.jpeg(width, height))
    w(root, "photos/doctor.jpg", images.jpeg(1600, 1067))
    w(root, "rotated6.jpg", images.jpeg(640, 480, orientation=6))
    w(root, "alpha.png", images.png(400, 300, alpha=True))
    w(root, "trim.png", images.boxed_png(400, 300, [255, 255, 255], (50, 40, 200, 140), [255, 0, 0]))
    w(root, "trim_br.png", images.boxed_png(400, 300, [0, 0, 255], (100, 100, 200, 100), [0, 255, 0]))
    w(root, "name with space.jpg", images.jpeg(120, 80))
    w(root, "ünïcödé/фото.jpg", images.jpeg(120, 80))
    good = images.jpeg(1200, 900, quality=95)
    w(root, "bad/truncated.jpg", good[: len(good) // 2])
    w(root, "bad/empty.jpg", b"")
    w(root, "bad/text.jpg", b"this is not an image, just text that claims to be a JPEG\n" * 10)
    w(root, "bad/huge-header.png", images.png_header_only(100_000, 100_000))
    w(root, "big/24mp.jpg", images.jpeg(6000, 4000, quality=70))
    # Outside the root: reachable only by traversal or a symlink, which must both 404.
    w(base, "secret.jpg", images.jpeg(50, 50))
    os.symlink(base / "secret.jpg", root / "link-out.jpg")
    os.symlink(root / "small.jpg", root / "link-in.jpg")
    return root


def make_settings(root: Path, **overrides: object) -> Settings:
    values: dict[tuple[str, str], object] = {
        ("file", "root"): str(root),
        ("security", "allow_unsafe"): True,
        ("security", "keys"): [TEST_KEY],
        ("imaging", "threads"): 2,
    }
    for dotted, value in overrides.items():
        section, name = dotted.split("__")
        values[(section, name)] = value
    return load_settings(None, environ={}, overrides=values)


@pytest.fixture
def settings(image_root: Path) -> Settings:
    return make_settings(image_root)


@pytest.fixture
def state(settings: Settings) -> AppState:
    return make_state(settings)


@pytest.fixture
def app(state: AppState) -> tornado.web.Application:
    return make_app(state)


@pytest.fixture
def fetch(http_client: tornado.httpclient.AsyncHTTPClient, base_url: str):  # type: ignore[no-untyped-def]
    """GET (or another method) a path on the running server; never raises on HTTP errors."""

    async def _fetch(path: str, method: str = "GET", **kwargs: object) -> tornado.httpclient.HTTPResponse:
        return await http_client.fetch(base_url + path, method=method, raise_error=False, **kwargs)

    return _fetch
