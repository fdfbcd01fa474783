"""Output formats, Accept negotiation, animation and the planned filters, over a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pyvips

from imgserver.settings import Settings
from tests import images
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration

LOADER = {
    "jpeg": "jpegload_buffer",
    "png": "pngload_buffer",
    "webp": "webpload_buffer",
    "gif": "gifload_buffer",
    "avif": "heifload_buffer",
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats")
    images.write(root, "photo.jpg", images.jpeg(800, 600))
    images.write(root, "opaque.png", images.png(400, 300))
    images.write(root, "alpha.png", images.png(400, 300, alpha=True))
    images.write(root, "anim.gif", images.animated(200, 150, 6, delay=90, loop=2))
    images.write(root, "anim.webp", images.animated(200, 150, 5, delay=40, loop=0, fmt="webp"))
    images.write(root, "photo.tif", bytes(images.scene(300, 200).tiffsave_buffer()))
    images.write(root, "exif.jpg", images.jpeg(640, 480, orientation=1))
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
        b'<rect width="200" height="100" fill="red"/></svg>'
    )
    images.write(root, "logo.svg", svg)
    images.write(root, "evil.svg", svg.replace(b"<rect", b"<script>alert(1)</script><rect"))
    images.write(root, "remote.svg", svg.replace(b"<rect", b'<image href="https://evil.example/x.png"/><rect'))
    return root


@pytest.fixture
def settings(root: Path) -> Settings:
    return make_settings(root, formats__auto_webp=True, formats__auto_avif=True)


def fmt_of(data: bytes) -> str:
    loader = images.loader_of(data)
    return next(name for name, value in LOADER.items() if value == loader)


ACCEPT_TABLE = [
    # (key, Accept, expected format)
    ("photo.jpg", "image/avif,image/webp,*/*", "avif"),
    ("photo.jpg", "image/webp,*/*", "webp"),
    ("photo.jpg", "image/avif;q=0,image/webp;q=0.9,*/*;q=0.8", "webp"),
    ("photo.jpg", "image/webp;q=0,*/*", "jpeg"),
    ("photo.jpg", "*/*", "jpeg"),
    ("photo.jpg", "image/*", "jpeg"),
    ("photo.jpg", None, "jpeg"),
    ("photo.jpg", "text/html, image/WEBP ; q=0.5", "webp"),
    ("alpha.png", "image/webp,*/*", "webp"),
    ("alpha.png", "*/*", "png"),
    ("opaque.png", "image/avif", "avif"),
    ("anim.gif", "image/avif,image/webp,*/*", "webp"),  # AVIF is still-only: animation goes WebP
    ("anim.gif", "image/avif,*/*", "gif"),
    ("anim.gif", "*/*", "gif"),
]


@pytest.mark.parametrize(("key", "accept", "expected"), ACCEPT_TABLE)
@pytest.mark.gen_test
async def test_accept_negotiation(fetch, key, accept, expected) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = await fetch(f"/unsafe/120x90/{key}", headers=headers)
    assert response.code == 200, response.body
    assert fmt_of(response.body) == expected
    assert response.headers["Content-Type"] == f"image/{expected}"
    assert response.headers["Vary"] == "Accept"
    if not key.endswith(".gif"):  # GIFs always decode with an alpha band
        out = pyvips.Image.new_from_buffer(response.body, "")
        assert out.hasalpha() == (key == "alpha.png" and expected != "jpeg")


@pytest.mark.gen_test
async def test_explicit_format_switches_negotiation_off(fetch) -> None:
    response = await fetch("/unsafe/120x90/filters:format(png)/photo.jpg", headers={"Accept": "image/avif,image/webp"})
    assert fmt_of(response.body) == "png"
    assert "Vary" not in response.headers


@pytest.mark.gen_test
async def test_etag_and_304_depend_on_the_negotiated_format(fetch) -> None:
    webp = await fetch("/unsafe/120x90/photo.jpg", headers={"Accept": "image/webp"})
    jpeg = await fetch("/unsafe/120x90/photo.jpg", headers={"Accept": "*/*"})
    assert webp.headers["ETag"] != jpeg.headers["ETag"]
    again = await fetch(
        "/unsafe/120x90/photo.jpg", headers={"Accept": "image/webp", "If-None-Match": webp.headers["ETag"]}
    )
    assert again.code == 304
    assert again.headers["Vary"] == "Accept"
    # The JPEG's ETag must not validate a WebP answer.
    cross = await fetch(
        "/unsafe/120x90/photo.jpg", headers={"Accept": "image/webp", "If-None-Match": jpeg.headers["ETag"]}
    )
    assert cross.code == 200


@pytest.mark.parametrize(("key", "fmt"), [("anim.gif", "gif"), ("anim.gif", "webp"), ("anim.webp", "webp")])
@pytest.mark.gen_test
async def test_animation_survives_resize_crop_flip(fetch, key, fmt) -> None:
    src = images.frames_of((await fetch(f"/unsafe/filters:format({fmt})/{key}")).body)
    response = await fetch(f"/unsafe/-80x80/filters:format({fmt})/{key}")
    assert response.code == 200
    width, height, count, delays, loop = images.frames_of(response.body)
    assert (width, height) == (80, 80)
    assert count == src[2] > 1
    assert delays == src[3]
    assert loop == src[4]


@pytest.mark.gen_test
async def test_gif_keeps_delays_and_loop_count(fetch) -> None:
    response = await fetch("/unsafe/fit-in/100x100/anim.gif")
    width, height, count, delays, loop = images.frames_of(response.body)
    assert (width, height, count) == (100, 75, 6)
    assert delays == [90] * 6
    assert loop == 2


@pytest.mark.gen_test
async def test_cover_keeps_only_the_first_frame(fetch) -> None:
    response = await fetch("/unsafe/100x100/filters:cover()/anim.gif")
    assert images.frames_of(response.body)[2] == 1


@pytest.mark.gen_test
async def test_meta_reports_frame_count(fetch) -> None:
    doc = json.loads((await fetch("/unsafe/meta/100x100/anim.gif")).body)
    assert doc["thumbor"]["source"]["frameCount"] == 6


@pytest.mark.gen_test
async def test_tiff_input_and_svg_refused_by_default(fetch) -> None:
    tiff = await fetch("/unsafe/150x100/photo.tif")
    assert tiff.code == 200
    assert fmt_of(tiff.body) == "jpeg"
    svg = await fetch("/unsafe/100x50/logo.svg")
    assert svg.code == 415


@pytest.mark.gen_test
async def test_planned_filters(fetch) -> None:
    # autojpg(): an opaque PNG becomes JPEG; a transparent one stays PNG.
    opaque = await fetch("/unsafe/100x100/filters:autojpg()/opaque.png", headers={"Accept": "*/*"})
    assert fmt_of(opaque.body) == "jpeg"
    kept = await fetch("/unsafe/100x100/filters:autojpg()/alpha.png", headers={"Accept": "*/*"})
    assert fmt_of(kept.body) == "png"
    # max_age(n) overrides Cache-Control; 0 forbids reuse.
    aged = await fetch("/unsafe/50x50/filters:max_age(120)/photo.jpg")
    assert aged.headers["Cache-Control"] == "public, max-age=120"
    fresh = await fetch("/unsafe/50x50/filters:max_age(0)/photo.jpg")
    assert fresh.headers["Cache-Control"] == "no-cache"
    # strip_exif() / strip_icc(): accepted; outputs never carry metadata anyway.
    stripped = await fetch("/unsafe/100x100/filters:strip_exif():strip_icc()/exif.jpg")
    out = pyvips.Image.new_from_buffer(stripped.body, "")
    assert out.get_typeof("exif-data") == 0
    assert out.get_typeof("icc-profile-data") == 0


@pytest.mark.gen_test
async def test_max_bytes_searches_quality(fetch) -> None:
    full = await fetch("/unsafe/600x450/filters:quality(95)/photo.jpg")
    budget = len(full.body) // 3
    squeezed = await fetch(f"/unsafe/600x450/filters:quality(95):max_bytes({budget})/photo.jpg")
    assert squeezed.code == 200
    assert len(squeezed.body) <= budget
    assert images.size_of(squeezed.body) == (600, 450)
    webp = await fetch(f"/unsafe/600x450/filters:format(webp):max_bytes({budget})/photo.jpg")
    assert len(webp.body) <= budget


@pytest.mark.gen_test
async def test_no_upscale_and_stretch(fetch) -> None:
    # no_upscale(): the request box is clamped to the 800x600 source before cropping.
    clamped = await fetch("/unsafe/1600x300/filters:no_upscale()/photo.jpg")
    assert images.size_of(clamped.body) == (800, 300)
    # stretch(): no crop to ratio — the whole image is squeezed into the box.
    meta = json.loads((await fetch("/unsafe/meta/300x300/filters:stretch()/photo.jpg")).body)
    assert [op["type"] for op in meta["thumbor"]["operations"]] == ["resize"]
    stretched = await fetch("/unsafe/300x300/filters:stretch()/photo.jpg")
    assert images.size_of(stretched.body) == (300, 300)


@pytest.mark.gen_test
async def test_focal_moves_the_crop_and_beats_smart(fetch) -> None:
    centred = json.loads((await fetch("/unsafe/meta/200x600/photo.jpg")).body)["thumbor"]
    focal = json.loads((await fetch("/unsafe/meta/200x600/smart/filters:focal(600x100:700x200)/photo.jpg")).body)
    focal = focal["thumbor"]
    assert centred["operations"][0]["left"] == 300
    # The 200-wide crop is centred on the focal box's centre: 650 - 200/2 = 550.
    assert focal["operations"][0]["left"] == 550
    assert focal["focal_points"] == [
        {"x": 650, "y": 150, "z": 10000.0, "height": 100, "width": 100, "origin": "explicit"}
    ]


@pytest.mark.gen_test
async def test_extract_focal_loads_the_inner_image(fetch) -> None:
    # The key is itself a cropping URL: load photo.jpg, focus on the cropped region.
    inner = "localhost/unsafe/500x0:700x200/photo.jpg"
    meta = json.loads((await fetch(f"/unsafe/meta/200x600/filters:extract_focal()/{inner}")).body)["thumbor"]
    assert meta["source"]["width"] == 800
    assert meta["focal_points"][0]["x"] == 600
    response = await fetch(f"/unsafe/200x600/filters:extract_focal()/{inner}")
    assert response.code == 200
    assert images.size_of(response.body) == (200, 600)


@pytest.mark.gen_test
async def test_progressive_jpeg_setting(root: Path, fetch) -> None:
    response = await fetch("/unsafe/100x100/photo.jpg", headers={"Accept": "*/*"})
    assert pyvips.Image.new_from_buffer(response.body, "").get("jpeg-multiscan") == 0


class TestSvgEnabled:
    @pytest.fixture
    def settings(self, root: Path) -> Settings:
        return make_settings(root, formats__allow_svg=True)

    @pytest.fixture(autouse=True)
    def _svg_loader(self):  # type: ignore[no-untyped-def]
        from imgserver.imaging.setup import configure

        configure(1, allow_svg=True)
        yield
        configure(1, allow_svg=False)

    @pytest.mark.gen_test
    async def test_svg_renders_to_png(self, fetch) -> None:
        response = await fetch("/unsafe/100x50/logo.svg")
        assert response.code == 200
        assert fmt_of(response.body) == "png"
        assert images.size_of(response.body) == (100, 50)

    @pytest.mark.parametrize("key", ["evil.svg", "remote.svg"])
    @pytest.mark.gen_test
    async def test_hostile_svg_refused(self, fetch, key) -> None:
        response = await fetch(f"/unsafe/100x50/{key}")
        assert response.code == 422
        assert b"SVG" in response.body
