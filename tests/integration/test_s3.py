"""The S3 loader and the S3 result cache against a real SeaweedFS over HTTP (SigV4 checked)."""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.web

from imgserver.plan.keys import normalised, result_key
from imgserver.settings import Settings
from imgserver.state import AppState
from imgserver.url.grammar import parse_path
from imgserver.wiring import close_state
from imgserver.wiring import open_state as open_state_async
from tests import images, s3server
from tests.integration.conftest import aws_environment, close_test_state, open_test_state, s3_settings
from tests.s3server import SeaweedServer

pytestmark = pytest.mark.integration


@pytest.fixture
def credentials() -> tuple[str, str]:
    return s3server.IMGSERVER


@pytest.fixture
def overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def settings(image_root: Path, seaweed: SeaweedServer, overrides: dict[str, object]) -> Settings:
    return s3_settings(image_root, seaweed.endpoint, **overrides)


@pytest.fixture
def state(
    io_loop: tornado.ioloop.IOLoop,
    settings: Settings,
    seaweed: SeaweedServer,
    credentials: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AppState]:
    seaweed.empty(s3server.RESULTS)  # every test starts with a cold result cache
    aws_environment(monkeypatch, credentials)
    state = open_test_state(io_loop, settings)
    yield state
    close_test_state(io_loop, state)


async def settle(state: AppState) -> None:
    """Wait for background result-cache writes (the client never waits for them)."""
    while state.background:
        await asyncio.wait(set(state.background), timeout=10)


@pytest.mark.gen_test
async def test_s3_original_is_rendered_with_validators(fetch, state: AppState) -> None:
    response = await fetch("/unsafe/300x200/hd.jpg")
    assert response.code == 200, response.body
    assert images.size_of(response.body) == (300, 200)
    assert response.headers["Content-Type"] == "image/jpeg"
    modified = response.headers["Last-Modified"]
    assert email.utils.parsedate_to_datetime(modified).year >= 2024
    assert state.metrics["source_loads"] == 1 and state.metrics["renders"] == 1

    by_date = await fetch("/unsafe/300x200/hd.jpg", headers={"If-Modified-Since": modified})
    by_tag = await fetch("/unsafe/300x200/hd.jpg", headers={"If-None-Match": response.headers["ETag"]})
    assert (by_date.code, by_tag.code) == (304, 304)
    assert state.metrics["source_loads"] == 1  # a 304 needs the identity only, not the body


@pytest.mark.gen_test
async def test_keys_with_spaces_and_folders(fetch, state: AppState) -> None:
    response = await fetch("/unsafe/100x0/photos/doctor%20with%20space.jpg")
    assert response.code == 200
    assert images.size_of(response.body) == (100, 67)


@pytest.mark.parametrize("overrides", [{"s3__prefix": "tenant-a/"}])
@pytest.mark.gen_test
async def test_prefix_maps_image_keys_to_object_keys(fetch, state: AppState) -> None:
    assert (await fetch("/unsafe/50x50/hd.jpg")).code == 200  # tenant-a/hd.jpg
    assert (await fetch("/unsafe/50x50/small.jpg")).code == 404  # exists only outside the prefix
    assert (await fetch("/unsafe/50x50/../small.jpg")).code == 404  # no escaping the prefix


@pytest.mark.gen_test
async def test_missing_object_is_404_with_a_short_cache_control(fetch, state: AppState) -> None:
    response = await fetch("/unsafe/100x100/no/such/object.jpg")
    assert response.code == 404
    assert response.headers["Cache-Control"] == "public, max-age=60"


@pytest.mark.gen_test
async def test_empty_object_is_422(fetch, state: AppState) -> None:
    assert (await fetch("/unsafe/100x100/empty.jpg")).code == 422


@pytest.mark.parametrize("overrides", [{"limits__max_source_bytes": 10_000}])
@pytest.mark.gen_test
async def test_over_the_byte_limit_is_413_from_the_object_size(fetch, state: AppState) -> None:
    response = await fetch("/unsafe/100x100/hd.jpg")
    assert response.code == 413
    assert state.metrics["source_loads"] == 0  # refused from the size, before any download


@pytest.mark.parametrize(
    "credentials",
    [s3server.NOBODY, (s3server.IMGSERVER[0], "a-wrong-secret-0000000000000000000000")],
    ids=["access-denied", "bad-signature"],
)
@pytest.mark.gen_test
async def test_access_denied_and_bad_credentials_are_502_without_cache_control(fetch, state: AppState) -> None:
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("imgserver_upstream_errors_total", {"kind": "error"}) or 0.0
    response = await fetch("/unsafe/100x100/hd.jpg")
    assert response.code == 502, response.body
    assert "Cache-Control" not in response.headers
    assert REGISTRY.get_sample_value("imgserver_upstream_errors_total", {"kind": "error"}) == before + 1


def test_least_privilege_identity_is_enforced(seaweed: SeaweedServer) -> None:
    """The identity the tests serve with holds the README's policy and nothing more."""
    reader = s3server.client(seaweed.endpoint, s3server.IMGSERVER)
    reader.get_object(Bucket=s3server.ORIGINALS, Key="small.jpg")
    for call in (
        lambda: reader.put_object(Bucket=s3server.ORIGINALS, Key="x.jpg", Body=b"x"),
        lambda: reader.get_object(Bucket=s3server.OTHER, Key="secret.jpg"),
        lambda: reader.put_object(Bucket=s3server.READONLY_RESULTS, Key="x.jpg", Body=b"x"),
    ):
        with pytest.raises(Exception, match="AccessDenied"):
            call()


# --- the S3 result cache ---


def expected_name(seaweed: SeaweedServer, path: str, ext: str) -> str:
    parsed = parse_path(path)
    etag = seaweed.admin().head_object(Bucket=s3server.ORIGINALS, Key=parsed.image)["ETag"]
    return f"{parsed.image}/{result_key(normalised(parsed), 's3-' + etag.strip(chr(34)), '')}.{ext}"


@pytest.mark.gen_test
async def test_result_cache_miss_stores_then_hit_skips_download_and_render(
    fetch, app: tornado.web.Application, state: AppState, seaweed: SeaweedServer, io_loop: tornado.ioloop.IOLoop
) -> None:
    path = "/unsafe/fit-in/640x640/hd.jpg"
    first = await fetch(path)
    assert first.code == 200
    await settle(state)
    assert state.metrics["result_cache_misses"] == 1 and state.metrics["result_cache_stores"] == 1
    assert seaweed.keys(s3server.RESULTS, "hd.jpg/") == [expected_name(seaweed, path, "jpg")]

    second = await fetch(path)
    assert second.code == 200
    assert second.body == first.body
    assert second.headers["Content-Type"] == "image/jpeg"
    assert second.headers["ETag"] == first.headers["ETag"]
    assert state.metrics["result_cache_hits"] == 1
    assert state.metrics["source_loads"] == 1 and state.metrics["renders"] == 1  # the hit decoded nothing

    # Another instance (a fresh process state, same buckets) never renders it again.
    other = await open_state_async(state.settings)
    app.settings["state"] = other
    try:
        third = await fetch(path)
        assert third.body == first.body
        assert other.metrics["result_cache_hits"] == 1 and other.metrics["renders"] == 0
    finally:
        app.settings["state"] = state
        await close_state(other)


@pytest.mark.gen_test
async def test_every_result_of_an_original_shares_its_prefix(fetch, state: AppState, seaweed: SeaweedServer) -> None:
    """Format is part of the key and the extension; all results sit under ``<key>/``."""
    for path in ("/unsafe/200x0/hd.jpg", "/unsafe/200x0/filters:format(webp)/hd.jpg", "/unsafe/100x100/alpha.png"):
        assert (await fetch(path)).code == 200
    await settle(state)
    assert seaweed.keys(s3server.RESULTS, "hd.jpg/") == sorted(
        [expected_name(seaweed, "/unsafe/200x0/hd.jpg", "jpg"),
         expected_name(seaweed, "/unsafe/200x0/filters:format(webp)/hd.jpg", "webp")]
    )
    assert seaweed.keys(s3server.RESULTS, "alpha.png/") == [expected_name(seaweed, "/unsafe/100x100/alpha.png", "png")]
    webp = await fetch("/unsafe/200x0/filters:format(webp)/hd.jpg")
    assert webp.headers["Content-Type"] == "image/webp"
    assert state.metrics["result_cache_hits"] == 1


@pytest.mark.gen_test
async def test_a_changed_original_is_a_miss(fetch, state: AppState, seaweed: SeaweedServer) -> None:
    seaweed.put(s3server.ORIGINALS, "changing.jpg", images.jpeg(400, 300))
    first = await fetch("/unsafe/100x0/changing.jpg")
    await settle(state)
    seaweed.put(s3server.ORIGINALS, "changing.jpg", images.jpeg(400, 200))
    second = await fetch("/unsafe/100x0/changing.jpg")
    assert images.size_of(first.body) == (100, 75) and images.size_of(second.body) == (100, 50)
    assert first.headers["ETag"] != second.headers["ETag"]
    assert state.metrics["result_cache_hits"] == 0 and state.metrics["renders"] == 2


@pytest.mark.parametrize("overrides", [{"s3__results_bucket": s3server.READONLY_RESULTS}])
@pytest.mark.gen_test
async def test_store_failures_are_counted_never_client_errors(fetch, state: AppState) -> None:
    response = await fetch("/unsafe/120x120/hd.jpg")
    assert response.code == 200
    await settle(state)
    assert state.metrics["result_cache_store_failures"] == 1
    assert state.metrics["result_cache_stores"] == 0
    assert (await fetch("/unsafe/120x120/hd.jpg")).code == 200  # still served, rendered again


@pytest.mark.gen_test
async def test_twenty_concurrent_identical_requests_load_and_render_once(
    state: AppState, http_server: object, base_url: str
) -> None:
    """Single-flight proof. The loader is held until all 20 requests wait on the flight, so
    the overlap is certain rather than a matter of timing."""
    path = "/unsafe/fit-in/800x800/hd.jpg"
    real_loader = state.loader
    key = None

    class HeldLoader:
        async def stat(self, image: str, max_bytes: int):  # type: ignore[no-untyped-def]
            return await real_loader.stat(image, max_bytes)

        async def load(self, image: str, max_bytes: int):  # type: ignore[no-untyped-def]
            for _ in range(400):  # bounded: 4 s
                if key is not None and state.flights.waiting(key) >= 20:
                    break
                await asyncio.sleep(0.01)
            return await real_loader.load(image, max_bytes)

        async def close(self) -> None:
            return None

    state.loader = HeldLoader()
    info = await real_loader.stat("hd.jpg", 10**9)
    assert info is not None
    key = result_key(normalised(parse_path(path)), info.identity, "")
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=32)
    try:
        responses = await asyncio.gather(
            *(client.fetch(base_url + path, raise_error=False) for _ in range(20))
        )
    finally:
        client.close()
    assert [r.code for r in responses] == [200] * 20
    assert len({r.body for r in responses}) == 1
    assert state.metrics["source_loads"] == 1
    assert state.metrics["renders"] == 1
    assert state.flights.started == 1 and state.flights.joined == 19


@pytest.mark.parametrize("overrides", [{"formats__auto_webp": True}])
@pytest.mark.gen_test
async def test_negotiated_formats_are_cached_apart(fetch, state: AppState, seaweed: SeaweedServer) -> None:
    """The cache key holds the negotiated format: a */* client never gets the cached WebP."""
    webp = await fetch("/unsafe/150x0/hd.jpg", headers={"Accept": "image/webp,*/*"})
    jpeg = await fetch("/unsafe/150x0/hd.jpg", headers={"Accept": "*/*"})
    assert webp.headers["Content-Type"] == "image/webp"
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    await settle(state)
    names = seaweed.keys(s3server.RESULTS, "hd.jpg/")
    assert sorted(name.rsplit(".", 1)[1] for name in names) == ["jpg", "webp"]
    for accept, mime in (("*/*", "image/jpeg"), ("image/webp", "image/webp"), (None, "image/jpeg")):
        headers = {"Accept": accept} if accept else {}
        again = await fetch("/unsafe/150x0/hd.jpg", headers=headers)
        assert again.headers["Content-Type"] == mime
        assert again.headers["Vary"] == "Accept"
    assert state.metrics["result_cache_hits"] == 3
    assert state.metrics["renders"] == 2
    # DELETE of an original purges every cached result under its prefix.
    assert state.store is not None
    assert await state.store.delete_prefix("hd.jpg") == 2
    assert seaweed.keys(s3server.RESULTS, "hd.jpg/") == []
