"""Fuzzing the real server over its socket: never a 5xx, never a hang, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import tornado.httpclient
import tornado.ioloop
from hypothesis import HealthCheck, given
from hypothesis import settings as budget
from hypothesis import strategies as st

from imgserver.settings import Settings
from tests import images
from tests.integration.conftest import make_settings
from tests.strategies import any_paths, grammar_paths, on_the_wire

pytestmark = pytest.mark.integration

EXAMPLES = 250  # a fixed budget: the suite must stay fast


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    images.write(root, "a.jpg", images.jpeg(200, 150))
    images.write(root, "sub/b.png", images.png(120, 80, alpha=True))
    return root


@pytest.fixture
def settings(root: Path) -> Settings:
    return make_settings(root)


@pytest.fixture
def get(io_loop: tornado.ioloop.IOLoop, http_server, http_client, base_url):  # type: ignore[no-untyped-def]
    """A blocking GET on the server pytest-tornado runs, for hypothesis' synchronous tests."""

    def _get(path: str) -> tornado.httpclient.HTTPResponse:
        async def go() -> tornado.httpclient.HTTPResponse:
            return await http_client.fetch(base_url + path, raise_error=False, request_timeout=20)

        return io_loop.run_sync(go, timeout=30)

    return _get


def check(response: tornado.httpclient.HTTPResponse, path: str) -> None:
    assert response.code < 500, (path, response.code, response.body[:200])
    assert response.code != 599, (path, "no answer")  # 599: timeout or connection error
    if response.code >= 400:
        body = response.body.decode(errors="replace")
        assert "Traceback" not in body, path
        assert len(body) < 300, path


@budget(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(grammar_paths())
def test_grammar_aware_paths(get, path: str) -> None:
    wire = on_the_wire(path)
    check(get(wire), wire)


@budget(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(any_paths(), st.sampled_from(["a.jpg", "sub/b.png"]))
def test_random_paths_and_real_keys(get, path: str, key: str) -> None:
    for candidate in (path, path.rstrip("/") + "/" + key):
        wire = on_the_wire(candidate)
        check(get(wire), wire)
