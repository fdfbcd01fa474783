"""Thumbor's marks filters on libvips: ``watermark`` and ``frame`` (see registry.py).

Both draw another image (a *mark*, named by a loader key) onto the output. The handler
preloads every mark the URL names (imgserver/marks.py) and passes the encoded bytes as
``ctx.marks``; here they are decoded once, checked (format, pixel count) and kept decoded in
a small, bounded, thread-safe cache keyed by (key, sha1 of the bytes), so a mark costs one
decode per process, not one per request or per animation frame.

- ``watermark(image, x, y, alpha[, w_ratio, h_ratio])`` follows thumbor/filters/watermark.py:
  its alpha arithmetic (mark alpha minus ``255 * alpha // 100``), ratio box, position
  arithmetic (``Np`` = N % of the image side, negative = from the right/bottom, ``center``,
  ``repeat`` with Thumbor's spacing) and an "over" composite.
- ``frame(image)`` draws a nine-patch over the image, as thumbor/filters/frame.py and
  thumbor/ext/filters/_nine_patch.c mean to: the image is padded (white) by the frame's
  content padding (its bottom/right guide lines), then the frame, its stretchable cells
  (top/left guide lines) scaled to the padded size, is composited over it.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar, cast

import pyvips

from imgserver.errors import BadRequest, FilterError, Unprocessable
from imgserver.imaging.filters.registry import FilterContext, pixel_filter
from imgserver.url.filters import FilterCall

#: A decoded mark above this many pixels is refused (a mark is a logo or a frame).
MAX_MARK_PIXELS = 4_000_000
#: Decoded marks kept per process: entries and total decoded bytes.
CACHE_ENTRIES = 32
CACHE_BYTES = 64 * 1024 * 1024
#: A nine-patch with more cells than this per axis is refused (each cell is an operation).
MAX_SEGMENTS = 32
#: w_ratio / h_ratio above this percentage are refused (the mark would be huge).
MAX_RATIO = 1000

_LOADERS = frozenset(
    {"jpegload_buffer", "pngload_buffer", "webpload_buffer", "gifload_buffer", "heifload_buffer", "tiffload_buffer"}
)
_WHITE = 255.0
_RATIO_POSITION = re.compile(r"(-?)(\d+)p")
_BILINEAR = pyvips.Interpolate.new("bilinear")

T = TypeVar("T")


# --- decoding and the decoded-mark cache --------------------------------------------------------


def _srgb8(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB (3 bands, or 4 with alpha) from grey, 16-bit, CMYK… images."""
    if image.bands < 3 and image.interpretation not in ("b-w", "grey16"):
        image = image.copy(interpretation="b-w")
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")  # libvips: cast clips
    if image.bands > 4:
        image = image.extract_band(0, n=4)
    return image.copy(interpretation="srgb")


def _srgba8(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB + alpha (always 4 bands)."""
    image = _srgb8(image)
    return image if image.bands == 4 else image.bandjoin_const([_WHITE])


def _decode(data: bytes, what: str) -> pyvips.Image:
    """The mark's first frame as an in-memory 8-bit sRGBA image, display-oriented.

    Raises BadRequest (not an image we load, too many pixels) or Unprocessable (corrupt)."""
    try:
        image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
    except pyvips.Error:
        raise BadRequest(f"{what} image is not a supported image") from None
    if str(image.get("vips-loader")) not in _LOADERS:
        raise BadRequest(f"{what} image is not a supported image")
    if image.width * image.height > MAX_MARK_PIXELS:
        raise BadRequest(f"{what} image too large ({image.width}x{image.height}, max {MAX_MARK_PIXELS} pixels)")
    try:
        image = image.copy_memory()
        # Deliberate difference: a mark's EXIF orientation is applied, as for sources.
        if image.get_typeof("orientation") != 0:
            image = image.autorot()
        if image.get_typeof("icc-profile-data") != 0 and image.interpretation in ("srgb", "rgb16", "cmyk"):
            image = image.icc_transform("srgb", embedded=True, intent="perceptual")
        return _srgba8(image).copy_memory()
    except pyvips.Error:
        raise Unprocessable(f"{what} image cannot be decoded") from None


class _DecodedCache:
    """LRU of decoded marks by (kind, key, sha1), bounded by entries and bytes; thread-safe
    (renders run in a thread pool; in-memory libvips images are safe to share)."""

    def __init__(self, entries: int, max_bytes: int) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str, str], tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        #: Decodes done (a test hook).
        self.decodes = 0

    def get(self, kind: str, key: str, data: bytes, build: Callable[[bytes], tuple[T, int]]) -> T:
        ident = (kind, key, hashlib.sha1(data, usedforsecurity=False).hexdigest())
        with self._lock:
            hit = self._items.get(ident)
            if hit is not None:
                self._items.move_to_end(ident)
                return cast(T, hit[0])
        value, size = build(data)  # outside the lock: two threads may decode the same mark once each
        with self._lock:
            self.decodes += 1
            if ident not in self._items and size <= self.max_bytes:
                self._items[ident] = (value, size)
                self._bytes += size
                while len(self._items) > self.entries or self._bytes > self.max_bytes:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._bytes -= dropped
        return value


DECODED = _DecodedCache(CACHE_ENTRIES, CACHE_BYTES)


def _mark_bytes(ctx: FilterContext, key: str) -> bytes:
    data = ctx.marks.get(key)
    if data is None:  # the handler preloads every mark; a missing one is the URL's fault
        raise BadRequest(f"watermark/frame image not found: {key[:100]}")
    return data


def _exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """``image`` cut or edge-extended to exactly width x height (a resize rounding guard)."""
    if (image.width, image.height) == (width, height):
        return image
    image = image.crop(0, 0, min(width, image.width), min(height, image.height))
    if (image.width, image.height) != (width, height):
        image = image.embed(0, 0, width, height, extend="copy")
    return image


def _scale(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Resize a premultiplied image to exactly width x height."""
    if (image.width, image.height) == (width, height):
        return image
    scaled = image.resize(width / image.width, vscale=height / image.height)
    return _exact(scaled, width, height)


def _stretch(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Scale each axis on its own to exactly width x height: bilinear up (pixel centres
    aligned, edges repeated), linear reduce down. An axis that keeps its size is untouched
    (``resize`` would still filter it)."""
    if image.width != width:
        if width > image.width:
            image = image.affine(
                [width / image.width, 0, 0, 1],
                interpolate=_BILINEAR,
                extend="copy",
                oarea=[0, 0, width, image.height],
                idx=0.5,
                odx=-0.5,
            )
        else:
            image = image.reduceh(image.width / width, kernel="linear")
    if image.height != height:
        if height > image.height:
            image = image.affine(
                [1, 0, 0, height / image.height],
                interpolate=_BILINEAR,
                extend="copy",
                oarea=[0, 0, image.width, height],
                idy=0.5,
                ody=-0.5,
            )
        else:
            image = image.reducev(image.height / height, kernel="linear")
    return _exact(image, width, height)


def _resize_rgba(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Resize an 8-bit sRGBA image, interpolating premultiplied (no dark fringes)."""
    if (image.width, image.height) == (width, height):
        return image
    scaled = _scale(image.premultiply(), width, height).unpremultiply()
    return scaled.cast("uchar").copy(interpretation="srgb")


def _composite_base(image: pyvips.Image) -> tuple[pyvips.Image, bool]:
    """(8-bit sRGB image, whether it had alpha) for compositing a colour mark over it."""
    return _srgb8(image), image.hasalpha()


def _finish(result: pyvips.Image, had_alpha: bool) -> pyvips.Image:
    """Back to 8-bit; an opaque input stays opaque (3 bands): "over" an opaque pixel is opaque."""
    if result.format != "uchar":
        result = result.cast("uchar")
    if not had_alpha and result.bands == 4:
        result = result.extract_band(0, n=3)
    return result.copy(interpretation="srgb")


# --- watermark ----------------------------------------------------------------------------------


def _ratio(value: object, index: int) -> float | None:
    """A w_ratio/h_ratio argument as a fraction, None for ``none`` or 0 (Thumbor: falsy)."""
    text = str(value)
    if text == "none":
        return None
    percent = int(text)
    # Deliberate difference: a negative ratio (Thumbor: 500) or one over MAX_RATIO is a 400.
    if not 0 <= percent <= MAX_RATIO:
        raise FilterError(f"filter watermark: argument {index} must be in 0..{MAX_RATIO} or none")
    return percent / 100.0 if percent else None


def watermark_size(
    image_size: tuple[int, int], mark_size: tuple[int, int], w_ratio: float | None, h_ratio: float | None
) -> tuple[int, int]:
    """Thumbor's calc_watermark_size: the mark fitted (up or down, aspect kept) into the box
    of ``w_ratio`` x ``h_ratio`` of the image; one ratio alone bounds that side only."""
    mark_w, mark_h = mark_size
    max_w = image_size[0] * w_ratio if w_ratio else None
    max_h = image_size[1] * h_ratio if h_ratio else None
    if max_w is None and max_h is None:
        return mark_size
    if max_w is None:
        assert max_h is not None
        max_w = mark_w * max_h / mark_h
    if max_h is None:
        max_h = mark_h * max_w / mark_w
    if mark_w / max_w >= mark_h / max_h:
        width, height = round(max_w), round(mark_h * max_w / mark_w)
    else:
        width, height = round(mark_w * max_h / mark_h), round(max_h)
    return max(1, width), max(1, height)


def _ratio_position(position: str, length: int) -> str:
    """Thumbor's detect_and_get_ratio_position: ``Np`` → N % of the image side (not of the
    free space), sign kept."""
    match = _RATIO_POSITION.fullmatch(position)
    if not match:
        return position
    sign, percent = match.groups()
    return f"{sign}{round(length * float(percent) / 100 + 1e-5)}"


def _place(position: str, length: int, size: int) -> int:
    """An int / negative / center position → the mark's offset (Thumbor's arithmetic)."""
    if position == "center":
        return int((length - size) / 2)  # Thumbor compat: int() truncates towards zero
    offset = int(position)
    return length - size + offset if position.startswith("-") else offset  # "-0" is right-aligned


def _repeat(length: int, size: int) -> tuple[int, int]:
    """Thumbor's (count, free pixels) for ``repeat`` on one axis."""
    if length / size < 2:
        return math.ceil(length / size), 10
    return divmod(length, size)


def watermark_positions(
    image_size: tuple[int, int], mark_size: tuple[int, int], x: str, y: str
) -> tuple[list[int], list[int]]:
    """The mark's left and top offsets (every pair is one paste), as Thumbor computes them."""
    (width, height), (mark_w, mark_h) = image_size, mark_size
    x, y = _ratio_position(x, width), _ratio_position(y, height)
    rx = _repeat(width, mark_w) if x == "repeat" else None
    ry = _repeat(height, mark_h) if y == "repeat" else None
    if rx is not None and ry is not None and rx[0] * ry[0] > 100:
        # Thumbor compat: a dense mosaic is thinned to at most 6 x 6, spread over the image.
        tx, ty = min(6, rx[0]), min(6, ry[0])
        rx, ry = (tx, width - tx * mark_w), (ty, height - ty * mark_h)

    def axis(repeat: tuple[int, int] | None, position: str, length: int, size: int) -> list[int]:
        if repeat is None:
            return [_place(position, length, size)]
        count, free = repeat
        space = free // (max(count, 2) - 1)
        return [i * (space + size) for i in range(count)]

    return axis(rx, x, width, mark_w), axis(ry, y, height, mark_h)


def _spacing(offsets: Sequence[int], size: int) -> int | None:
    """The gap between evenly spaced offsets starting at 0, or None when they are not."""
    if len(offsets) < 2:
        return 0
    step = offsets[1] - offsets[0]
    if step < size or any(b - a != step for a, b in pairwise(offsets)):
        return None
    return step - size


def _paste(base: pyvips.Image, mark: pyvips.Image, xs: list[int], ys: list[int]) -> pyvips.Image:
    """Composite ``mark`` over ``base`` at every (x, y); a regular mosaic is one tiled overlay."""
    if len(xs) == 1 and len(ys) == 1:
        return base.composite2(mark, "over", x=xs[0], y=ys[0])
    gap_x, gap_y = _spacing(xs, mark.width), _spacing(ys, mark.height)
    if gap_x is not None and gap_y is not None:
        # libvips: one replicated tile instead of hundreds of composites.
        cell = mark.embed(0, 0, mark.width + gap_x, mark.height + gap_y, extend="background", background=[0] * 4)
        tiles = cell.replicate(len(xs), len(ys))
        return base.composite2(tiles, "over", x=xs[0], y=ys[0])
    points = [(x, y) for x in xs for y in ys]  # overlapping marks: only a few (count <= 2)
    return base.composite(
        [mark] * len(points), ["over"] * len(points), x=[p[0] for p in points], y=[p[1] for p in points]
    )


def _fade(mark: pyvips.Image, alpha: int) -> pyvips.Image:
    """Thumbor's _alpha.c: every alpha value minus ``255 * alpha // 100``, clipped at 0
    (so 0 = the mark as is, 100 = invisible)."""
    delta = 255 * alpha // 100
    if delta == 0:
        return mark
    faded = mark.extract_band(3).linear([1.0], [-float(delta)]).cast("uchar")  # libvips: cast clips
    return mark.extract_band(0, n=3).bandjoin(faded).copy(interpretation="srgb")


@pixel_filter("watermark")
def watermark(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """Paste the mark at (x, y) with Thumbor's transparency, ratio box and repeat."""
    key, x, y, alpha = str(call.args[0]), str(call.args[1]), str(call.args[2]), int(call.args[3])
    w_ratio = _ratio(call.args[4], 5) if len(call.args) > 4 else None
    h_ratio = _ratio(call.args[5], 6) if len(call.args) > 5 else None

    def decoded() -> pyvips.Image:  # hashes the mark's bytes: once per render, not per frame
        return DECODED.get("watermark", key, _mark_bytes(ctx, key), _decode_watermark)

    if alpha >= 100:
        decoded()  # a missing or undecodable mark is still the URL's error
        return image  # Thumbor compat: fully transparent, nothing shows
    size = (image.width, image.height)

    def build() -> pyvips.Image:
        mark = _fade(decoded(), alpha)
        if w_ratio or h_ratio:
            mark_w, mark_h = watermark_size(size, (mark.width, mark.height), w_ratio, h_ratio)
            mark = _resize_rgba(mark, mark_w, mark_h)
        return mark

    mark = ctx.prepare(("watermark", key, alpha, w_ratio, h_ratio, size), build, size[0] * size[1])
    xs, ys = watermark_positions(size, (mark.width, mark.height), x, y)
    base, had_alpha = _composite_base(image)
    return _finish(_paste(base, mark, xs, ys), had_alpha)


def _decode_watermark(data: bytes) -> tuple[pyvips.Image, int]:
    mark = _decode(data, "watermark")
    return mark, mark.width * mark.height * 4


# --- frame (nine-patch) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of columns (or rows) of the frame's art: fixed or stretchable."""

    start: int
    length: int
    stretchy: bool


@dataclass(frozen=True)
class NinePatch:
    """A decoded frame: its art (8-bit sRGBA, guides removed), the cells along each axis and
    the content padding (left, top, right, bottom)."""

    art: pyvips.Image
    columns: tuple[Segment, ...]
    rows: tuple[Segment, ...]
    padding: tuple[int, int, int, int]


def _runs(flags: Sequence[bool]) -> tuple[Segment, ...]:
    """Consecutive equal flags → segments (0-based within the art)."""
    segments: list[Segment] = []
    start = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            segments.append(Segment(start, i - start, flags[start]))
            start = i
    return tuple(segments)


def _thirds(length: int) -> tuple[Segment, ...]:
    """No guides: the outer thirds are fixed borders, the middle stretches."""
    edge = length // 3
    if edge == 0:
        return (Segment(0, length, True),)
    return (Segment(0, edge, False), Segment(edge, length - 2 * edge, True), Segment(length - edge, edge, False))


def _padding(line: Sequence[bool]) -> tuple[int, int]:
    """Thumbor's get_padding on one guide line (corners excluded): the pixels before the
    first and after the last black one; (0, 0) without any."""
    marked = [i for i, black in enumerate(line) if black]
    if not marked:
        return 0, 0
    return marked[0], len(line) - 1 - marked[-1]


def analyse_nine_patch(frame: pyvips.Image) -> NinePatch:
    """Read the guides of an 8-bit sRGBA frame image.

    Guides (Android nine-patch, as Thumbor reads them): the 1-px border, where opaque black
    on the top row / left column marks stretchable columns / rows and opaque black on the
    bottom row / right column marks the content area. The border counts as guides only when
    it holds nothing but opaque black, transparent or white pixels, some black on the top row
    or left column, and is not black all round (a plain black outline is art)."""
    width, height = frame.width, frame.height
    if width >= 3 and height >= 3:
        rgb, alpha = frame.extract_band(0, n=3), frame.extract_band(3)
        opaque = alpha.relational_const("equal", [255.0])
        black8 = rgb.bandor().relational_const("equal", [0.0]).boolean(opaque, "and")
        white = rgb.bandand().relational_const("equal", [255.0]).boolean(opaque, "and")
        clear = alpha.relational_const("equal", [0.0])
        neutral = black8.boolean(white, "or").boolean(clear, "or")

        def line(mask: pyvips.Image, left: int, top: int, w: int, h: int) -> list[bool]:
            return [b != 0 for b in bytes(mask.crop(left, top, w, h).write_to_memory())]

        top, left = line(black8, 1, 0, width - 2, 1), line(black8, 0, 1, 1, height - 2)
        bottom, right = line(black8, 1, height - 1, width - 2, 1), line(black8, width - 1, 1, 1, height - 2)
        ring = [
            line(neutral, 1, 0, width - 2, 1),
            line(neutral, 1, height - 1, width - 2, 1),
            line(neutral, 0, 1, 1, height - 2),
            line(neutral, width - 1, 1, 1, height - 2),
        ]
        guided = (any(top) or any(left)) and all(all(r) for r in ring)
        if guided and not all(all(g) for g in (top, left, bottom, right)):
            columns = _runs(top) if any(top) else (Segment(0, width - 2, True),)
            rows = _runs(left) if any(left) else (Segment(0, height - 2, True),)
            pad_left, pad_right = _padding(bottom)
            pad_top, pad_bottom = _padding(right)
            art = frame.crop(1, 1, width - 2, height - 2)
            return NinePatch(art.copy_memory(), columns, rows, (pad_left, pad_top, pad_right, pad_bottom))
    # Deliberate difference: without guides Thumbor pastes the frame unscaled at the top left;
    # here its outer thirds are fixed borders and the middle stretches.
    return NinePatch(frame, _thirds(width), _thirds(height), (0, 0, 0, 0))


def _split_evenly(lengths: Sequence[int], total: int) -> list[int]:
    """``total`` shared in proportion to ``lengths``, summing exactly to it (cumulative rounding)."""
    whole = sum(lengths)
    if whole <= 0:
        return [0] * len(lengths)
    sizes, done, acc = [], 0, 0
    for length in lengths:
        acc += length
        edge = round(acc * total / whole)
        sizes.append(edge - done)
        done = edge
    return sizes


def segment_sizes(segments: Sequence[Segment], target: int) -> list[int]:
    """Target size of each segment: fixed ones keep their size, stretchable ones share the
    rest in proportion (Thumbor's _nine_patch.c)."""
    fixed = sum(s.length for s in segments if not s.stretchy)
    stretchy = [s.length for s in segments if s.stretchy]
    if fixed > target or not stretchy:
        # Deliberate difference: Thumbor skips cells that do not fit; here the fixed cells
        # shrink in proportion (and the stretchable ones vanish).
        return _split_evenly([0 if s.stretchy else s.length for s in segments], target)
    shares = iter(_split_evenly(stretchy, target - fixed))
    return [next(shares) if s.stretchy else s.length for s in segments]


def draw_nine_patch(patch: NinePatch, width: int, height: int) -> pyvips.Image:
    """The frame stretched to width x height: 8-bit sRGBA."""
    widths, heights = segment_sizes(patch.columns, width), segment_sizes(patch.rows, height)
    art = patch.art.premultiply()  # libvips: interpolate premultiplied, no dark fringes
    rows: list[pyvips.Image] = []
    for row, target_h in zip(patch.rows, heights, strict=True):
        if target_h <= 0:
            continue
        cells = [
            _stretch(art.crop(col.start, row.start, col.length, row.length), target_w, target_h)
            for col, target_w in zip(patch.columns, widths, strict=True)
            if target_w > 0
        ]
        strip = cells[0]
        for cell in cells[1:]:
            strip = strip.join(cell, "horizontal")
        rows.append(strip)
    drawn = rows[0]
    for strip in rows[1:]:
        drawn = drawn.join(strip, "vertical")
    drawn = _exact(drawn, width, height).unpremultiply()
    return drawn.cast("uchar").copy(interpretation="srgb")


def _decode_frame(data: bytes) -> tuple[NinePatch, int]:
    patch = analyse_nine_patch(_decode(data, "frame"))
    if len(patch.columns) > MAX_SEGMENTS or len(patch.rows) > MAX_SEGMENTS:
        raise BadRequest(f"frame image has too many stretch regions (max {MAX_SEGMENTS} per side)")
    return patch, patch.art.width * patch.art.height * 4


@pixel_filter("frame")
def frame(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """Pad the image by the frame's content padding (white) and draw the frame over it.

    The output is the input size plus that padding (Thumbor's handle_padding): a frame
    without content guides keeps the size."""
    # Deliberate difference: Thumbor 7.8's _nine_patch.c misreads its mode string on Python 3
    # (a bytes object cast to char*) and draws garbage; this draws the nine-patch it means to,
    # and composites with alpha (its paste_rectangle leaves the image's alpha unchanged).
    key = str(call.args[0])
    patch = DECODED.get("frame", key, _mark_bytes(ctx, key), _decode_frame)
    left, top, right, bottom = patch.padding
    base, had_alpha = _composite_base(image)
    width, height = base.width + left + right, base.height + top + bottom
    if (width, height) != (base.width, base.height):
        white = [_WHITE] * base.bands
        base = base.embed(left, top, width, height, extend="background", background=white)
    drawn = ctx.prepare(("frame", key, width, height), lambda: draw_nine_patch(patch, width, height), width * height)
    return _finish(base.composite2(drawn, "over"), had_alpha)
