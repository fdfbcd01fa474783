"""The upload API on S3 object stores (``storage.kind = s3``) against a real SeaweedFS: the
original lands in the originals bucket under ``s3.prefix`` (and is served by the S3 loader),
its document in the metadata bucket; list, GET and DELETE work on both. The identity has
exactly the README's upload-API rights."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.ioloop

from imgserver.bulk import Summary, import_files
from imgserver.pool import RenderPool
from imgserver.settings import Settings
from imgserver.state import AppState
from imgserver.wiring import open_ingestor
from tests import images, s3server
from tests.integration.conftest import aws_environment, close_test_state, open_test_state, s3_settings
from tests.integration.test_s3 import settle
from tests.integration.test_upload import ALICE, upload, validate
from tests.s3server import SeaweedServer

pytestmark = pytest.mark.integration

PREFIX = "uploads/"


@pytest.fixture
def settings(image_root: Path, seaweed: SeaweedServer) -> Settings:
    return s3_settings(
        image_root,
        seaweed.endpoint,
        upload__enabled=True,
        upload__tokens=["alice:alice-secret-1"],
        storage__kind="s3",
        s3__metadata_bucket=s3server.METADATA,
        s3__prefix=PREFIX,
    )


@pytest.fixture
def state(
    io_loop: tornado.ioloop.IOLoop, settings: Settings, seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppState]:
    for bucket in (s3server.METADATA, s3server.RESULTS):
        seaweed.empty(bucket)
    for key in seaweed.keys(s3server.ORIGINALS, PREFIX):
        seaweed.admin().delete_object(Bucket=s3server.ORIGINALS, Key=key)
    aws_environment(monkeypatch, s3server.UPLOADER)
    state = open_test_state(io_loop, settings)
    yield state
    close_test_state(io_loop, state)


@pytest.mark.gen_test(timeout=30)
async def test_upload_to_s3_stores_serve_list_delete(fetch, state: AppState, seaweed: SeaweedServer) -> None:
    original = images.jpeg(640, 480)
    created = await upload(fetch, original, name="Staff/Dr Smith.jpg")
    assert created.code == 201, created.body
    answer = json.loads(created.body)
    key, doc = answer["key"], answer["metadata"]
    validate(doc)
    assert doc["original"] == {"store": s3server.ORIGINALS, "path": f"s3://{s3server.ORIGINALS}/{PREFIX}{key}"}
    assert seaweed.keys(s3server.ORIGINALS, PREFIX) == [PREFIX + key]
    assert seaweed.keys(s3server.METADATA) == [f"{key}.json"]
    stored = seaweed.admin().get_object(Bucket=s3server.ORIGINALS, Key=PREFIX + key)
    assert stored["Body"].read() == original
    assert stored["ContentType"] == "image/jpeg"

    # The S3 loader serves the upload (same bucket and prefix), and the result is cached.
    thumb = await fetch(answer["url"])
    assert thumb.code == 200, thumb.body
    assert images.size_of(thumb.body) == (300, 200)
    await settle(state)
    assert seaweed.keys(s3server.RESULTS, key + "/")

    assert (await upload(fetch, original, name="Staff/Dr Smith.jpg")).code == 200  # already present
    logo = json.loads((await upload(fetch, images.png(64, 48), name="logos/Cross.png")).body)["key"]

    got = await fetch(f"/image/{key}", headers=ALICE)
    assert (got.code, got.body) == (200, original)
    assert json.loads((await fetch(f"/image/{key}/metadata", headers=ALICE)).body) == doc
    first = json.loads((await fetch("/images?limit=1", headers=ALICE)).body)
    assert len(first["items"]) == 1 and first["cursor"]
    rest = json.loads((await fetch(f"/images?limit=5&cursor={first['cursor']}", headers=ALICE)).body)
    assert rest["cursor"] is None
    assert sorted(item["key"] for item in first["items"] + rest["items"]) == sorted([key, logo])
    only = json.loads((await fetch("/images?prefix=logos/", headers=ALICE)).body)
    assert [item["key"] for item in only["items"]] == [logo]

    assert (await fetch(f"/image/{key}", method="DELETE", headers=ALICE)).code == 204
    assert seaweed.keys(s3server.ORIGINALS, PREFIX) == [PREFIX + logo]
    assert seaweed.keys(s3server.METADATA) == [f"{logo}.json"]
    assert seaweed.keys(s3server.RESULTS, key + "/") == []
    assert (await fetch(f"/image/{key}", headers=ALICE)).code == 404
    assert (await fetch(f"/image/{key}/metadata", headers=ALICE)).code == 404
    assert (await fetch(answer["url"])).code == 404
    assert (await fetch(f"/image/{key}", method="DELETE", headers=ALICE)).code == 404
    assert (await fetch("/image/../hd.jpg", headers=ALICE)).code == 404


@pytest.mark.gen_test(timeout=30)
async def test_refused_upload_writes_nothing_to_s3(fetch, state: AppState, seaweed: SeaweedServer) -> None:
    response = await upload(fetch, b"plain text, not an image" * 10, name="notes.jpg")
    assert response.code == 415
    assert seaweed.keys(s3server.ORIGINALS, PREFIX) == []
    assert seaweed.keys(s3server.METADATA) == []


def test_bulk_import_into_s3_stores(
    settings: Settings, seaweed: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in seaweed.keys(s3server.ORIGINALS, PREFIX):
        seaweed.admin().delete_object(Bucket=s3server.ORIGINALS, Key=key)
    seaweed.empty(s3server.METADATA)
    aws_environment(monkeypatch, s3server.UPLOADER)
    folder = tmp_path / "import"
    images.write(folder, "a/One.jpg", images.jpeg(120, 90))
    images.write(folder, "b/two.png", images.png(64, 64))
    pool = RenderPool(2, queue_size=100, queue_timeout=60)

    async def run() -> Summary:
        ingestor, close = await open_ingestor(settings, pool)
        try:
            return await import_files(ingestor, [str(folder)], "bulk", jobs=2, out=io.StringIO())
        finally:
            await close()

    try:
        summary = asyncio.run(run())
        again = asyncio.run(run())
    finally:
        pool.shutdown()
    assert len(summary.done) == 2 and not summary.failed
    assert len(again.skipped) == 2 and not again.done  # resumable: nothing written twice
    assert seaweed.keys(s3server.ORIGINALS, PREFIX) == sorted(PREFIX + key for key in summary.done)
    assert seaweed.keys(s3server.METADATA) == sorted(f"{key}.json" for key in summary.done)
