"""Filter tokens: splitting, the registry, argument kinds and ranges, later-call-wins."""

from __future__ import annotations

import time

import pytest

from imgserver.errors import FilterError
from imgserver.url.filters import (
    BOOLEAN,
    CURVE,
    DECIMAL,
    MATRIX,
    MAX_FILTERS,
    POSITION,
    POSITIVE_NONZERO,
    RADII,
    REGISTRY,
    STRING,
    FilterArg,
    FilterCall,
    Kind,
    _split_args,
    _split_calls,
    parse_filters,
    validate_call,
)
from imgserver.url.grammar import parse_path

pytestmark = pytest.mark.unit

THUMBOR_FILTERS = {
    "autojpg", "background_color", "blur", "brightness", "colorize", "contrast", "convolution", "cover",
    "curve", "equalize", "extract_focal", "fill", "focal", "format", "frame", "grayscale", "max_age",
    "max_bytes", "no_upscale", "noise", "proportion", "quality", "rgb", "rotate", "round_corner",
    "saturation", "sharpen", "stretch", "strip_exif", "strip_icc", "upscale", "watermark",
}


# --- parse_filters: accepted ---------------------------------------------------------------------

VALID = [
    pytest.param("quality(0)", [("quality", (0,))], id="quality-0"),
    pytest.param("quality(100)", [("quality", (100,))], id="quality-100"),
    pytest.param("quality(80)", [("quality", (80,))], id="quality-80"),
    pytest.param("quality( 80 )", [("quality", (80,))], id="quality-spaces"),
    pytest.param("quality(080)", [("quality", (80,))], id="quality-leading-zero"),
    pytest.param("format(webp)", [("format", ("webp",))], id="format-webp"),
    pytest.param("format(JPG)", [("format", ("jpg",))], id="format-JPG-lowered"),
    pytest.param("format(Jpeg)", [("format", ("jpeg",))], id="format-Jpeg-lowered"),
    pytest.param("format(PNG)", [("format", ("png",))], id="format-PNG"),
    pytest.param("format(gif)", [("format", ("gif",))], id="format-gif"),
    pytest.param("format(avif)", [("format", ("avif",))], id="format-avif"),
    pytest.param("format( webp )", [("format", ("webp",))], id="format-spaces"),
    pytest.param("quality(80):format(webp)", [("quality", (80,)), ("format", ("webp",))], id="two-calls"),
    pytest.param("format(png):quality(5):quality(95)", [("format", ("png",)), ("quality", (5,)), ("quality", (95,))],
                 id="repeated-kept-in-order"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_filters(text: str, expected: list[tuple[str, tuple[FilterArg, ...]]]) -> None:
    calls = parse_filters(text)
    assert calls == tuple(FilterCall(name, args) for name, args in expected)
    for call in calls:
        for arg in call.args:
            # quality is a real int (not a bool, not a str), format a str
            assert type(arg) is (int if call.name == "quality" else str)


# --- parse_filters: refused ---------------------------------------------------------------------

INVALID = [
    pytest.param("quality(101)", id="quality-101"),
    pytest.param("quality(-1)", id="quality-negative"),
    pytest.param("quality(abc)", id="quality-word"),
    pytest.param("quality(1.5)", id="quality-decimal"),
    pytest.param("quality(8 0)", id="quality-inner-space"),
    pytest.param("quality()", id="quality-no-args"),
    pytest.param("quality(80,90)", id="quality-two-args"),
    pytest.param("quality(80,)", id="quality-trailing-comma"),
    pytest.param("quality(1234567890)", id="quality-ten-digits"),
    pytest.param("quality('80')", id="quality-quoted"),
    pytest.param("format(bmp)", id="format-bmp"),
    pytest.param("format(tiff)", id="format-tiff"),
    pytest.param("format()", id="format-empty"),
    pytest.param("format(webp,png)", id="format-two-args"),
    pytest.param("format(web p)", id="format-split-word"),
    pytest.param("quality", id="no-parens"),
    pytest.param("quality(80", id="unclosed"),
    pytest.param("quality(80))", id="extra-close"),
    pytest.param("quality[80]", id="square-brackets"),
    pytest.param("(80)", id="no-name"),
    pytest.param("", id="empty"),
    pytest.param(":", id="colon"),
    pytest.param("quality(80):", id="trailing-colon"),
    pytest.param(":quality(80)", id="leading-colon"),
    pytest.param("quality(80)format(webp)", id="missing-colon"),
    pytest.param("quality(80) ", id="trailing-space"),
    pytest.param(" quality(80)", id="leading-space"),
    pytest.param("Quality(80)", id="uppercase-name"),
    pytest.param("nosuch(1)", id="unknown"),
    pytest.param("quality(80):nosuch()", id="unknown-second"),
    pytest.param("a" * 65 + "(1)", id="name-too-long"),
]


@pytest.mark.parametrize("text", INVALID)
def test_parse_filters_refuses(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filters(text)


def test_unknown_filter_error_names_it() -> None:
    with pytest.raises(FilterError) as info:
        parse_filters("nosuch(1)")
    assert "nosuch" in str(info.value)


# Valid Thumbor-style arguments for every filter besides quality and format.
VALID_CALLS = {
    "autojpg": "autojpg()",
    "background_color": "background_color(ff0000)",
    "blur": "blur(2)",
    "brightness": "brightness(40)",
    "colorize": "colorize(10,20,30,ff0000)",
    "contrast": "contrast(-40)",
    "convolution": "convolution(1;2;1;2;4;2;1;2;1,3,true)",
    "cover": "cover()",
    "curve": "curve([(0,0),(255,255)],[(0,0)],[(0,0)],[(0,0)])",
    "equalize": "equalize()",
    "extract_focal": "extract_focal()",
    "fill": "fill(blue,true)",
    "focal": "focal(10x10:20x20)",
    "frame": "frame(frame.png)",
    "grayscale": "grayscale()",
    "max_age": "max_age(60)",
    "max_bytes": "max_bytes(10000)",
    "no_upscale": "no_upscale()",
    "noise": "noise(40)",
    "proportion": "proportion(0.5)",
    "rgb": "rgb(10,-10,0)",
    "rotate": "rotate(90)",
    "round_corner": "round_corner(20|40,0,0,0,true)",
    "saturation": "saturation(1.5)",
    "sharpen": "sharpen(2,1.0,true)",
    "stretch": "stretch()",
    "strip_exif": "strip_exif()",
    "strip_icc": "strip_icc()",
    "upscale": "upscale()",
    "watermark": "watermark('a,b.png',10,-10,50)",
}


def test_valid_table_covers_registry() -> None:
    assert set(VALID_CALLS) == THUMBOR_FILTERS - {"quality", "format"}


@pytest.mark.parametrize("name", sorted(VALID_CALLS))
def test_every_filter_parses(name: str) -> None:
    text = VALID_CALLS[name]
    assert [n for n, _ in _split_calls(text)] == [name]
    assert [c.name for c in parse_filters(text)] == [name]
    assert [c.name for c in parse_filters("quality(80):" + text)] == ["quality", name]


# --- registry --------------------------------------------------------------------------------

def test_registry_has_every_thumbor_filter() -> None:
    assert set(REGISTRY) == THUMBOR_FILTERS
    assert all(spec.name == name for name, spec in REGISTRY.items())


@pytest.mark.parametrize(
    ("name", "required", "total"),
    [
        pytest.param("quality", 1, 1, id="quality"),
        pytest.param("format", 1, 1, id="format"),
        pytest.param("blur", 1, 2, id="blur"),
        pytest.param("watermark", 4, 6, id="watermark"),
        pytest.param("round_corner", 4, 5, id="round_corner"),
        pytest.param("curve", 4, 4, id="curve"),
        pytest.param("convolution", 2, 3, id="convolution"),
        pytest.param("sharpen", 3, 3, id="sharpen"),
        pytest.param("grayscale", 0, 0, id="grayscale"),
        pytest.param("fill", 1, 2, id="fill"),
    ],
)
def test_registry_arity(name: str, required: int, total: int) -> None:
    params = REGISTRY[name].params
    assert len(params) == total
    assert sum(1 for p in params if not p.optional) == required
    # optional parameters only come last
    flags = [p.optional for p in params]
    assert flags == sorted(flags)


# --- validate_call directly --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        pytest.param("quality", ["0"], FilterCall("quality", (0,)), id="quality-0"),
        pytest.param("quality", ["100"], FilterCall("quality", (100,)), id="quality-100"),
        pytest.param("format", ["WebP"], FilterCall("format", ("webp",)), id="format-mixed-case"),
    ],
)
def test_validate_call(name: str, raw: list[str], expected: FilterCall) -> None:
    assert validate_call(name, raw) == expected


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        pytest.param("quality", [], "argument", id="too-few"),
        pytest.param("quality", ["1", "2"], "argument", id="too-many"),
        pytest.param("quality", ["101"], "0..100", id="over-range"),
        pytest.param("quality", ["x"], "integer", id="wrong-kind"),
        pytest.param("format", ["bmp"], "argument 1", id="wrong-format"),
        pytest.param("blur", ["0"], "positive", id="blur-zero"),
        pytest.param("nosuch", [], "unknown", id="unknown"),
    ],
)
def test_validate_call_refuses(name: str, raw: list[str], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        validate_call(name, raw)


# --- later call wins ------------------------------------------------------------------------

def test_later_call_wins() -> None:
    parsed = parse_path("/unsafe/filters:quality(10):format(png):quality(90):format(JPG)/a.jpg")
    assert parsed.filter("quality") == FilterCall("quality", (90,))
    assert parsed.filter("format") == FilterCall("format", ("jpg",))
    assert parsed.filter("blur") is None
    assert len(parsed.filters) == 4


def test_filter_lookup_without_filters() -> None:
    assert parse_path("/unsafe/300x200/a.jpg").filter("quality") is None


# --- splitting calls and arguments  -----------------------

SPLIT_CALLS = [
    pytest.param("quality(80)", [("quality", "80")], id="one"),
    pytest.param("quality(80):format(webp)", [("quality", "80"), ("format", "webp")], id="two"),
    pytest.param("grayscale()", [("grayscale", "")], id="no-args"),
    pytest.param("strip_exif():quality( 80 )", [("strip_exif", ""), ("quality", " 80 ")], id="raw-args-kept"),
    pytest.param("curve([(0,0),(255,255)],[(0,0)],[(0,0)],[(0,0)])",
                 [("curve", "[(0,0),(255,255)],[(0,0)],[(0,0)],[(0,0)]")], id="curve-nested"),
    pytest.param("curve([(0,0)],[(0,0)],[(0,0)],[(0,0)]):quality(5)",
                 [("curve", "[(0,0)],[(0,0)],[(0,0)],[(0,0)]"), ("quality", "5")], id="curve-then-quality"),
    pytest.param("watermark('a,b.png',10,10,50)", [("watermark", "'a,b.png',10,10,50")], id="watermark-quoted"),
    pytest.param("watermark('a(1).png',10,10,50)", [("watermark", "'a(1).png',10,10,50")],
                 id="watermark-quoted-parens"),
    pytest.param("watermark('a).png',1,2,3):quality(5)", [("watermark", "'a).png',1,2,3"), ("quality", "5")],
                 id="quote-protects-close"),
    pytest.param("watermark(http://x.com/a.png,10,-10,50,none,20)",
                 [("watermark", "http://x.com/a.png,10,-10,50,none,20")], id="watermark-url"),
    pytest.param("convolution(1;2;1;2;4;2;1;2;1,3,true)", [("convolution", "1;2;1;2;4;2;1;2;1,3,true")],
                 id="convolution"),
    pytest.param("round_corner(20|40,0,0,0,true)", [("round_corner", "20|40,0,0,0,true")], id="round-corner"),
    pytest.param("focal(10x20:30x40)", [("focal", "10x20:30x40")], id="focal-colon-inside"),
    pytest.param("blur(1):blur(2)", [("blur", "1"), ("blur", "2")], id="repeated"),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT_CALLS)
def test_split_calls(text: str, expected: list[tuple[str, str]]) -> None:
    assert _split_calls(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("quality(", id="unclosed"),
        pytest.param("curve([(0,0)]", id="unclosed-nested"),
        pytest.param("watermark('a)", id="unclosed-quote"),
        pytest.param("quality(80]", id="mismatched-bracket"),
        pytest.param("quality(80)x", id="junk-after"),
        pytest.param("quality(80):", id="trailing-colon"),
        pytest.param("9lives(1)", id="name-starts-with-digit"),
        pytest.param("quality-x(1)", id="name-with-dash"),
    ],
)
def test_split_calls_refuses(text: str) -> None:
    with pytest.raises(FilterError):
        _split_calls(text)


SPLIT_ARGS = [
    pytest.param("", [], id="empty"),
    pytest.param("   ", [], id="blank"),
    pytest.param("80", ["80"], id="one"),
    pytest.param(" 80 ", ["80"], id="one-spaced"),
    pytest.param("a, b ,c", ["a", "b", "c"], id="spaces-trimmed"),
    pytest.param("a,", ["a", ""], id="trailing-empty"),
    pytest.param(",", ["", ""], id="two-empty"),
    pytest.param("[(0,0),(255,255)],[(0,0)],[(0,0)],[(0,0)]",
                 ["[(0,0),(255,255)]", "[(0,0)]", "[(0,0)]", "[(0,0)]"], id="curve"),
    pytest.param("'a,b.png',10,10,50", ["'a,b.png'", "10", "10", "50"], id="watermark-quoted-comma"),
    pytest.param("'a(b,c).png',1,2,3", ["'a(b,c).png'", "1", "2", "3"], id="quoted-parens-and-comma"),
    pytest.param("1;2;1;2;4;2;1;2;1,3,true", ["1;2;1;2;4;2;1;2;1", "3", "true"], id="convolution"),
    pytest.param("20|40,0,0,0,true", ["20|40", "0", "0", "0", "true"], id="round-corner"),
    pytest.param("f(a,[b,c]),d", ["f(a,[b,c])", "d"], id="mixed-nesting"),
    pytest.param("http://x.com/a.png,10,-10,50", ["http://x.com/a.png", "10", "-10", "50"], id="url-arg"),
]


@pytest.mark.parametrize(("raw", "expected"), SPLIT_ARGS)
def test_split_args(raw: str, expected: list[str]) -> None:
    assert _split_args(raw) == expected


# --- argument kinds (the contract for the filters still to come) -------------------------------

@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        pytest.param(BOOLEAN, "true", True, id="bool-true"),
        pytest.param(BOOLEAN, "True", True, id="bool-True"),
        pytest.param(BOOLEAN, "1", True, id="bool-1"),
        pytest.param(BOOLEAN, "false", False, id="bool-false"),
        pytest.param(BOOLEAN, "0", False, id="bool-0"),
        pytest.param(DECIMAL, "1.5", 1.5, id="decimal"),
        pytest.param(DECIMAL, "-0.25", -0.25, id="decimal-negative"),
        pytest.param(DECIMAL, ".5", 0.5, id="decimal-no-int-part"),
        pytest.param(DECIMAL, "7", 7.0, id="decimal-int"),
        pytest.param(STRING, "'a,b.png'", "a,b.png", id="string-quoted"),
        pytest.param(STRING, "frame.png", "frame.png", id="string-bare"),
        pytest.param(POSITIVE_NONZERO, "007", 7, id="positive-nonzero"),
        pytest.param(POSITION, "center", "center", id="position-center"),
        pytest.param(POSITION, "-20p", "-20p", id="position-percent"),
        pytest.param(RADII, "20|40", "20|40", id="radii-pair"),
        pytest.param(CURVE, "[(0,0),(255,255)]", "[(0,0),(255,255)]", id="curve"),
        pytest.param(MATRIX, "1;-2;0.5", "1;-2;0.5", id="matrix"),
    ],
)
def test_kind_accepts(kind: Kind, raw: str, value: FilterArg) -> None:
    assert kind.pattern.fullmatch(raw)
    converted = kind.convert(raw)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        pytest.param(BOOLEAN, "yes", id="bool-yes"),
        pytest.param(BOOLEAN, "TRUE", id="bool-upper"),
        pytest.param(DECIMAL, "1e5", id="decimal-exponent"),
        pytest.param(DECIMAL, "", id="decimal-empty"),
        pytest.param(DECIMAL, "-", id="decimal-minus"),
        pytest.param(POSITIVE_NONZERO, "0", id="positive-nonzero-0"),
        pytest.param(STRING, "a'b", id="string-stray-quote"),
        pytest.param(STRING, "", id="string-empty"),
        pytest.param(CURVE, "[(0,0),(256)]", id="curve-bad"),
        pytest.param(MATRIX, "1;;2", id="matrix-empty-cell"),
    ],
)
def test_kind_refuses(kind: Kind, raw: str) -> None:
    assert kind.pattern.fullmatch(raw) is None


# --- limits and round trip -------------------------------------------------------------------

def test_max_filters_boundary() -> None:
    assert len(parse_filters(":".join(["quality(1)"] * MAX_FILTERS))) == MAX_FILTERS
    with pytest.raises(FilterError):
        parse_filters(":".join(["quality(1)"] * (MAX_FILTERS + 1)))


def test_str_round_trips() -> None:
    calls = parse_filters("quality( 07 ):format(WEBP)")
    assert [str(c) for c in calls] == ["quality(7)", "format(webp)"]
    assert parse_filters(":".join(str(c) for c in calls)) == calls
    assert str(FilterCall("fill", ("red", True))) == "fill(red,true)"
    assert str(FilterCall("grayscale")) == "grayscale()"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("quality(1):" * 1000 + "quality(1)", id="1000-calls"),
        pytest.param("blur(" + "(" * 10_000, id="nested-parens"),
        pytest.param("blur(" + "[(" * 5000 + ")", id="nested-mixed"),
        pytest.param("watermark(" + "'" * 10_001, id="quotes"),
        pytest.param("quality(" + "1," * 5000 + "1)", id="many-args"),
        pytest.param("a" * 10_000 + "(1)", id="long-name"),
        pytest.param("curve(" + "[(0,0)," * 2000 + ")", id="curve-like"),
    ],
)
def test_parse_filters_time_is_bounded(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(FilterError):
        parse_filters(text)
    assert time.perf_counter() - start < 1.0
