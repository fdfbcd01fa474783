"""The real server over a real socket (pytest-tornado): images, headers, errors."""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import pytest
import pyvips
from libthumbor import CryptoURL

from imgserver.handlers import image as image_handler
from imgserver.imaging.steps import render as real_render
from tests import images
from tests.integration.conftest import TEST_KEY

pytestmark = pytest.mark.integration

# (source, options, expected output size, expected format) — recorded from Thumbor 7.8.0's
# real output images for the same sources and URLs (2026-11-23); trim needs real pixels.
THUMBOR_OUTPUTS = [
    ("hd.jpg", "300x200", (300, 200), "jpeg"),
    ("hd.jpg", "fit-in/300x200", (300, 169), "jpeg"),
    ("hd.jpg", "full-fit-in/300x200", (356, 200), "jpeg"),
    ("land.jpg", "x200", (400, 200), "jpeg"),
    ("land.jpg", "origx100", (1000, 100), "jpeg"),
    ("land.jpg", "adaptive-fit-in/200x300", (300, 150), "jpeg"),
    ("land.jpg", "full-fit-in/3000x3000", (6000, 3000), "jpeg"),
    ("land.jpg", "10x10:410x210/100x0", (100, 50), "jpeg"),
    ("land.jpg", "500x10:100x20/300x200", (300, 200), "jpeg"),
    ("port.jpg", "fit-in/300x200", (100, 200), "jpeg"),
    ("port.jpg", "-300x-200", (300, 200), "jpeg"),
    ("small.jpg", "2000x1000", (2000, 1000), "jpeg"),
    ("small.jpg", "fit-in/3000x2000", (300, 200), "jpeg"),
    ("sq.jpg", "300x200", (300, 200), "jpeg"),
    ("a43.jpg", "333x111", (333, 111), "jpeg"),
    ("a43.jpg", "300x200/filters:format(png)", (300, 200), "png"),
    ("trim.png", "trim", (200, 140), "png"),
    ("trim.png", "trim/100x0", (100, 70), "png"),
    ("trim.png", "trim:bottom-right:10", (200, 140), "png"),
    ("trim.png", "trim:5/fit-in/100x100", (100, 70), "png"),
    ("trim.png", "trim/10x10:110x60", (60, 20), "png"),
    ("trim_br.png", "trim", (200, 100), "png"),
    ("trim_br.png", "trim/100x0", (100, 50), "png"),
    ("trim_br.png", "trim/10x10:110x60", (200, 100), "png"),
]

LOADERS = {"jpeg": "jpegload_buffer", "png": "pngload_buffer", "webp": "webpload_buffer", "gif": "gifload_buffer"}


@pytest.mark.parametrize(("source", "options", "size", "fmt"), THUMBOR_OUTPUTS)
@pytest.mark.gen_test
async def test_output_matches_thumbor(fetch, source, options, size, fmt) -> None:
    response = await fetch(f"/unsafe/{options}/{source}")
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == f"image/{fmt}"
    assert images.size_of(response.body) == size
    assert images.loader_of(response.body) == LOADERS[fmt]


@pytest.mark.gen_test
async def test_headers_etag_and_conditional_requests(fetch) -> None:
    response = await fetch("/unsafe/300x200/hd.jpg")
    assert response.code == 200
    assert int(response.headers["Content-Length"]) == len(response.body)
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    tag = response.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    assert "Last-Modified" in response.headers

    again = await fetch("/unsafe/300x200/hd.jpg")
    assert again.headers["ETag"] == tag  # stable across requests
    other = await fetch("/unsafe/301x200/hd.jpg")
    assert other.headers["ETag"] != tag  # depends on the transformation

    cached = await fetch("/unsafe/300x200/hd.jpg", headers={"If-None-Match": tag})
    assert cached.code == 304 and cached.body == b""
    stale = await fetch("/unsafe/300x200/hd.jpg", headers={"If-None-Match": '"nope"'})
    assert stale.code == 200
    since = await fetch("/unsafe/300x200/hd.jpg", headers={"If-Modified-Since": response.headers["Last-Modified"]})
    assert since.code == 304


@pytest.mark.gen_test
async def test_a_request_just_after_a_render_shares_it(fetch, state) -> None:
    """imaging.coalesce_linger: a finished render stays joinable (a burst's last requests are
    read after a fast render landed). The linger is raised so a slow machine cannot let it
    expire between the two requests; expiry is timed in the unit test."""
    assert state.settings.imaging.coalesce_linger > 0  # on by default
    state.flights.linger = 30.0
    first = await fetch("/unsafe/120x90/hd.jpg")
    second = await fetch("/unsafe/120x90/hd.jpg")
    assert first.code == second.code == 200
    assert second.body == first.body and second.headers["ETag"] == first.headers["ETag"]
    assert (state.metrics["renders"], state.metrics["coalesced"]) == (1, 1)
    assert (await fetch("/unsafe/121x90/hd.jpg")).code == 200  # another result renders
    assert state.metrics["renders"] == 2


@pytest.mark.gen_test
async def test_head_has_headers_without_body(fetch) -> None:
    get = await fetch("/unsafe/200x100/land.jpg")
    head = await fetch("/unsafe/200x100/land.jpg", method="HEAD")
    assert head.code == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Type"] == "image/jpeg"


@pytest.mark.gen_test
async def test_exif_orientation_applied_and_metadata_stripped(fetch) -> None:
    # Stored 640x480 with orientation 6: displayed (and served) as 480x640.
    response = await fetch("/unsafe/rotated6.jpg")
    assert images.size_of(response.body) == (480, 640)
    out = pyvips.Image.new_from_buffer(response.body, "")
    assert out.get_typeof("exif-data") == 0
    assert out.get_typeof("orientation") == 0
    resized = await fetch("/unsafe/240x0/rotated6.jpg")
    assert images.size_of(resized.body) == (240, 320)


@pytest.mark.parametrize(
    ("fmt", "mime", "loader"),
    [
        ("webp", "image/webp", "webpload_buffer"),
        ("png", "image/png", "pngload_buffer"),
        ("gif", "image/gif", "gifload_buffer"),
        ("jpeg", "image/jpeg", "jpegload_buffer"),
        ("jpg", "image/jpeg", "jpegload_buffer"),
        ("avif", "image/avif", "heifload_buffer"),
    ],
)
@pytest.mark.gen_test
async def test_format_filter(fetch, fmt, mime, loader) -> None:
    response = await fetch(f"/unsafe/120x80/filters:format({fmt})/land.jpg")
    assert response.code == 200
    assert response.headers["Content-Type"] == mime
    assert images.loader_of(response.body) == loader
    assert images.size_of(response.body) == (120, 80)


@pytest.mark.gen_test
async def test_quality_filter_changes_bytes(fetch) -> None:
    low = await fetch("/unsafe/400x300/filters:quality(10)/a43.jpg")
    high = await fetch("/unsafe/400x300/filters:quality(95)/a43.jpg")
    assert low.code == high.code == 200
    assert len(low.body) < len(high.body) * 0.7


@pytest.mark.gen_test
async def test_transparent_png_to_jpeg_is_flattened_on_white(fetch) -> None:
    response = await fetch("/unsafe/filters:format(jpeg)/alpha.png")
    out = pyvips.Image.new_from_buffer(response.body, "")
    assert out.bands == 3
    # The left quarter of alpha.png is fully transparent: it must come out white, not black.
    assert out.crop(0, 0, 80, 300).avg() > 245
    kept = await fetch("/unsafe/alpha.png")
    assert pyvips.Image.new_from_buffer(kept.body, "").hasalpha()


@pytest.mark.gen_test
async def test_flips_mirror_the_image(fetch) -> None:
    plain = pyvips.Image.new_from_buffer((await fetch("/unsafe/300x200/hd.jpg")).body, "")
    flipped = pyvips.Image.new_from_buffer((await fetch("/unsafe/-300x200/hd.jpg")).body, "")
    assert (plain.fliphor() - flipped).abs().avg() < 3
    assert (plain - flipped).abs().avg() > 10


@pytest.mark.gen_test
async def test_smart_crop_moves_towards_the_subject(fetch) -> None:
    centre = json.loads((await fetch("/unsafe/meta/300x500/hd.jpg")).body)
    smart = json.loads((await fetch("/unsafe/meta/300x500/smart/hd.jpg")).body)
    centre_crop = centre["thumbor"]["operations"][0]
    smart_crop = smart["thumbor"]["operations"][0]
    # The bright disc is at 70% of the width: the smart crop moves right of the centre one.
    assert smart_crop["left"] > centre_crop["left"]
    assert smart["thumbor"]["focal_points"][0]["origin"] == "detection"
    response = await fetch("/unsafe/300x500/smart/hd.jpg")
    assert images.size_of(response.body) == (300, 500)


@pytest.mark.gen_test
async def test_meta_document(fetch) -> None:
    response = await fetch("/unsafe/meta/-300x200/filters:quality(50)/hd.jpg")
    assert response.code == 200
    assert response.headers["Content-Type"] == "application/json"
    doc = json.loads(response.body)["thumbor"]
    # Deliberate difference from Thumbor: source is the ORIGINAL size.
    assert doc["source"] == {"url": "hd.jpg", "width": 1920, "height": 1080, "frameCount": 1}
    assert doc["operations"] == [
        {"type": "crop", "left": 150, "top": 0, "right": 1770, "bottom": 1080},
        {"type": "resize", "width": 300, "height": 200},
        {"type": "flip_horizontally"},
    ]
    assert doc["target"] == {"width": 300, "height": 200}


@pytest.mark.gen_test
async def test_signed_urls_from_libthumbor(fetch) -> None:
    crypto = CryptoURL(key=TEST_KEY)
    for options in (
        {"width": 300, "height": 200, "smart": True},
        {"width": 200, "height": 0, "fit_in": True, "filters": ["quality(70)", "format(webp)"]},
        {"crop": ((10, 10), (410, 210)), "width": 100, "height": 0},
        {"width": 120, "height": 80, "halign": "left", "valign": "top", "flip": True},
    ):
        url = crypto.generate(image_url="land.jpg", **options)
        response = await fetch(url)
        assert response.code == 200, (url, response.body)
    good = crypto.generate(width=300, height=200, image_url="land.jpg")
    assert (await fetch(good)).code == 200  # its parse is now remembered; signatures still count
    signature, rest = good[1:].split("/", 1)
    tampered = await fetch(f"/{signature}/{rest.replace('300x200', '301x200')}")
    assert tampered.code == 403
    wrong_key = CryptoURL(key="another-key").generate(width=300, height=200, image_url="land.jpg")
    assert wrong_key.split("/", 2)[2] == rest
    assert (await fetch(wrong_key)).code == 403
    unicode_url = crypto.generate(width=60, height=40, image_url=quote("ünïcödé/фото.jpg"))
    assert (await fetch(unicode_url)).code == 200


@pytest.mark.gen_test
async def test_names_with_spaces_and_unicode(fetch) -> None:
    assert (await fetch("/unsafe/60x40/name%20with%20space.jpg")).code == 200
    assert (await fetch("/unsafe/60x40/" + quote("ünïcödé/фото.jpg"))).code == 200
    assert (await fetch("/unsafe/60x40/link-in.jpg")).code == 200  # symlink inside the root


@pytest.mark.gen_test
async def test_a_folder_is_not_an_image(fetch) -> None:
    for path in ("/unsafe/60x40/bad", "/unsafe/60x40/bad/", "/unsafe/meta/60x40/big"):
        response = await fetch(path)
        assert response.code == 404, (path, response.code, response.body)


BAD_INPUTS = [
    # (path, status, words the short reason must contain)
    ("/unsafe/bad/truncated.jpg", 422, "decoded"),
    ("/unsafe/300x200/bad/truncated.jpg", 422, "decoded"),
    ("/unsafe/bad/empty.jpg", 422, "empty"),
    ("/unsafe/bad/text.jpg", 415, "not a supported image"),
    ("/unsafe/bad/huge-header.png", 422, "pixels"),
    ("/unsafe/100000x100000/land.jpg", 400, "limit"),
    ("/unsafe/", 400, "no image"),
    ("/unsafe", 400, "unsafe"),
    ("/unsafe/300x200/", 400, "no image"),
    ("/unsafe/filters:quality(abc)/land.jpg", 400, "quality"),
    ("/unsafe/filters:quality(80,90)/land.jpg", 400, "quality"),
    ("/unsafe/filters:format(bmp)/land.jpg", 400, "format"),
    ("/unsafe/filters:nosuchfilter()/land.jpg", 400, "nosuchfilter"),
    ("/unsafe/filters:quality(80/land.jpg", 400, "filters"),
    ("/unsafe/300x200/zzz/yyy/land.jpg", 404, "not found"),
    ("/unsafe/garbage!!/%%%/land.jpg", 404, "not found"),
    ("/unsafe/nosuchfile.jpg", 404, "not found"),
]

TRAVERSALS = [
    "/unsafe/../secret.jpg",
    "/unsafe/%2e%2e/secret.jpg",
    "/unsafe/..%2fsecret.jpg",
    "/unsafe/%2E%2E%2Fsecret.jpg",
    "/unsafe/300x200/../secret.jpg",
    "/unsafe/%2Fetc%2Fpasswd",
    "/unsafe//etc/passwd",
    "/unsafe/link-out.jpg",
    "/unsafe/small.jpg%00.png",
    "/unsafe/./small.jpg",
]


@pytest.mark.parametrize(("path", "status", "words"), BAD_INPUTS)
@pytest.mark.gen_test
async def test_bad_input_gets_a_clear_4xx(fetch, path, status, words) -> None:
    response = await fetch(path)
    assert response.code == status, response.body
    body = response.body.decode()
    assert words.lower() in body.lower()
    assert len(body) < 200 and "Traceback" not in body
    assert response.headers["Content-Type"].startswith("text/plain")
    # A short cache lifetime so a CDN does not keep a broken answer for a year.
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert "ETag" not in response.headers


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.gen_test
async def test_traversal_is_indistinguishable_from_missing(fetch, path) -> None:
    missing = await fetch("/unsafe/does-not-exist.jpg")
    response = await fetch(path)
    assert response.code == 404
    assert response.body == missing.body


@pytest.mark.gen_test
async def test_healthcheck(fetch) -> None:
    response = await fetch("/healthcheck")
    assert response.code == 200
    assert response.body == b"WORKING\n"


@pytest.mark.gen_test
async def test_healthcheck_answers_while_a_24mp_render_runs(fetch, monkeypatch) -> None:
    """Ordering, not timing: the render is held inside the pool until /healthcheck answered."""
    started, release = threading.Event(), threading.Event()

    def held_render(*args):  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(30), "healthcheck never answered"
        return real_render(*args)

    monkeypatch.setattr(image_handler, "render", held_render)
    import asyncio

    big = asyncio.ensure_future(fetch("/unsafe/fit-in/3000x3000/big/24mp.jpg"))
    while not started.is_set():
        await asyncio.sleep(0.01)
    health = await fetch("/healthcheck")
    assert health.code == 200
    assert not big.done()  # the render is still in the pool while the loop answered
    release.set()
    response = await big
    assert response.code == 200
    assert images.size_of(response.body) == (3000, 2000)


@pytest.mark.gen_test
async def test_one_access_log_line_per_request(fetch, caplog) -> None:
    caplog.set_level("INFO", logger="imgserver.access")
    await fetch("/unsafe/50x50/land.jpg")
    await fetch("/unsafe/nosuch.jpg")
    lines = [r.getMessage() for r in caplog.records if r.name == "imgserver.access"]
    assert len(lines) == 2
    assert lines[0].startswith("200 GET /unsafe/50x50/land.jpg") and "render=" in lines[0] and "load=" in lines[0]
    assert lines[1].startswith("404 GET /unsafe/nosuch.jpg")


class TestCors:
    @pytest.fixture
    def settings(self, image_root):  # type: ignore[no-untyped-def]
        from tests.integration.conftest import make_settings

        return make_settings(image_root, http__cors_origins=["https://www.example.org"])

    @pytest.mark.gen_test
    async def test_allow_list(self, fetch) -> None:
        allowed = await fetch("/unsafe/50x50/land.jpg", headers={"Origin": "https://www.example.org"})
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.org"
        assert "Origin" in allowed.headers["Vary"]
        other = await fetch("/unsafe/50x50/land.jpg", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
        preflight = await fetch("/unsafe/50x50/land.jpg", method="OPTIONS", headers={"Origin": "https://www.example.org"})
        assert preflight.code == 204
        assert preflight.headers["Access-Control-Allow-Methods"] == "GET, HEAD"


@pytest.mark.gen_test
async def test_cors_is_off_by_default(fetch) -> None:
    response = await fetch("/unsafe/50x50/land.jpg", headers={"Origin": "https://www.example.org"})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" not in response.headers.get("Vary", "")
