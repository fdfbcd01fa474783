"""The color filters' arguments: the URL parser's table, and the curve points checked at render."""

from __future__ import annotations

import pytest

from imgserver.errors import FilterError
from imgserver.imaging.filters.color import curve_table, parse_curve
from imgserver.url.filters import FilterArg, FilterCall, parse_filters

pytestmark = pytest.mark.unit

IDENTITY = "[(0,0),(255,255)]"
#: The example in Thumbor's curve docstring: master, red, green, blue.
THUMBOR_DOC_CURVES = (
    "[(0,0),(40,59),(255,255)]",
    "[(32,59),(64,80),(92,111),(128,153),(140,169),(164,201),(192,214),(224,215),(240,214),(255,212)]",
    "[(34,41),(64,51),(92,76),(128,112),(140,124),(164,147),(192,180),(224,216),(240,236),(255,255)]",
    "[(40,46),(64,55),(92,83),(128,127),(140,144),(164,174),(192,197),(224,199),(240,197),(255,198)]",
)

GOOD = [
    pytest.param("brightness(40)", ("brightness", (40,)), id="brightness"),
    pytest.param("brightness(-100)", ("brightness", (-100,)), id="brightness-min"),
    pytest.param("brightness(100)", ("brightness", (100,)), id="brightness-max"),
    pytest.param("brightness(0)", ("brightness", (0,)), id="brightness-zero"),
    pytest.param("contrast(-30)", ("contrast", (-30,)), id="contrast-negative"),
    pytest.param("contrast(100)", ("contrast", (100,)), id="contrast-max"),
    pytest.param("rgb(10,-20,30)", ("rgb", (10, -20, 30)), id="rgb"),
    pytest.param("rgb(-100,100,0)", ("rgb", (-100, 100, 0)), id="rgb-bounds"),
    pytest.param("rgb( 1 , 2 , 3 )", ("rgb", (1, 2, 3)), id="rgb-spaces"),
    pytest.param("saturation(1.5)", ("saturation", (1.5,)), id="saturation-decimal"),
    pytest.param("saturation(2)", ("saturation", (2.0,)), id="saturation-integer-is-float"),
    pytest.param("saturation(0)", ("saturation", (0.0,)), id="saturation-zero"),
    pytest.param("saturation(.5)", ("saturation", (0.5,)), id="saturation-leading-dot"),
    pytest.param("saturation(-0.5)", ("saturation", (-0.5,)), id="saturation-negative"),
    pytest.param("grayscale()", ("grayscale", ()), id="grayscale"),
    pytest.param("equalize()", ("equalize", ()), id="equalize"),
    pytest.param("colorize(10,20,30,ff0000)", ("colorize", (10, 20, 30, "ff0000")), id="colorize-hex"),
    pytest.param("colorize(0,0,100,#ABC)", ("colorize", (0, 0, 100, "#abc")), id="colorize-short-hex-lowered"),
    pytest.param("colorize(50,50,50,Red)", ("colorize", (50, 50, 50, "red")), id="colorize-name-lowered"),
    pytest.param(
        f"curve({IDENTITY},{IDENTITY},{IDENTITY},{IDENTITY})",
        ("curve", (IDENTITY,) * 4),
        id="curve-identity",
    ),
    pytest.param(f"curve({','.join(THUMBOR_DOC_CURVES)})", ("curve", THUMBOR_DOC_CURVES), id="curve-thumbor-doc"),
    pytest.param("noise(40)", ("noise", (40,)), id="noise-no-seed"),
    pytest.param("noise(40,123)", ("noise", (40, 123)), id="noise-seed"),
    pytest.param("noise(0,0)", ("noise", (0, 0)), id="noise-zero"),
    pytest.param("noise(100)", ("noise", (100,)), id="noise-max"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_arguments(text: str, expected: tuple[str, tuple[FilterArg, ...]]) -> None:
    (call,) = parse_filters(text)
    want = FilterCall(*expected)
    assert call == want
    for got, wanted in zip(call.args, want.args, strict=True):
        assert type(got) is type(wanted)  # ints stay ints, decimals are floats, colours strings


BAD = [
    pytest.param("brightness(101)", id="brightness-over"),
    pytest.param("brightness(-101)", id="brightness-under"),
    pytest.param("brightness(1.5)", id="brightness-decimal"),
    pytest.param("brightness()", id="brightness-missing"),
    pytest.param("brightness(1,2)", id="brightness-extra"),
    pytest.param("brightness(abc)", id="brightness-word"),
    pytest.param("contrast(200)", id="contrast-over"),
    pytest.param("contrast(-101)", id="contrast-under"),
    pytest.param("rgb(1,2)", id="rgb-two"),
    pytest.param("rgb(1,2,3,4)", id="rgb-four"),
    pytest.param("rgb(1,2,101)", id="rgb-over"),
    pytest.param("rgb(1,x,3)", id="rgb-word"),
    pytest.param("saturation()", id="saturation-missing"),
    pytest.param("saturation(lots)", id="saturation-word"),
    pytest.param("saturation(1.5.2)", id="saturation-two-dots"),
    pytest.param("grayscale(1)", id="grayscale-argument"),
    pytest.param("equalize(true)", id="equalize-argument"),
    pytest.param("colorize(10,20,30)", id="colorize-no-colour"),
    pytest.param("colorize(10,20,101,red)", id="colorize-over"),
    pytest.param("colorize(-1,20,30,red)", id="colorize-negative"),
    pytest.param("colorize(10,20,30,notacolour)", id="colorize-bad-colour"),
    pytest.param("colorize(10,20,30,ff00)", id="colorize-bad-hex-length"),
    pytest.param(f"curve({IDENTITY},{IDENTITY},{IDENTITY})", id="curve-three"),
    pytest.param(f"curve({IDENTITY},{IDENTITY},{IDENTITY},(0,0))", id="curve-no-brackets"),
    pytest.param(f"curve({IDENTITY},{IDENTITY},{IDENTITY},[(0,0),(-1,2)])", id="curve-negative"),
    pytest.param(f"curve({IDENTITY},{IDENTITY},{IDENTITY},[(0,0),(1.5,2)])", id="curve-decimal"),
    pytest.param(f"curve({IDENTITY},{IDENTITY},{IDENTITY},[(0, 0)])", id="curve-inner-space"),
    pytest.param(f"curve({IDENTITY},{IDENTITY},{IDENTITY},[(0,0,0)])", id="curve-triple"),
    pytest.param("noise(101)", id="noise-over"),
    pytest.param("noise(-1)", id="noise-negative"),
    pytest.param("noise(10,-3)", id="noise-negative-seed"),
    pytest.param("noise(10,1,2)", id="noise-extra"),
    pytest.param("noise()", id="noise-missing"),
]


@pytest.mark.parametrize("text", BAD)
def test_bad_arguments(text: str) -> None:
    with pytest.raises(FilterError, match=text.split("(")[0]):
        parse_filters(text)


# --- curve points: the URL pattern lets these through; the filter checks them -----------------------

CURVES = [
    pytest.param("[(0,0),(255,255)]", [(0, 0), (255, 255)], id="identity"),
    pytest.param("[(10,60)]", [(10, 60)], id="one-point"),
    pytest.param("[(0,0),(128,200),(255,255),]", [(0, 0), (128, 200), (255, 255)], id="trailing-comma"),
    pytest.param("[(0,10)(255,20)]", [(0, 10), (255, 20)], id="no-comma-between-points"),
]


@pytest.mark.parametrize(("text", "points"), CURVES)
def test_parse_curve(text: str, points: list[tuple[int, int]]) -> None:
    assert parse_curve(text) == points


BAD_CURVES = [
    pytest.param("[]", id="empty"),
    pytest.param("[(0,0),(256,255)]", id="x-over-255"),
    pytest.param("[(0,0),(255,999)]", id="y-over-255"),
    pytest.param("[(0,0),(0,255)]", id="same-x"),
    pytest.param("[(200,0),(100,255)]", id="x-decreasing"),
]


@pytest.mark.parametrize("text", BAD_CURVES)
def test_parse_curve_refuses(text: str) -> None:
    with pytest.raises(FilterError, match="curve"):
        parse_curve(text)


TABLES = [
    # points, {input: output} — outputs recorded from Thumbor 7.8's _curve.c on a 0..255 ramp
    pytest.param(
        [(0, 0), (64, 100), (192, 160), (255, 255)],
        {0: 0, 32: 56, 64: 100, 100: 123, 128: 131, 160: 139, 192: 160, 224: 202, 255: 255},
        id="s-curve",
    ),
    pytest.param(
        [(30, 10), (100, 200), (200, 50)],
        {0: 10, 29: 10, 30: 10, 60: 113, 100: 200, 150: 171, 199: 53, 200: 50, 255: 50},
        id="flat-outside-the-points",
    ),
    pytest.param([(0, 0), (255, 255)], {v: v for v in range(0, 256, 15)}, id="identity"),
    pytest.param([(0, 255), (255, 0)], {0: 255, 100: 155, 255: 0}, id="invert"),
    pytest.param([(10, 60)], {0: 60, 10: 60, 255: 60}, id="one-point-is-constant"),
]


@pytest.mark.parametrize(("points", "expected"), TABLES)
def test_curve_table(points: list[tuple[int, int]], expected: dict[int, int]) -> None:
    table = curve_table(points)
    assert len(table) == 256
    assert all(0 <= v <= 255 for v in table)
    assert {x: table[x] for x in expected} == expected
