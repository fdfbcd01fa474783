"""The upload API with the filesystem stores, over a real socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import jsonschema
import pytest
import pyvips

from imgserver.metadata import schema
from imgserver.settings import Settings
from tests import images
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration

ALICE = {"Authorization": "Bearer alice-secret-1"}
BOB = {"Authorization": "Bearer bob-secret-2"}


def validate(doc: dict) -> None:  # type: ignore[type-arg]
    jsonschema.validate(doc, schema(), format_checker=jsonschema.FormatChecker())


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    (tmp_path / "data" / "originals").mkdir(parents=True)
    return tmp_path / "data"


@pytest.fixture
def settings(store: Path) -> Settings:
    return make_settings(
        store / "originals",
        upload__enabled=True,
        upload__tokens=["alice:alice-secret-1", "bob:bob-secret-2"],
        upload__max_bytes=400_000,
        upload__min_width=16,
        upload__min_height=16,
        storage__root=str(store),
    )


async def upload(fetch, data: bytes, name: str = "Dr Smith.JPG", headers: dict | None = None):  # type: ignore[no-untyped-def]
    body, ctype = multipart("media", name, data)
    return await fetch("/image", method="POST", body=body, headers={**(headers or ALICE), "Content-Type": ctype})


@pytest.mark.gen_test
async def test_upload_store_serve_list_delete(fetch, store: Path) -> None:
    original = images.jpeg(640, 480, orientation=6)
    response = await upload(fetch, original)
    assert response.code == 201, response.body
    doc = json.loads(response.body)
    key = doc["key"]
    assert key.startswith("dr-smith-") and key.endswith(".jpg")
    assert response.headers["Location"] == f"/image/{key}"
    meta = doc["metadata"]
    validate(meta)
    assert (meta["width"], meta["height"], meta["display_width"], meta["display_height"]) == (640, 480, 480, 640)
    assert meta["orientation"] == 6
    assert meta["uploader"] == "alice"
    assert meta["source"] == "api"
    # Both stores hold their part; the original is byte-identical.
    assert (store / "originals" / key).read_bytes() == original
    assert json.loads((store / "metadata" / f"{key}.json").read_text()) == meta
    # The example URL in the answer is signed and renders.
    thumb = await fetch(doc["url"])
    assert thumb.code == 200
    assert images.size_of(thumb.body) == (300, 200)

    again = await upload(fetch, original)
    assert again.code == 200  # idempotent: same bytes and name → same key, nothing rewritten
    assert json.loads(again.body)["key"] == key
    assert json.loads(again.body)["metadata"]["uploaded_at"] == meta["uploaded_at"]

    got = await fetch(f"/image/{key}", headers=BOB)
    assert got.code == 200
    assert got.body == original
    assert json.loads((await fetch(f"/image/{key}/metadata", headers=BOB)).body) == meta

    slug = {**BOB, "Slug": "logos/Cross.png"}
    raw = await fetch("/image?filename=ignored.png", method="POST", body=images.png(64, 48), headers=slug)
    assert raw.code == 201
    logo = json.loads(raw.body)
    assert logo["key"].startswith("logos/cross-") and logo["key"].endswith(".png")
    assert logo["metadata"]["uploader"] == "bob"

    listed = json.loads((await fetch("/images?limit=1", headers=ALICE)).body)
    assert len(listed["items"]) == 1
    assert listed["cursor"]
    rest = json.loads((await fetch(f"/images?limit=10&cursor={listed['cursor']}", headers=ALICE)).body)
    keys = {item["key"] for item in listed["items"] + rest["items"]}
    assert keys == {key, logo["key"]}
    assert rest["cursor"] is None
    only_logos = json.loads((await fetch("/images?prefix=logos/", headers=ALICE)).body)
    assert [item["key"] for item in only_logos["items"]] == [logo["key"]]
    for item in listed["items"] + rest["items"]:
        validate(item)

    deleted = await fetch(f"/image/{key}", method="DELETE", headers=ALICE)
    assert deleted.code == 204
    assert (await fetch(f"/image/{key}", headers=ALICE)).code == 404
    assert (await fetch(f"/image/{key}/metadata", headers=ALICE)).code == 404
    assert (await fetch(f"/unsafe/100x100/{key}")).code == 404
    assert (await fetch(f"/image/{key}", method="DELETE", headers=ALICE)).code == 404


@pytest.mark.gen_test
async def test_sign_api(fetch) -> None:
    response = await fetch("/api/sign", method="POST", body=json.dumps({"path": "120x0/x.jpg"}), headers=ALICE)
    assert response.code == 200
    url = json.loads(response.body)["url"]
    assert url.endswith("/120x0/x.jpg")
    assert not url.startswith("/unsafe/")
    assert (await fetch("/api/sign", method="POST", body=b"{}", headers=ALICE)).code == 400
    assert (await fetch("/api/sign", method="POST", body=b"{}")).code == 401


BAD_UPLOADS = [
    ("not an image", b"hello world, not an image" * 10, 415, "not a supported image"),
    ("truncated", images.jpeg(400, 300, quality=95)[:3000], 422, "decoded"),
    ("bomb header", images.png_header_only(100_000, 100_000), 422, "pixels"),
    ("too small", images.jpeg(8, 8), 422, "smaller than 16x16"),
]


@pytest.mark.parametrize(("label", "data", "status", "words"), BAD_UPLOADS)
@pytest.mark.gen_test
async def test_bad_uploads(fetch, store: Path, label, data, status, words) -> None:
    response = await upload(fetch, data, name=f"{label}.jpg")
    assert response.code == status, response.body
    assert words in response.body.decode()
    assert not any((store / "originals").iterdir())  # nothing stored
    assert not (store / "metadata").exists() or not any((store / "metadata").iterdir())


@pytest.mark.gen_test
async def test_auth_and_empty_and_missing_field(fetch) -> None:
    body, ctype = multipart("media", "a.jpg", images.jpeg(64, 64))
    missing = await fetch("/image", method="POST", body=body, headers={"Content-Type": ctype})
    assert missing.code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    nope = {"Authorization": "Bearer nope", "Content-Type": ctype}
    wrong = await fetch("/image", method="POST", body=body, headers=nope)
    assert wrong.code == 403
    empty = await fetch("/image", method="POST", body=b"", headers=ALICE)
    assert empty.code == 400
    assert "empty" in empty.body.decode()
    other_field, ctype = multipart("file", "a.jpg", images.jpeg(64, 64))
    no_media = await fetch("/image", method="POST", body=other_field, headers={**ALICE, "Content-Type": ctype})
    assert no_media.code == 400
    assert "media" in no_media.body.decode()
    assert (await fetch("/images")).code == 401
    assert (await fetch("/images", headers={"Authorization": "Basic abc"})).code == 401


def _port(http_server) -> int:  # type: ignore[no-untyped-def]
    return next(iter(http_server._sockets.values())).getsockname()[1]


async def _raw_exchange(port: int, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Send a request by hand; return what the server answered (reading until it closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    try:
        for chunk in body_chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0)
    except OSError:
        pass  # the server may stop reading once it has answered
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    return answer


@pytest.mark.gen_test
async def test_oversized_body_is_refused_before_it_is_read(http_server, state) -> None:  # type: ignore[no-untyped-def]
    port = _port(http_server)
    head = (
        b"POST /image HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-secret-1\r\n"
        b"Content-Type: image/jpeg\r\nContent-Length: 1000000000\r\n\r\n"
    )
    answer = await _raw_exchange(port, head, [b"\xff\xd8" + b"\x00" * 1000])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    # Chunked: no length up front; refused as soon as the cap is passed.
    head = (
        b"POST /image HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-secret-1\r\n"
        b"Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"\x00" * 100_000
    chunks = [b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(6)]
    answer = await _raw_exchange(port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


@pytest.mark.gen_test
async def test_metadata_store_failure_then_retry_converges(fetch, store: Path) -> None:
    # The metadata folder cannot be created (a file is in the way): the original is stored,
    # the metadata write fails, and the client is told so — not "201 Created".
    (store / "metadata").write_text("in the way")
    original = images.jpeg(320, 240)
    failed = await upload(fetch, original, name="retry.jpg")
    assert failed.code == 502
    assert len(list((store / "originals").iterdir())) == 1
    (store / "metadata").unlink()
    retried = await upload(fetch, original, name="retry.jpg")
    assert retried.code == 201
    key = json.loads(retried.body)["key"]
    assert (store / "metadata" / f"{key}.json").exists()
    assert (store / "originals" / key).read_bytes() == original
    validate(json.loads((store / "metadata" / f"{key}.json").read_text()))


@pytest.mark.gen_test
async def test_gps_is_only_a_flag_by_default(fetch) -> None:
    image = images.scene(200, 150).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitude", "52/1 22/1 3000/100")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitudeRef", "N")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLongitude", "4/1 53/1 0/1")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLongitudeRef", "E")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", "Canon")
    response = await upload(fetch, bytes(image.jpegsave_buffer()), name="gps.jpg")
    meta = json.loads(response.body)["metadata"]
    validate(meta)
    assert meta["has_gps"] is True
    assert "gps" not in meta
    assert meta["exif"]["make"] == "Canon"
