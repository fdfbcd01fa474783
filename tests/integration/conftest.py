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
from imgserver.wiring import close_state, open_state
from tests import images, s3server
from tests.motoserver import MotoServer
from tests.s3server import SeaweedServer

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


# --- S3 (issue 4): one SeaweedFS for the session, and the AWS credential chain via env ---


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A real S3 server with the buckets and originals the S3 tests use."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        server.create_buckets(
            s3server.ORIGINALS, s3server.RESULTS, s3server.READONLY_RESULTS, s3server.OTHER, s3server.METADATA
        )
        for key, body in s3_originals().items():
            server.put(s3server.ORIGINALS, key, body)
        server.put(s3server.OTHER, "secret.jpg", images.jpeg(20, 20))
        yield server
    finally:
        server.stop()


def s3_originals() -> dict[str, bytes]:
    hd = images.jpeg(1920, 1080)
    return {
        "hd.jpg": hd,
        "small.jpg": images.jpeg(300, 200),
        "alpha.png": images.png(400, 300, alpha=True),
        "photos/doctor with space.jpg": images.jpeg(640, 427),
        "tenant-a/hd.jpg": hd,
        "empty.jpg": b"",
    }


def aws_environment(monkeypatch: pytest.MonkeyPatch, credentials: tuple[str, str]) -> None:
    """The standard credential chain, fed from the environment only (no profile, no IMDS)."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials[1])
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/imgserver-test-aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/imgserver-test-aws-credentials")


def s3_settings(root: Path, endpoint: str, **overrides: object) -> Settings:
    """Settings for the S3 loader and S3 result cache against ``endpoint``; short timeouts
    and 2 attempts so fault tests answer quickly."""
    values: dict[str, object] = {
        "loader__kind": "s3",
        "s3__endpoint_url": endpoint,
        "s3__region": s3server.REGION,
        "s3__originals_bucket": s3server.ORIGINALS,
        "s3__results_bucket": s3server.RESULTS,
        "s3__addressing_style": "path",
        "s3__connect_timeout": 1.0,
        "s3__read_timeout": 2.0,
        "s3__max_attempts": 2,
        "result_cache__kind": "s3",
        # These tests count result-cache hits of back-to-back requests, which a lingering
        # flight (imaging.coalesce_linger) would answer first.
        "imaging__coalesce_linger": 0,
    }
    values.update(overrides)
    return make_settings(root, **values)


def open_test_state(io_loop: tornado.ioloop.IOLoop, settings: Settings) -> AppState:
    return io_loop.run_sync(lambda: open_state(settings))


def close_test_state(io_loop: tornado.ioloop.IOLoop, state: AppState) -> None:
    io_loop.run_sync(lambda: close_state(state))


# --- issue 5: moto's standalone server (S3 + SQS, bucket notifications) for the event worker ---


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
