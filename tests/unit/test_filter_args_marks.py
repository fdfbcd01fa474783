"""The marks filters' arguments: the URL parser's table, the ratio check done at render, and
Thumbor's watermark arithmetic (size box, positions, repeat) and nine-patch cell sizes."""

from __future__ import annotations

import pytest
import pyvips

from imgserver.errors import FilterError
from imgserver.imaging.filters.marks import (
    Segment,
    _ratio,
    analyse_nine_patch,
    segment_sizes,
    watermark_positions,
    watermark_size,
)
from imgserver.url.filters import FilterArg, FilterCall, parse_filters

pytestmark = pytest.mark.unit

GOOD = [
    pytest.param("watermark(logo.png,10,20,50)", ("logo.png", "10", "20", 50), id="ints"),
    pytest.param("watermark(logo.png,-10,-0,0)", ("logo.png", "-10", "-0", 0), id="negative"),
    pytest.param("watermark(logo.png,10p,-25p,100)", ("logo.png", "10p", "-25p", 100), id="percent"),
    pytest.param("watermark(logo.png,center,repeat,30)", ("logo.png", "center", "repeat", 30), id="keywords"),
    pytest.param("watermark(logo.png,repeat,center,0,20)", ("logo.png", "repeat", "center", 0, "20"), id="w-ratio"),
    pytest.param(
        "watermark(logo.png,0,0,0,none,15)", ("logo.png", "0", "0", 0, "none", "15"), id="h-ratio-only"
    ),
    pytest.param("watermark(logo.png,0,0,0,30,none)", ("logo.png", "0", "0", 0, "30", "none"), id="w-ratio-none"),
    pytest.param("watermark(dir/logo.png,0,0,0)", ("dir/logo.png", "0", "0", 0), id="path-key"),
    pytest.param("watermark('a,b.png',1,2,3)", ("a,b.png", "1", "2", 3), id="quoted-key"),
    pytest.param("frame(frame.9.png)", ("frame.9.png",), id="frame"),
    pytest.param("frame('frames/gold.png')", ("frames/gold.png",), id="frame-quoted"),
]


@pytest.mark.parametrize(("text", "args"), GOOD)
def test_good_arguments(text: str, args: tuple[FilterArg, ...]) -> None:
    (call,) = parse_filters(text)
    assert call == FilterCall(text.split("(")[0], args)


BAD = [
    pytest.param("watermark(logo.png,left,0,0)", id="x-word"),
    pytest.param("watermark(logo.png,0,top,0)", id="y-word"),
    pytest.param("watermark(logo.png,10px,0,0)", id="x-pixels"),
    pytest.param("watermark(logo.png,1.5,0,0)", id="x-decimal"),
    pytest.param("watermark(logo.png,0,p,0)", id="y-bare-p"),
    pytest.param("watermark(logo.png,0,0,101)", id="alpha-over-100"),
    pytest.param("watermark(logo.png,0,0,-1)", id="alpha-negative"),
    pytest.param("watermark(logo.png,0,0,0.5)", id="alpha-decimal"),
    pytest.param("watermark(logo.png,0,0)", id="too-few"),
    pytest.param("watermark(logo.png,0,0,0,1,2,3)", id="too-many"),
    pytest.param("watermark(logo.png,0,0,0,abc)", id="ratio-word"),
    pytest.param("watermark(logo.png,0,0,0,10p)", id="ratio-percent-sign"),
    pytest.param("watermark(,0,0,0)", id="empty-key"),
    pytest.param("frame()", id="frame-no-key"),
    pytest.param("frame(a.png,b.png)", id="frame-two-keys"),
    pytest.param("frame('')", id="frame-empty-quoted"),
]


@pytest.mark.parametrize("text", BAD)
def test_bad_arguments(text: str) -> None:
    with pytest.raises(FilterError, match=text.split("(")[0]):
        parse_filters(text)


@pytest.mark.parametrize(
    ("value", "fraction"),
    [("none", None), ("0", None), ("10", 0.1), ("100", 1.0), ("1000", 10.0)],
    ids=["none", "zero-is-none", "ten", "hundred", "max"],
)
def test_ratio_values(value: str, fraction: float | None) -> None:
    assert _ratio(value, 5) == fraction


@pytest.mark.parametrize("value", ["-5", "1001", "999999999"], ids=["negative", "over", "huge"])
def test_ratio_out_of_range(value: str) -> None:
    with pytest.raises(FilterError, match="watermark: argument 6"):
        _ratio(value, 6)


@pytest.mark.parametrize(
    ("image", "mark", "w_ratio", "h_ratio", "size"),
    [
        ((100, 80), (20, 10), 0.1, None, (10, 5)),
        ((100, 80), (20, 10), None, 0.05, (8, 4)),
        ((100, 80), (20, 10), 0.5, 0.05, (8, 4)),  # the tighter side wins
        ((100, 80), (20, 10), 0.1, 0.5, (10, 5)),
        ((100, 80), (20, 10), 0.4, None, (40, 20)),  # enlarged, as Thumbor does
        ((100, 100), (3, 1000), 0.01, None, (1, 333)),
        ((10, 10), (100, 1), 0.01, None, (1, 1)),  # never 0 px
        ((100, 80), (20, 10), None, None, (20, 10)),
    ],
    ids=["w", "h", "both-h-wins", "both-w-wins", "enlarge", "tall", "tiny", "none"],
)
def test_watermark_size(
    image: tuple[int, int],
    mark: tuple[int, int],
    w_ratio: float | None,
    h_ratio: float | None,
    size: tuple[int, int],
) -> None:
    assert watermark_size(image, mark, w_ratio, h_ratio) == size


@pytest.mark.parametrize(
    ("image", "mark", "x", "y", "xs", "ys"),
    [
        ((100, 80), (20, 10), "10", "20", [10], [20]),
        ((100, 80), (20, 10), "-10", "-20", [70], [50]),
        ((100, 80), (20, 10), "-0", "0", [80], [0]),
        ((100, 80), (20, 10), "50p", "25p", [50], [20]),
        ((100, 80), (20, 10), "-50p", "-0p", [30], [70]),
        ((50, 80), (20, 10), "5p", "0", [3], [0]),  # round(2.5 + 1e-5): ties go up
        ((101, 80), (20, 10), "center", "center", [40], [35]),
        ((10, 10), (15, 15), "center", "center", [-2], [-2]),  # int() truncates towards 0
        ((100, 80), (20, 10), "200", "-200", [200], [-130]),
        ((100, 80), (30, 25), "repeat", "40", [0, 35, 70], [40]),
        ((100, 80), (30, 25), "10", "repeat", [10], [0, 27, 54]),
        ((100, 80), (30, 25), "repeat", "repeat", [0, 35, 70], [0, 27, 54]),
        ((100, 80), (20, 10), "repeat", "0", [0, 20, 40, 60, 80], [0]),
        ((50, 80), (30, 10), "repeat", "0", [0, 40], [0]),  # under 2 marks: 10 px apart
        ((20, 80), (30, 10), "repeat", "0", [0], [0]),
        ((1000, 1000), (10, 10), "repeat", "repeat", [0, 198, 396, 594, 792, 990], [0, 198, 396, 594, 792, 990]),
    ],
    ids=[
        "ints",
        "negative",
        "minus-zero",
        "percent",
        "negative-percent",
        "percent-rounding",
        "center",
        "center-larger-mark",
        "outside",
        "repeat-x",
        "repeat-y",
        "repeat-both",
        "repeat-exact",
        "repeat-short",
        "repeat-mark-wider",
        "repeat-dense-thinned-to-6",
    ],
)
def test_watermark_positions(
    image: tuple[int, int], mark: tuple[int, int], x: str, y: str, xs: list[int], ys: list[int]
) -> None:
    assert watermark_positions(image, mark, x, y) == (xs, ys)


F, S = False, True


@pytest.mark.parametrize(
    ("segments", "target", "sizes"),
    [
        ([(4, F), (2, S), (4, F)], 100, [4, 92, 4]),
        ([(4, F), (1, S), (2, F), (3, S), (4, F)], 18, [4, 2, 2, 6, 4]),  # stretch shared 1:3
        ([(4, F), (2, S), (4, F)], 8, [4, 0, 4]),
        ([(10, F), (10, S), (10, F)], 5, [2, 0, 3]),  # fixed cells shrink when they do not fit
        ([(5, S)], 7, [7]),
    ],
    ids=["nine-patch", "two-stretch-regions", "exact-fit", "too-small", "all-stretch"],
)
def test_segment_sizes(segments: list[tuple[int, bool]], target: int, sizes: list[int]) -> None:
    runs, start = [], 0
    for length, stretchy in segments:
        runs.append(Segment(start, length, stretchy))
        start += length
    result = segment_sizes(runs, target)
    assert result == sizes
    assert sum(result) == target


def _solid(width: int, height: int, colour: list[int]) -> pyvips.Image:
    return (pyvips.Image.black(width, height, bands=4) + colour).cast("uchar").copy(interpretation="srgb")


def test_nine_patch_guides_are_read() -> None:
    black = [0, 0, 0, 255]
    image = _solid(12, 12, [0, 0, 0, 0]).draw_rect([255, 0, 0, 255], 1, 1, 10, 10, fill=True)
    image = image.draw_rect(black, 5, 0, 2, 1, fill=True).draw_rect(black, 0, 2, 1, 1, fill=True)
    image = image.draw_rect(black, 3, 11, 6, 1, fill=True).draw_rect(black, 11, 2, 1, 9, fill=True)
    patch = analyse_nine_patch(image)
    assert (patch.art.width, patch.art.height) == (10, 10)
    assert patch.columns == (Segment(0, 4, F), Segment(4, 2, S), Segment(6, 4, F))
    assert patch.rows == (Segment(0, 1, F), Segment(1, 1, S), Segment(2, 8, F))
    assert patch.padding == (2, 1, 2, 0)  # (left, top, right, bottom) before/after the content guides


@pytest.mark.parametrize(
    "ink",
    [[0, 0, 0, 255], [0, 200, 0, 255]],
    ids=["black-outline-is-art", "coloured-border-is-art"],
)
def test_frame_without_guides_uses_thirds(ink: list[int]) -> None:
    patch = analyse_nine_patch(_solid(30, 21, ink).draw_rect([0, 0, 0, 0], 5, 5, 20, 11, fill=True))
    assert (patch.art.width, patch.art.height) == (30, 21)
    assert patch.columns == (Segment(0, 10, F), Segment(10, 10, S), Segment(20, 10, F))
    assert patch.rows == (Segment(0, 7, F), Segment(7, 7, S), Segment(14, 7, F))
    assert patch.padding == (0, 0, 0, 0)
