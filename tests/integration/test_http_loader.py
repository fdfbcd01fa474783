"""The HTTP loader against a real upstream HTTP server on 127.0.0.1, and its SSRF guard.

Refused addresses are refused inside the resolver, before any connection: the tests that
redirect to 10.0.0.1 or 169.254.169.254 send no packet there.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.httpserver
import tornado.ioloop
import tornado.testing
import tornado.web

from imgserver.settings import Settings
from imgserver.state import AppState
from tests import images
from tests.integration.conftest import close_test_state, make_settings, open_test_state

pytestmark = pytest.mark.integration

HD = images.jpeg(1920, 1080)
LIMIT = 2_000_000


class Upstream(tornado.web.RequestHandler):
    async def get(self, name: str) -> None:
        if name == "hd.jpg":
            self.set_header("Content-Type", "image/jpeg")
            self.set_header("Last-Modified", "Tue, 01 Jul 2025 10:00:00 GMT")
            self.finish(HD)
        elif name == "boom":
            self.set_status(500)
            self.finish("upstream broke")
        elif name == "forbidden":
            self.set_status(403)
            self.finish("no")
        elif name == "slow.jpg":
            await asyncio.sleep(5)
            self.finish(HD)
        elif name == "huge-chunked.jpg":  # no Content-Length: the streaming cap must stop it
            for _ in range(40):
                self.write(b"\xff" * 100_000)
                await self.flush()
            self.finish()
        elif name == "huge.jpg":
            self.finish(b"\xff" * (LIMIT + 1))
        elif name.startswith("to/"):  # redirect to whatever follows, e.g. to/http://10.0.0.1/x.jpg
            self.redirect(name[3:])
        elif name == "loop":
            self.redirect("/loop")
        else:
            self.set_status(404)
            self.finish("nope")


@pytest.fixture
def upstream(io_loop: tornado.ioloop.IOLoop) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (same event loop as the test)."""
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/(.+)", Upstream)]))
    server.add_socket(sock)
    yield f"127.0.0.1:{port}"
    server.stop()
    io_loop.run_sync(server.close_all_connections)


@pytest.fixture
def overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def settings(image_root: Path, upstream: str, overrides: dict[str, object]) -> Settings:
    values: dict[str, object] = {
        "loader__kind": "http",
        "http_loader__allowed_sources": ["127.0.0.1"],
        "http_loader__allow_loopback": True,
        "http_loader__connect_timeout": 1.0,
        "http_loader__request_timeout": 1.0,
        "limits__max_source_bytes": LIMIT,
    }
    values.update(overrides)
    return make_settings(image_root, **values)


@pytest.fixture
def state(io_loop: tornado.ioloop.IOLoop, settings: Settings) -> Iterator[AppState]:
    state = open_test_state(io_loop, settings)
    yield state
    close_test_state(io_loop, state)


@pytest.mark.gen_test
async def test_loads_and_renders_with_and_without_scheme(fetch, upstream: str, state: AppState) -> None:
    for key in (f"{upstream}/hd.jpg", f"http://{upstream}/hd.jpg"):
        response = await fetch(f"/unsafe/320x180/{key}")
        assert response.code == 200, response.body
        assert images.size_of(response.body) == (320, 180)
        assert response.headers["Last-Modified"] == "Tue, 01 Jul 2025 10:00:00 GMT"


@pytest.mark.parametrize(
    ("name", "status"),
    [("missing.jpg", 404), ("boom", 502), ("forbidden", 502), ("huge.jpg", 413), ("huge-chunked.jpg", 413)],
)
@pytest.mark.gen_test
async def test_upstream_answers_keep_their_meaning(
    fetch, upstream: str, state: AppState, name: str, status: int
) -> None:
    response = await fetch(f"/unsafe/100x100/{upstream}/{name}")
    assert response.code == status, response.body
    assert ("Cache-Control" in response.headers) == (status < 500)


@pytest.mark.gen_test(timeout=20)
async def test_slow_upstream_is_504_within_the_timeout(fetch, upstream: str, state: AppState) -> None:
    started = asyncio.get_running_loop().time()
    response = await fetch(f"/unsafe/100x100/{upstream}/slow.jpg")
    assert response.code == 504
    assert asyncio.get_running_loop().time() - started < 4.0  # request_timeout is 1 s


@pytest.mark.gen_test
async def test_redirects_are_followed_and_rechecked(fetch, upstream: str, state: AppState) -> None:
    ok = await fetch(f"/unsafe/100x100/{upstream}/to/http://{upstream}/hd.jpg")
    assert ok.code == 200
    assert (await fetch(f"/unsafe/100x100/{upstream}/loop")).code == 502  # too many redirects
    # allowed_sources is checked on every hop: localhost is not in it.
    port = upstream.split(":")[1]
    assert (await fetch(f"/unsafe/100x100/{upstream}/to/http://localhost:{port}/hd.jpg")).code == 403


@pytest.mark.parametrize("overrides", [{"http_loader__allowed_sources": ["^https?://.*$"]}])
@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/x.jpg",
        "http://[::ffff:10.0.0.1]/x.jpg",
        "http://[fe80::1]/x.jpg",
        "http://224.0.0.1/x.jpg",
        "http://0.0.0.0/x.jpg",
    ],
)
@pytest.mark.gen_test
async def test_redirect_to_a_private_address_is_refused(fetch, upstream: str, state: AppState, target: str) -> None:
    """Every pattern allowed, loopback allowed: the address check alone refuses these."""
    response = await fetch(f"/unsafe/100x100/{upstream}/to/{target}")
    assert response.code == 403
    assert response.body == b"source not allowed\n"


@pytest.mark.parametrize("overrides", [{"http_loader__allow_loopback": False}])
@pytest.mark.gen_test
async def test_loopback_is_refused_by_default(fetch, upstream: str, state: AppState) -> None:
    assert (await fetch(f"/unsafe/100x100/{upstream}/hd.jpg")).code == 403


@pytest.mark.gen_test
async def test_sources_outside_allowed_sources_are_refused(fetch, upstream: str, state: AppState) -> None:
    port = upstream.split(":")[1]
    for key in (f"localhost:{port}/hd.jpg", f"ftp://{upstream}/hd.jpg", f"http://user:pw@{upstream}/hd.jpg"):
        assert (await fetch(f"/unsafe/100x100/{key}")).code == 403, key


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "result_cache__kind": "file",
            "result_cache__root": str(Path(tempfile.mkdtemp()) / "results"),
            "imaging__coalesce_linger": 0,  # back-to-back requests must reach the cache
        }
    ],
)
@pytest.mark.gen_test
async def test_http_sources_use_the_result_cache(fetch, upstream: str, state: AppState) -> None:
    first = await fetch(f"/unsafe/200x0/{upstream}/hd.jpg")
    while state.background:
        await asyncio.wait(set(state.background), timeout=10)
    second = await fetch(f"/unsafe/200x0/{upstream}/hd.jpg")
    assert first.body == second.body
    assert state.metrics["result_cache_hits"] == 1 and state.metrics["renders"] == 1
