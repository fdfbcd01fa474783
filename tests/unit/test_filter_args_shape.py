"""The shape filters' arguments (Thumbor 7.8 syntax) and their size arithmetic. PURE tables."""

from __future__ import annotations

import pytest

from imgserver.errors import FilterError
from imgserver.imaging.filters.shape import parse_matrix, proportion_size, upscale_size
from imgserver.url.filters import FilterArg, parse_filters

pytestmark = pytest.mark.unit

GOOD: list[tuple[str, tuple[FilterArg, ...]]] = [
    # blur(radius 1..150[, sigma 0..150])
    ("blur(1)", (1,)),
    ("blur(150)", (150,)),
    ("blur(4,2)", (4, 2.0)),
    ("blur(4, 2.5)", (4, 2.5)),
    ("blur(4,0)", (4, 0.0)),
    ("blur(007)", (7,)),
    # sharpen(amount, radius, luminance_only)
    ("sharpen(2,1,true)", (2.0, 1.0, True)),
    ("sharpen(1.5,0.5,false)", (1.5, 0.5, False)),
    ("sharpen(-1,.5,True)", (-1.0, 0.5, True)),
    ("sharpen(0,0,0)", (0.0, 0.0, False)),
    ("sharpen(3,2,1)", (3.0, 2.0, True)),
    # convolution(matrix, columns[, should_normalize])
    ("convolution(1;2;1;2;4;2;1;2;1,3,true)", ("1;2;1;2;4;2;1;2;1", 3, True)),
    ("convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false)", ("-1;-1;-1;-1;8;-1;-1;-1;-1", 3, False)),
    ("convolution(0.5;1;0.5,3)", ("0.5;1;0.5", 3)),
    ("convolution(1,1)", ("1", 1)),
    # rotate(angle): any integer parses; only multiples of 90 act
    ("rotate(90)", (90,)),
    ("rotate(-270)", (-270,)),
    ("rotate(45)", (45,)),
    ("rotate(0)", (0,)),
    # round_corner(a|b, r, g, b[, transparent])
    ("round_corner(20,255,255,255)", ("20", 255, 255, 255)),
    ("round_corner(30|10,0,0,0)", ("30|10", 0, 0, 0)),
    ("round_corner(20,0,0,0,true)", ("20", 0, 0, 0, True)),
    ("round_corner(0,1,2,3,false)", ("0", 1, 2, 3, False)),
    # fill(colour[, fill_transparent])
    ("fill(red)", ("red",)),
    ("fill(RED)", ("red",)),
    ("fill(ff0000)", ("ff0000",)),
    ("fill(F00)", ("f00",)),
    ("fill(transparent)", ("transparent",)),
    ("fill(auto)", ("auto",)),
    ("fill(blur)", ("blur",)),
    ("fill(blue,true)", ("blue", True)),
    ("fill(ff000080,1)", ("ff000080", True)),
    # background_color(colour)
    ("background_color(blue)", ("blue",)),
    ("background_color(00ff00)", ("00ff00",)),
    ("background_color(transparent)", ("transparent",)),
    # upscale(), proportion(ratio)
    ("upscale()", ()),
    ("proportion(0.5)", (0.5,)),
    ("proportion(1)", (1.0,)),
    ("proportion(2)", (2.0,)),  # parses; ignored when applied (Thumbor)
    ("proportion(-0.5)", (-0.5,)),
    ("proportion(.25)", (0.25,)),
]


@pytest.mark.parametrize(("text", "args"), GOOD, ids=[g[0] for g in GOOD])
def test_good_arguments(text: str, args: tuple[FilterArg, ...]) -> None:
    (call,) = parse_filters(text)
    assert call.name == text.split("(")[0]
    assert call.args == args
    assert [type(a) for a in call.args] == [type(a) for a in args]


BAD = [
    "blur(0)",
    "blur(151)",
    "blur(-1)",
    "blur(1.5)",
    "blur()",
    "blur(a)",
    "blur(2,151)",
    "blur(2,-1)",
    "blur(2,3,4)",
    "sharpen()",
    "sharpen(1,2)",
    "sharpen(a,1,true)",
    "sharpen(1,b,true)",
    "sharpen(1,1,maybe)",
    "sharpen(1,1,true,1)",
    "convolution()",
    "convolution(1;2;1)",
    "convolution(1;2;1,0)",
    "convolution(1;2;x,3)",
    "convolution(1;;2,3)",
    "convolution(1;2;1,22)",
    "convolution(1;2;1,3,maybe)",
    "rotate()",
    "rotate(x)",
    "rotate(1.5)",
    "rotate(90,1)",
    "round_corner(20,255,255)",
    "round_corner(20,256,0,0)",
    "round_corner(20,-1,0,0)",
    "round_corner(a,0,0,0)",
    "round_corner(20|,0,0,0)",
    "round_corner(20|10|5,0,0,0)",
    "round_corner(20,0,0,0,maybe)",
    "fill()",
    "fill(notacolour)",
    "fill(ff00)",
    "fill(red,maybe)",
    "fill(red,true,1)",
    "fill(#)",
    "background_color()",
    "background_color(auto)",
    "background_color(zzz)",
    "background_color(red,true)",
    "upscale(1)",
    "upscale(true)",
    "proportion()",
    "proportion(abc)",
    "proportion(0.5,1)",
]


@pytest.mark.parametrize("text", BAD)
def test_bad_arguments(text: str) -> None:
    with pytest.raises(FilterError, match=text.split("(")[0]):
        parse_filters(text)


# --- size arithmetic (Thumbor's upscale.py and proportion.py, int truncation) ------------------

UPSCALE = [
    # (image size, request box) → new size or None (no change)
    ((400, 200), (500, 500), (500, 250)),
    ((200, 400), (500, 500), (250, 500)),
    ((400, 200), (555, 777), (555, 277)),  # int(277.5)
    ((200, 400), (777, 555), (277, 555)),
    ((300, 200), (301, 1000), (301, 200)),  # int(200.666…)
    ((400, 200), (900, 250), (500, 250)),
    ((100, 100), (300, 200), (200, 200)),
    ((100, 100), (200, 200), (200, 200)),
    ((400, 200), (400, 500), None),  # already as wide as the box
    ((400, 200), (500, 200), None),
    ((400, 200), (300, 300), None),
    ((400, 200), (0, 0), None),
]


@pytest.mark.parametrize(("size", "box", "expected"), UPSCALE, ids=[f"{u[0]}-{u[1]}" for u in UPSCALE])
def test_upscale_size(size: tuple[int, int], box: tuple[int, int], expected: tuple[int, int] | None) -> None:
    assert upscale_size(*size, *box) == expected


PROPORTION = [
    ((60, 40), 0.5, (30, 20)),
    ((300, 150), 0.3, (90, 45)),
    ((333, 167), 0.7, (233, 116)),  # int(233.1), int(116.9)
    ((100, 100), 1.0, (100, 100)),
    ((100, 3), 0.34, (34, 1)),  # 1.02 px: still one
    ((100, 3), 0.33, None),  # 0.99 px: Thumbor leaves the image alone
    ((60, 40), 1.01, None),
    ((60, 40), 0.0, None),
    ((60, 40), -0.5, None),
]


@pytest.mark.parametrize(("size", "ratio", "expected"), PROPORTION, ids=[f"{p[0]}x{p[1]}" for p in PROPORTION])
def test_proportion_size(size: tuple[int, int], ratio: float, expected: tuple[int, int] | None) -> None:
    assert proportion_size(*size, ratio) == expected


MATRICES = [
    ("1;2;1;2;4;2;1;2;1", 3, [[1, 2, 1], [2, 4, 2], [1, 2, 1]]),
    ("0.5;1;0.5", 3, [[0.5, 1, 0.5]]),
    ("0.5;1;0.5", 1, [[0.5], [1], [0.5]]),
    ("7", 1, [[7]]),
    ("1;2;3;4;5;6;7;8;9;10;11;12;13;14;15", 5, [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13, 14, 15]]),
    ("-1;-1;-1;-1;8;-1;-1;-1;-1", 3, [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
]


@pytest.mark.parametrize(("text", "columns", "rows"), MATRICES, ids=[f"{m[0]}/{m[1]}" for m in MATRICES])
def test_parse_matrix(text: str, columns: int, rows: list[list[float]]) -> None:
    assert parse_matrix(text, columns) == rows


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("1;2;3;4", 2),  # even size
        ("1;2;3;4;5;6", 3),  # two rows
        ("1;2;3;4;5;6;7;8;9", 2),  # not a rectangle
    ],
    ids=["even", "even-rows", "ragged"],
)
def test_parse_matrix_refuses_what_thumbor_cannot_apply(text: str, columns: int) -> None:
    with pytest.raises(FilterError, match="convolution"):
        parse_matrix(text, columns)
