"""Thumbor 7.8 URL grammar: path → ParsedUrl, malformed paths → 400, libthumbor's own URLs."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from typing import Any
from urllib.parse import quote

import pytest
from libthumbor import CryptoURL

from imgserver.errors import BadRequest, FilterError, UrlError
from imgserver.url.filters import FilterCall
from imgserver.url.grammar import Crop, FitMode, ParsedUrl, Trim, parse_options, parse_path, split_signature

pytestmark = pytest.mark.unit

# What a path with no options means, written out by hand (not read from ParsedUrl's defaults).
DEFAULTS: dict[str, Any] = {
    "signature": None,
    "debug": False,
    "meta": False,
    "trim": None,
    "crop": None,
    "fit": FitMode.NONE,
    "adaptive": False,
    "width": 0,
    "height": 0,
    "flip_horizontal": False,
    "flip_vertical": False,
    "halign": "center",
    "valign": "middle",
    "smart": False,
    "filters": (),
}

# A real libthumbor signature: CryptoURL(key="k") for "300x200/smart/photos/doctor.jpg".
SIG = "HBx_x5TPAbaIsEqtos2mEw61D30="
OTHER_SIG = "abcdefghijklmnopqrstuvwxyz0="


def q(value: int) -> FilterCall:
    return FilterCall("quality", (value,))


def fmt(value: str) -> FilterCall:
    return FilterCall("format", (value,))


def fields(parsed: ParsedUrl) -> dict[str, Any]:
    return {f.name: getattr(parsed, f.name) for f in dataclasses.fields(parsed)}


def expected_fields(path: str, overrides: dict[str, Any]) -> dict[str, Any]:
    want = {**DEFAULTS, **overrides}
    if "signed_path" not in want:
        assert path.startswith("/unsafe/"), "cases with a signature must say their signed_path"
        want["signed_path"] = path[len("/unsafe/"):]
    return want


def case(path: str, case_id: str, **overrides: Any) -> Any:
    return pytest.param(path, overrides, id=case_id)


VALID = [
    # --- image keys alone -------------------------------------------------------------------
    case("/unsafe/a.jpg", "plain-key", image="a.jpg"),
    case("/unsafe/photos/doctor.jpg", "key-with-slash", image="photos/doctor.jpg"),
    case("/unsafe/a/b/c/d.png", "key-deep", image="a/b/c/d.png"),
    case("unsafe/300x200/a.jpg", "no-leading-slash", image="a.jpg", width=300, height=200,
         signed_path="300x200/a.jpg"),
    # --- dimensions ---------------------------------------------------------------------------
    case("/unsafe/300x200/a.jpg", "size", image="a.jpg", width=300, height=200),
    case("/unsafe/300x/a.jpg", "width-only", image="a.jpg", width=300),
    case("/unsafe/x200/a.jpg", "height-only", image="a.jpg", height=200),
    case("/unsafe/x/a.jpg", "empty-dims", image="a.jpg"),
    case("/unsafe/0x0/a.jpg", "zero-dims", image="a.jpg"),
    case("/unsafe/0300x0020/a.jpg", "leading-zeros", image="a.jpg", width=300, height=20),
    case("/unsafe/999999999x1/a.jpg", "nine-digits", image="a.jpg", width=999999999, height=1),
    case("/unsafe/-300x200/a.jpg", "flip-h", image="a.jpg", width=300, height=200, flip_horizontal=True),
    case("/unsafe/300x-200/a.jpg", "flip-v", image="a.jpg", width=300, height=200, flip_vertical=True),
    case("/unsafe/-300x-200/a.jpg", "flip-both", image="a.jpg", width=300, height=200,
         flip_horizontal=True, flip_vertical=True),
    case("/unsafe/-x/a.jpg", "flip-h-empty", image="a.jpg", flip_horizontal=True),
    case("/unsafe/-x-/a.jpg", "flip-both-empty", image="a.jpg", flip_horizontal=True, flip_vertical=True),
    case("/unsafe/-0x-0/a.jpg", "flip-both-zero", image="a.jpg", flip_horizontal=True, flip_vertical=True),
    case("/unsafe/x-100/a.jpg", "flip-v-height-only", image="a.jpg", height=100, flip_vertical=True),
    case("/unsafe/origx200/a.jpg", "orig-width", image="a.jpg", width="orig", height=200),
    case("/unsafe/300xorig/a.jpg", "orig-height", image="a.jpg", width=300, height="orig"),
    case("/unsafe/-origx-orig/a.jpg", "orig-flipped", image="a.jpg", width="orig", height="orig",
         flip_horizontal=True, flip_vertical=True),
    # --- fit-in ------------------------------------------------------------------------------
    case("/unsafe/fit-in/300x200/a.jpg", "fit-in", image="a.jpg", fit=FitMode.FIT_IN, width=300, height=200),
    case("/unsafe/full-fit-in/300x200/a.jpg", "full-fit-in", image="a.jpg", fit=FitMode.FULL_FIT_IN,
         width=300, height=200),
    case("/unsafe/adaptive-fit-in/300x200/a.jpg", "adaptive-fit-in", image="a.jpg", fit=FitMode.FIT_IN,
         adaptive=True, width=300, height=200),
    case("/unsafe/adaptive-full-fit-in/300x200/a.jpg", "adaptive-full-fit-in", image="a.jpg",
         fit=FitMode.FULL_FIT_IN, adaptive=True, width=300, height=200),
    case("/unsafe/fit-in/a.jpg", "fit-in-without-size", image="a.jpg", fit=FitMode.FIT_IN),
    case("/unsafe/fit-in/-300x0/a.jpg", "fit-in-flip", image="a.jpg", fit=FitMode.FIT_IN, width=300,
         flip_horizontal=True),
    case("/unsafe/full-adaptive-fit-in/a.jpg", "fit-words-wrong-order-is-key", image="full-adaptive-fit-in/a.jpg"),
    # --- alignment and smart ------------------------------------------------------------------
    case("/unsafe/300x200/left/a.jpg", "halign-left", image="a.jpg", width=300, height=200, halign="left"),
    case("/unsafe/300x200/right/a.jpg", "halign-right", image="a.jpg", width=300, height=200, halign="right"),
    case("/unsafe/300x200/center/a.jpg", "halign-center-explicit", image="a.jpg", width=300, height=200),
    case("/unsafe/300x200/top/a.jpg", "valign-top", image="a.jpg", width=300, height=200, valign="top"),
    case("/unsafe/300x200/bottom/a.jpg", "valign-bottom", image="a.jpg", width=300, height=200, valign="bottom"),
    case("/unsafe/300x200/middle/a.jpg", "valign-middle-explicit", image="a.jpg", width=300, height=200),
    case("/unsafe/300x200/left/top/a.jpg", "left-top", image="a.jpg", width=300, height=200,
         halign="left", valign="top"),
    case("/unsafe/300x200/right/bottom/smart/a.jpg", "right-bottom-smart", image="a.jpg", width=300, height=200,
         halign="right", valign="bottom", smart=True),
    case("/unsafe/bottom/a.jpg", "valign-without-size", image="a.jpg", valign="bottom"),
    case("/unsafe/left/a.jpg", "halign-without-size", image="a.jpg", halign="left"),
    case("/unsafe/top/left/a.jpg", "valign-before-halign-is-key", image="left/a.jpg", valign="top"),
    case("/unsafe/smart/a.jpg", "smart-only", image="a.jpg", smart=True),
    case("/unsafe/300x200/smart/photos/doctor.jpg", "size-smart", image="photos/doctor.jpg", width=300,
         height=200, smart=True),
    # --- debug / meta ----------------------------------------------------------------------
    case("/unsafe/debug/a.jpg", "debug", image="a.jpg", debug=True),
    case("/unsafe/meta/a.jpg", "meta", image="a.jpg", meta=True),
    case("/unsafe/debug/meta/300x200/a.jpg", "debug-meta-size", image="a.jpg", debug=True, meta=True,
         width=300, height=200),
    case("/unsafe/meta/debug/a.jpg", "meta-before-debug-is-key", image="debug/a.jpg", meta=True),
    case("/unsafe/meta/fit-in/300x200/a.jpg", "meta-fit-in", image="a.jpg", meta=True, fit=FitMode.FIT_IN,
         width=300, height=200),
    # --- trim --------------------------------------------------------------------------------
    case("/unsafe/trim/a.jpg", "trim", image="a.jpg", trim=Trim("top-left", 0)),
    case("/unsafe/trim:top-left/a.jpg", "trim-top-left", image="a.jpg", trim=Trim("top-left", 0)),
    case("/unsafe/trim:bottom-right/a.jpg", "trim-bottom-right", image="a.jpg", trim=Trim("bottom-right", 0)),
    case("/unsafe/trim:top-left:10/a.jpg", "trim-top-left-10", image="a.jpg", trim=Trim("top-left", 10)),
    case("/unsafe/trim:bottom-right:10/a.jpg", "trim-bottom-right-10", image="a.jpg",
         trim=Trim("bottom-right", 10)),
    case("/unsafe/trim:top-left:442/a.jpg", "trim-tolerance-max", image="a.jpg", trim=Trim("top-left", 442)),
    # Thumbor compat: in "trim:5" the 5 is the *position* (not top-left → bottom-right), tolerance 0.
    case("/unsafe/trim:5/a.jpg", "trim-N-is-position", image="a.jpg", trim=Trim("bottom-right", 0)),
    case("/unsafe/trim:500/a.jpg", "trim-big-N-is-position", image="a.jpg", trim=Trim("bottom-right", 0)),
    case("/unsafe/trim:middle/a.jpg", "trim-unknown-word-is-key", image="trim:middle/a.jpg"),
    # --- manual crop -------------------------------------------------------------------------
    case("/unsafe/10x20:300x400/a.jpg", "crop", image="a.jpg", crop=Crop(10, 20, 300, 400)),
    case("/unsafe/0x0:100x100/a.jpg", "crop-from-origin", image="a.jpg", crop=Crop(0, 0, 100, 100)),
    case("/unsafe/10x20:300x400/150x100/a.jpg", "crop-and-size", image="a.jpg", crop=Crop(10, 20, 300, 400),
         width=150, height=100),
    case("/unsafe/trim/10x20:300x400/fit-in/150x100/a.jpg", "trim-crop-fit", image="a.jpg",
         trim=Trim("top-left", 0), crop=Crop(10, 20, 300, 400), fit=FitMode.FIT_IN, width=150, height=100),
    # --- filters -----------------------------------------------------------------------------
    case("/unsafe/filters:quality(80)/a.jpg", "filter-one", image="a.jpg", filters=(q(80),)),
    case("/unsafe/filters:quality(80):format(webp)/a.jpg", "filter-two", image="a.jpg",
         filters=(q(80), fmt("webp"))),
    case("/unsafe/filters:quality(10):format(png):quality(90)/a.jpg", "filter-repeated", image="a.jpg",
         filters=(q(10), fmt("png"), q(90))),
    case("/unsafe/filters:format(JPG)/a.jpg", "filter-format-upper", image="a.jpg", filters=(fmt("jpg"),)),
    case("/unsafe/filters:quality(%2080%20)/a.jpg", "filter-encoded-spaces", image="a.jpg", filters=(q(80),)),
    case("/unsafe/300x200/smart/filters:format(png)/photos/a.jpg", "size-smart-filter",
         image="photos/a.jpg", width=300, height=200, smart=True, filters=(fmt("png"),)),
    case("/unsafe/filters:quality(80)/a(1)/b.jpg", "filter-then-parens-in-key", image="a(1)/b.jpg",
         filters=(q(80),)),
    case("/unsafe/photos/filters:quality(80)/a.jpg", "filters-inside-key", image="photos/filters:quality(80)/a.jpg"),
    # --- everything at once --------------------------------------------------------------------
    case(
        "/unsafe/debug/meta/trim:bottom-right:20/10x20:300x400/adaptive-full-fit-in/-300x-200/right/bottom/smart/"
        "filters:quality(50):format(jpg)/photos/x.jpg",
        "all-options",
        image="photos/x.jpg", debug=True, meta=True, trim=Trim("bottom-right", 20), crop=Crop(10, 20, 300, 400),
        fit=FitMode.FULL_FIT_IN, adaptive=True, width=300, height=200, flip_horizontal=True,
        flip_vertical=True, halign="right", valign="bottom", smart=True, filters=(q(50), fmt("jpg")),
    ),
    # --- key encodings -------------------------------------------------------------------------
    case("/unsafe/a%20b.jpg", "key-encoded-space", image="a b.jpg"),
    case("/unsafe/a b.jpg", "key-raw-space", image="a b.jpg"),
    case("/unsafe/photos/café.jpg", "key-raw-unicode", image="photos/café.jpg"),
    case("/unsafe/photos/caf%C3%A9.jpg", "key-encoded-unicode", image="photos/café.jpg"),
    case("/unsafe/%E6%97%A5%E6%9C%AC/%F0%9F%90%B1.png", "key-encoded-cjk-emoji", image="日本/🐱.png"),
    case("/unsafe/a%2Fb.jpg", "key-encoded-slash", image="a/b.jpg"),
    case("/unsafe/a+b.jpg", "key-plus-stays-plus", image="a+b.jpg"),
    case("/unsafe/a%25b.jpg", "key-encoded-percent", image="a%b.jpg"),
    case("/unsafe/a;b=c,d.jpg", "key-punctuation", image="a;b=c,d.jpg"),
    # --- full URLs as keys (Thumbor's HTTP loader) ------------------------------------------
    case("/unsafe/300x200/http://example.com/a.jpg", "key-http-url", image="http://example.com/a.jpg",
         width=300, height=200),
    case("/unsafe/https%3A%2F%2Fexample.com%2Fimg%2Fa.jpg", "key-encoded-url", image="https://example.com/img/a.jpg"),
    case("/unsafe/fit-in/300x200/filters:format(webp)/https://cdn.example.com/p/a.jpg?v=1", "key-url-after-filters",
         image="https://cdn.example.com/p/a.jpg?v=1", fit=FitMode.FIT_IN, width=300, height=200,
         filters=(fmt("webp"),)),
    # --- keys that look like options -------------------------------------------------------
    case("/unsafe/300x200", "last-segment-size-is-key", image="300x200"),
    case("/unsafe/smart", "last-segment-smart-is-key", image="smart"),
    case("/unsafe/meta", "last-segment-meta-is-key", image="meta"),
    case("/unsafe/trim", "last-segment-trim-is-key", image="trim"),
    case("/unsafe/1x2:3x4", "last-segment-crop-is-key", image="1x2:3x4"),
    case("/unsafe/fit-in", "last-segment-fit-in-is-key", image="fit-in"),
    case("/unsafe/fit-in/300x200", "option-then-size-key", image="300x200", fit=FitMode.FIT_IN),
    case("/unsafe/300x200/100x100", "size-then-size-key", image="100x100", width=300, height=200),
    case("/unsafe/smart/300x200/a.jpg", "out-of-order-is-key", image="300x200/a.jpg", smart=True),
    case("/unsafe/300x200/fit-in/a.jpg", "fit-after-size-is-key", image="fit-in/a.jpg", width=300, height=200),
    case("/unsafe/300x200/400x500/a.jpg", "second-size-is-key", image="400x500/a.jpg", width=300, height=200),
    case("/unsafe/300x200x100/a.jpg", "not-a-size", image="300x200x100/a.jpg"),
    case("/unsafe/300X200/a.jpg", "capital-X-is-key", image="300X200/a.jpg"),
    case("/unsafe/unsafe/a.jpg", "second-unsafe-is-key", image="unsafe/a.jpg"),
    # --- signatures ----------------------------------------------------------------------------
    case(f"/{SIG}/300x200/smart/photos/doctor.jpg", "signed", signature=SIG,
         signed_path="300x200/smart/photos/doctor.jpg", image="photos/doctor.jpg", width=300, height=200,
         smart=True),
    case(f"/{OTHER_SIG}/300x200/a%20b.jpg", "signed-encoded-key", signature=OTHER_SIG,
         signed_path="300x200/a%20b.jpg", image="a b.jpg", width=300, height=200),
    case("/abcdefghijklmnopqrstuvwxyz0%3D/a.jpg", "signed-encoded-equals", signature=OTHER_SIG,
         signed_path="a.jpg", image="a.jpg"),
    case(f"/{SIG}/unsafe/a.jpg", "signed-then-unsafe-word", signature=SIG, signed_path="unsafe/a.jpg",
         image="unsafe/a.jpg"),
]


@pytest.mark.parametrize(("path", "overrides"), VALID)
def test_parse_path(path: str, overrides: dict[str, Any]) -> None:
    assert fields(parse_path(path)) == expected_fields(path, overrides)


def test_table_is_large_and_distinct() -> None:
    paths = [p.values[0] for p in VALID]
    assert len(paths) >= 60
    assert len(set(paths)) == len(paths)


def test_signature_and_unsafe_flag() -> None:
    signed = parse_path(f"/{SIG}/300x200/a.jpg")
    assert signed.signature == SIG
    assert len(signed.signature) == 28
    assert not signed.unsafe
    assert parse_path("/unsafe/a.jpg").unsafe


def test_split_signature_keeps_rest_raw() -> None:
    assert split_signature(f"/{SIG}/fit-in/300x200/a%20b%2Fc.jpg") == (SIG, "fit-in/300x200/a%20b%2Fc.jpg")
    assert split_signature("/unsafe/a.jpg") == (None, "a.jpg")


def test_parse_options_equals_parse_path() -> None:
    rest = "trim/fit-in/300x200/left/filters:quality(80)/a.jpg"
    assert parse_options(None, rest) == parse_path("/unsafe/" + rest)


def test_path_length_boundary() -> None:
    path = "/unsafe/" + "a" * (8192 - len("/unsafe/"))
    assert len(path) == 8192
    assert parse_path(path).image == "a" * (8192 - len("/unsafe/"))
    with pytest.raises(UrlError):
        parse_path(path + "a")


# --- libthumbor's own URLs ---------------------------------------------------------------------

LIBTHUMBOR = [
    pytest.param({"width": 300, "height": 200, "smart": True, "image_url": "photos/doctor.jpg"},
                 {"width": 300, "height": 200, "smart": True, "image": "photos/doctor.jpg"}, id="size-smart"),
    pytest.param({"unsafe": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"width": 300, "height": 200, "image": "a.jpg"}, id="unsafe"),
    pytest.param({"width": 300, "image_url": "a.jpg"}, {"width": 300, "image": "a.jpg"}, id="width-only"),
    pytest.param({"height": 200, "image_url": "a.jpg"}, {"height": 200, "image": "a.jpg"}, id="height-only"),
    pytest.param({"fit_in": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"fit": FitMode.FIT_IN, "width": 300, "height": 200, "image": "a.jpg"}, id="fit-in"),
    pytest.param({"full_fit_in": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"fit": FitMode.FULL_FIT_IN, "width": 300, "height": 200, "image": "a.jpg"}, id="full-fit-in"),
    pytest.param({"adaptive_fit_in": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"fit": FitMode.FIT_IN, "adaptive": True, "width": 300, "height": 200, "image": "a.jpg"},
                 id="adaptive-fit-in"),
    pytest.param({"adaptive_full_fit_in": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"fit": FitMode.FULL_FIT_IN, "adaptive": True, "width": 300, "height": 200, "image": "a.jpg"},
                 id="adaptive-full-fit-in"),
    pytest.param({"flip": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"flip_horizontal": True, "width": 300, "height": 200, "image": "a.jpg"}, id="flip"),
    pytest.param({"flop": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"flip_vertical": True, "width": 300, "height": 200, "image": "a.jpg"}, id="flop"),
    pytest.param({"flip": True, "flop": True, "image_url": "a.jpg"},
                 {"flip_horizontal": True, "flip_vertical": True, "image": "a.jpg"}, id="flip-flop-no-size"),
    pytest.param({"width": 300, "height": 200, "halign": "left", "valign": "top", "image_url": "a.jpg"},
                 {"width": 300, "height": 200, "halign": "left", "valign": "top", "image": "a.jpg"},
                 id="left-top"),
    pytest.param({"width": 300, "height": 200, "halign": "right", "valign": "bottom", "smart": True,
                  "image_url": "a.jpg"},
                 {"width": 300, "height": 200, "halign": "right", "valign": "bottom", "smart": True,
                  "image": "a.jpg"}, id="right-bottom-smart"),
    pytest.param({"crop": ((10, 20), (300, 400)), "width": 150, "height": 100, "image_url": "a.jpg"},
                 {"crop": Crop(10, 20, 300, 400), "width": 150, "height": 100, "image": "a.jpg"}, id="crop"),
    pytest.param({"meta": True, "width": 300, "height": 200, "image_url": "a.jpg"},
                 {"meta": True, "width": 300, "height": 200, "image": "a.jpg"}, id="meta"),
    pytest.param({"trim": True, "image_url": "a.jpg"}, {"trim": Trim("top-left", 0), "image": "a.jpg"}, id="trim"),
    pytest.param({"trim": ("bottom-right", 10), "image_url": "a.jpg"},
                 {"trim": Trim("bottom-right", 10), "image": "a.jpg"}, id="trim-bottom-right-10"),
    pytest.param({"trim": ("top-left", None), "image_url": "a.jpg"},
                 {"trim": Trim("top-left", 0), "image": "a.jpg"}, id="trim-top-left"),
    # libthumbor joins the items of `filters`, so it takes a list (a plain string would be split per char).
    pytest.param({"filters": ["quality(80)", "format(webp)"], "image_url": "a.jpg"},
                 {"filters": (q(80), fmt("webp")), "image": "a.jpg"}, id="filters"),
    pytest.param({"width": "orig", "height": 100, "image_url": "a.jpg"},
                 {"width": "orig", "height": 100, "image": "a.jpg"}, id="orig"),
    pytest.param({"width": 300, "height": 200, "image_url": "http://example.com/img/a.jpg"},
                 {"width": 300, "height": 200, "image": "http://example.com/img/a.jpg"}, id="http-key"),
    pytest.param({"width": 300, "height": 200, "image_url": quote("photos/clinic rotated.jpg")},
                 {"width": 300, "height": 200, "image": "photos/clinic rotated.jpg"}, id="encoded-space-key"),
    pytest.param({"width": 64, "image_url": quote("fotos/café ß.jpg")},
                 {"width": 64, "image": "fotos/café ß.jpg"}, id="encoded-unicode-key"),
    pytest.param(
        {"meta": True, "trim": ("bottom-right", 5), "crop": ((1, 2), (30, 40)), "adaptive_fit_in": True,
         "width": 20, "height": 10, "flip": True, "flop": True, "halign": "left", "valign": "bottom",
         "smart": True, "filters": ["format(png)", "quality(95)"], "image_url": "x/y.png"},
        {"meta": True, "trim": Trim("bottom-right", 5), "crop": Crop(1, 2, 30, 40), "fit": FitMode.FIT_IN,
         "adaptive": True, "width": 20, "height": 10, "flip_horizontal": True, "flip_vertical": True,
         "halign": "left", "valign": "bottom", "smart": True, "filters": (fmt("png"), q(95)), "image": "x/y.png"},
        id="everything",
    ),
]


@pytest.mark.parametrize(("options", "overrides"), LIBTHUMBOR)
def test_libthumbor_generated_urls(options: dict[str, Any], overrides: dict[str, Any]) -> None:
    url = CryptoURL(key="k").generate(**options)
    parsed = parse_path(url)
    want = {**DEFAULTS, **overrides}
    if options.get("unsafe"):
        assert url.startswith("unsafe/")
        want["signed_path"] = url[len("unsafe/"):]
    else:
        signature, _, rest = url[1:].partition("/")
        assert len(signature) == 28
        want["signature"] = signature
        want["signed_path"] = rest
    assert fields(parsed) == want
    # The same URL as a browser would send it (leading slash) parses the same.
    assert parse_path(url if url.startswith("/") else "/" + url) == parsed


# --- malformed paths ---------------------------------------------------------------------------

MALFORMED = [
    pytest.param("", UrlError, id="empty"),
    pytest.param("/", UrlError, id="slash"),
    pytest.param("/unsafe", UrlError, id="unsafe-no-slash"),
    pytest.param("/unsafe/", UrlError, id="unsafe-nothing"),
    pytest.param("unsafe", UrlError, id="unsafe-bare"),
    pytest.param("//a.jpg", UrlError, id="empty-signature-segment"),
    pytest.param("/unsafe/300x200/", UrlError, id="size-no-image"),
    pytest.param("/unsafe/fit-in/300x200/smart/", UrlError, id="options-no-image"),
    pytest.param("/unsafe/filters:quality(80)/", UrlError, id="filters-no-image"),
    pytest.param("/unsafe/filters:quality(80)", UrlError, id="filters-last-segment"),
    pytest.param("/unsafe/filters:blur(/a.jpg", UrlError, id="filter-unclosed"),
    pytest.param("/unsafe/filters:blur((((/a.jpg", UrlError, id="filter-nested-unclosed"),
    pytest.param("/unsafe/filters:/a.jpg", UrlError, id="filters-empty"),
    pytest.param("/unsafe/filters:quality(80)x/a.jpg", UrlError, id="filter-trailing-text"),
    pytest.param("/unsafe/filters:quality(80):/a.jpg", UrlError, id="filter-trailing-colon"),
    pytest.param("/unsafe/filters:quality(80)x(1)/a.jpg", FilterError, id="filter-junk-between"),
    pytest.param("/unsafe/filters:quality(80)::format(png)/a.jpg", FilterError, id="filter-double-colon"),
    pytest.param("/unsafe/filters:()/a.jpg", FilterError, id="filter-no-name"),
    pytest.param("/unsafe/filters:quality(abc)/a.jpg", FilterError, id="quality-not-number"),
    pytest.param("/unsafe/filters:quality(101)/a.jpg", FilterError, id="quality-over-100"),
    pytest.param("/unsafe/filters:quality(-1)/a.jpg", FilterError, id="quality-negative"),
    pytest.param("/unsafe/filters:quality()/a.jpg", FilterError, id="quality-no-arg"),
    pytest.param("/unsafe/filters:quality(80,90)/a.jpg", FilterError, id="quality-two-args"),
    pytest.param("/unsafe/filters:Quality(80)/a.jpg", FilterError, id="filter-name-case"),
    pytest.param("/unsafe/filters:nosuch(1)/a.jpg", FilterError, id="filter-unknown"),
    pytest.param("/unsafe/filters:blur(0)/a.jpg", FilterError, id="filter-bad-argument"),
    pytest.param("/unsafe/filters:quality(80):grayscale(1)/a.jpg", FilterError, id="second-filter-bad-arity"),
    pytest.param("/unsafe/filters:format(bmp)/a.jpg", FilterError, id="format-bmp"),
    pytest.param("/unsafe/filters:format()/a.jpg", FilterError, id="format-empty"),
    pytest.param("/unsafe/filters:" + ":".join(["quality(1)"] * 33) + "/a.jpg", FilterError, id="too-many-filters"),
    pytest.param("/unsafe/trim:top-left:443/a.jpg", UrlError, id="trim-tolerance-443"),
    pytest.param("/unsafe/trim:bottom-right:99999/a.jpg", UrlError, id="trim-tolerance-huge"),
    pytest.param("/unsafe/" + "a" * 8200, UrlError, id="path-too-long"),
    pytest.param(f"/{SIG}/" + "b" * 9000 + "/a.jpg", UrlError, id="signed-path-too-long"),
]


@pytest.mark.parametrize(("path", "error"), MALFORMED)
def test_malformed(path: str, error: type[BadRequest]) -> None:
    with pytest.raises(error) as info:
        parse_path(path)
    assert info.value.status == 400


def test_malformed_table_is_large() -> None:
    assert len(MALFORMED) >= 15


def test_fuzz_only_parses_or_raises_bad_request() -> None:
    """Random paths from grammar-ish pieces: a ParsedUrl or a 400, never another exception."""
    rng = random.Random(7801)
    outcomes = {"parsed": 0, "refused": 0}
    pieces = ["unsafe", SIG, "debug", "meta", "trim", "trim:5", "trim:top-left:9", "1x2:3x4", "fit-in",
              "adaptive-full-fit-in", "-300x-0", "x", "orig", "left", "top", "smart", "filters:quality(5)",
              "filters:format(webp)", "filters:blur(", "(", ")", "'", "%", "%2", "%FF", "%00", ":", "", "é", "a.jpg",
              "[", "]", ",", "quality(", "filters:", "http:", "\x00", " ", "%3D"]
    for _ in range(3000):
        path = "/".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))
        if rng.random() < 0.5:
            path = "/" + path
        try:
            parsed = parse_path(path)
        except BadRequest:
            outcomes["refused"] += 1
            continue
        outcomes["parsed"] += 1
        assert parsed.image
    assert min(outcomes.values()) > 100, outcomes  # both branches really exercised


# --- linear time (a bound against ReDoS, not a performance target) -------------------------------

SLOW_INPUTS = [
    pytest.param("/unsafe/filters:" + "quality(1):" * 700 + "quality(1)/a.jpg", id="many-filter-calls"),
    pytest.param("/unsafe/filters:quality(" + "(" * 8000 + "/a.jpg", id="nested-parens-in-limit"),
    pytest.param("/unsafe/filters:quality(" + "(" * 10000 + "/a.jpg", id="nested-parens-10k"),
    pytest.param("/unsafe/filters:quality(" + "[(" * 4000 + ")/a.jpg", id="nested-mixed-brackets"),
    pytest.param("/unsafe/filters:quality(" + "'" * 8000 + ")/a.jpg", id="many-quotes"),
    pytest.param("/unsafe/filters:quality(" + "1," * 4000 + "1)/a.jpg", id="many-args"),
    pytest.param("/unsafe/filters:" + "a" * 8000 + "(1)/a.jpg", id="long-filter-name"),
    pytest.param("/unsafe/" + "x/" * 4000 + "a.jpg", id="many-segments"),
    pytest.param("/unsafe/" + "-" * 8000 + "x/a.jpg", id="many-dashes"),
    pytest.param("/unsafe/" + "1" * 8000 + "x1/a.jpg", id="many-digits"),
    pytest.param("/unsafe/trim:" + "1" * 8000 + "/a.jpg", id="long-trim"),
    pytest.param("/unsafe/" + ")" * 8000 + "/a.jpg", id="many-close-parens"),
    pytest.param("/unsafe/" + "%" * 8000 + "/a.jpg", id="many-percent"),
]


@pytest.mark.parametrize("path", SLOW_INPUTS)
def test_parse_time_is_bounded(path: str) -> None:
    start = time.perf_counter()
    with contextlib.suppress(BadRequest):
        parse_path(path)
    assert time.perf_counter() - start < 1.0
