"""Thumbor's shape filters on libvips (see registry.py for the contract).

blur, sharpen, convolution, rotate, round_corner, fill, background_color, upscale and
proportion. Sizes follow Thumbor 7.8's arithmetic exactly (fill's canvas is the plan's
request box, upscale and proportion truncate like Thumbor's Python); pixels follow
Thumbor's formulas (its C filters) closely but not bit for bit. Each filter keeps the
frame's band layout (alpha stays alpha), except those that paint colour: they work in
8-bit sRGB, as Thumbor does.
"""

from __future__ import annotations

import math

import pyvips

from imgserver.errors import FilterError
from imgserver.imaging.encode import to_8bit_srgb
from imgserver.imaging.filters.registry import FilterContext, pixel_filter
from imgserver.url.colors import RGBA, parse_color
from imgserver.url.filters import FilterCall, parse_matrix

#: Thumbor's blur.MAX_RADIUS, and the radius fill(blur) uses.
MAX_BLUR_RADIUS = 150
FILL_BLUR_RADIUS = 50
#: libvips: gaussblur's smallest accepted min_ampl; lower tails are invisible anyway.
_MIN_AMPL = 0.001
#: Thumbor's wavelet sharpen works on five levels of detail.
_SHARPEN_LEVELS = 5
_MIN_BOOST = 0.01
_LUMA = [0.299, 0.587, 0.114]
#: Fractional convolution kernels are scaled to whole numbers up to this size.
_KERNEL_UNIT = 1000.0


# --- helpers -----------------------------------------------------------------------


def _max_value(image: pyvips.Image) -> float:
    """The white point of the image's band format (8 or 16 bit)."""
    return 65535.0 if image.format == "ushort" else 255.0


def _colour_bands(image: pyvips.Image) -> int:
    return image.bands - 1 if image.hasalpha() else image.bands


def _split_alpha(image: pyvips.Image) -> tuple[pyvips.Image, pyvips.Image | None]:
    if not image.hasalpha():
        return image, None
    n = image.bands - 1
    return image.extract_band(0, n=n), image.extract_band(n)


def _restore(result: pyvips.Image, like: pyvips.Image) -> pyvips.Image:
    """``result`` rounded, clipped and cast back to ``like``'s format and interpretation."""
    if result.format != like.format:
        if like.format not in ("float", "double"):
            result = result.rint()
        result = result.cast(like.format)  # libvips: cast clips to the target range
    return result.copy(interpretation=like.interpretation)


def _rgb8(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB (3 bands, or 4 with alpha): what Thumbor's colour-painting filters see."""
    image = to_8bit_srgb(image)
    if image.interpretation == "b-w" or _colour_bands(image) == 1:
        image = image.colourspace("srgb")
    return image


def _solid(width: int, height: int, values: list[float]) -> pyvips.Image:
    """A width x height uchar sRGB image of one colour (3 or 4 values)."""
    return (pyvips.Image.black(width, height, bands=len(values)) + values).cast("uchar").copy(interpretation="srgb")


def _with_alpha(image: pyvips.Image) -> pyvips.Image:
    return image if image.hasalpha() else image.bandjoin_const([_max_value(image)])


def _color_arg(name: str, value: object) -> RGBA:
    """A colour argument (already validated by the URL parser) as (r, g, b, a)."""
    try:
        return parse_color(str(value))
    except ValueError:
        raise FilterError(f"filter {name}: not a colour: {value!r}") from None


def resize_exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Lanczos resize to exactly width x height, alpha premultiplied (as Pillow does)."""
    if (image.width, image.height) == (width, height):
        return image
    work = image.premultiply(max_alpha=_max_value(image)) if image.hasalpha() else image
    out = work.resize(width / image.width, vscale=height / image.height)
    if (out.width, out.height) != (width, height):  # float rounding in libvips: a pixel at most
        out = out.embed(0, 0, max(out.width, width), max(out.height, height), extend="copy")
        out = out.crop(0, 0, width, height)
    if image.hasalpha():
        out = out.unpremultiply(max_alpha=_max_value(image))
    return _restore(out, image)


# --- blur ----------------------------------------------------------------------------


def thumbor_blur(image: pyvips.Image, radius: int, sigma: float = 0) -> pyvips.Image:
    """Thumbor's blur: a Gaussian of ``sigma`` (``radius`` when 0) cut at ±radius, all
    bands (alpha too, premultiplied so transparent pixels do not darken the edges)."""
    radius = min(radius, MAX_BLUR_RADIUS)
    sigma = sigma or float(radius)
    # libvips: gaussblur's kernel stops where the Gaussian falls below min_ampl, which is
    # exactly at ±radius for this value (Thumbor's generate_1d_matrix).
    min_ampl = max(math.exp(-(radius * radius) / (2.0 * sigma * sigma)), _MIN_AMPL)
    if not image.hasalpha():
        return image.gaussblur(sigma, min_ampl=min_ampl)
    # Deliberate difference: Thumbor blurs RGBA without premultiplying (dark fringes).
    top = _max_value(image)
    work = image.premultiply(max_alpha=top).rint().cast(image.format)  # libvips: integer blur
    blurred = work.gaussblur(sigma, min_ampl=min_ampl).unpremultiply(max_alpha=top)
    return _restore(blurred, image)


@pixel_filter("blur")
def blur(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """blur(radius[, sigma]): Gaussian blur."""
    radius = int(call.args[0])
    sigma = float(call.args[1]) if len(call.args) > 1 else 0.0
    return thumbor_blur(image, radius, sigma)


# --- sharpen --------------------------------------------------------------------------


def _reflect_pad(image: pyvips.Image, pad: int, horizontal: bool) -> pyvips.Image:
    """Pad by ``pad`` pixels on both sides, mirrored without repeating the edge pixel
    (Thumbor's hat_transform); a plain mirror when the image is too small for that."""
    w, h = image.width, image.height
    n = w if horizontal else h
    if pad >= n:
        if horizontal:
            return image.embed(pad, 0, w + 2 * pad, h, extend="mirror")
        return image.embed(0, pad, w, h + 2 * pad, extend="mirror")
    if horizontal:
        left = image.crop(1, 0, pad, h).fliphor()
        right = image.crop(n - 1 - pad, 0, pad, h).fliphor()
        return left.join(image, "horizontal").join(right, "horizontal")
    top = image.crop(0, 1, w, pad).flipver()
    bottom = image.crop(0, n - 1 - pad, w, pad).flipver()
    return top.join(image, "vertical").join(bottom, "vertical")


def _hat(image: pyvips.Image, scale: int) -> pyvips.Image:
    """One à-trous smoothing level: (x[-s] + 2 x + x[+s]) / 4 along rows, then columns."""
    w, h = image.width, image.height
    p = _reflect_pad(image, scale, horizontal=True).copy_memory()
    rows = ((p.crop(scale, 0, w, h) * 2 + p.crop(0, 0, w, h) + p.crop(2 * scale, 0, w, h)) * 0.25).copy_memory()
    p = _reflect_pad(rows, scale, horizontal=False).copy_memory()
    return ((p.crop(0, scale, w, h) * 2 + p.crop(0, 0, w, h) + p.crop(0, 2 * scale, w, h)) * 0.25).copy_memory()


def wavelet_sharpen(image: pyvips.Image, amount: float, radius: float) -> pyvips.Image:
    """Thumbor's wavelet sharpen (after Marco Rossini's GIMP plug-in) on a float image:
    five detail levels, level ``k`` boosted by ``gain = amount * exp(-(k - radius)² / 1.5) + 1``.

    Written as ``image + Σ (gain_k - 1) · detail_k``, which is Thumbor's sum of boosted
    details plus the residue; levels whose boost is under 1% are left out (invisible)."""
    boosts = [amount * math.exp(-((level - radius) ** 2) / 1.5) for level in range(_SHARPEN_LEVELS)]
    levels = [level for level, boost in enumerate(boosts) if abs(boost) >= _MIN_BOOST]
    base = image.cast("float").copy_memory()
    result = base
    smooth = base
    for level in range(max(levels, default=-1) + 1):
        finer, smooth = smooth, _hat(smooth, 1 << level)
        if level in levels:
            result = result + (finer - smooth) * boosts[level]
    return result


@pixel_filter("sharpen")
def sharpen(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """sharpen(amount, radius, luminance_only): wavelet sharpening of the colour bands (or
    of the luma only, chroma kept); alpha untouched."""
    amount, radius, luminance_only = float(call.args[0]), float(call.args[1]), bool(call.args[2])
    if amount == 0:
        return image  # every level's gain is 1: the identity
    image = image.copy_memory()  # libvips: read several times (luma, colour, alpha)
    colour, alpha = _split_alpha(image)
    if luminance_only and colour.bands == 3:
        luma = colour.cast("float").recomb(pyvips.Image.new_from_array([_LUMA]))
        sharp = colour.cast("float") + (wavelet_sharpen(luma, amount, radius) - luma)
    else:
        sharp = wavelet_sharpen(colour, amount, radius)
    sharp = _restore(sharp.copy(interpretation=colour.interpretation), colour)
    return sharp if alpha is None else sharp.bandjoin(alpha).copy(interpretation=image.interpretation)


# --- convolution ----------------------------------------------------------------------


@pixel_filter("convolution")
def convolution(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """convolution(matrix, columns[, should_normalize=true]): correlate the colour bands with
    the matrix (divided by its sum when normalising and the sum is not 0); edges repeat."""
    rows = parse_matrix(str(call.args[0]), int(call.args[1]))
    normalize = bool(call.args[2]) if len(call.args) > 2 else True
    total = sum(sum(row) for row in rows)
    divisor = total if normalize and total != 0 else 1.0
    image = image.copy_memory()  # libvips: colour and alpha are read apart, with margins
    colour, alpha = _split_alpha(image)
    peak = max(abs(v) for row in rows for v in row)
    if colour.format == "uchar" and peak > 0:
        # libvips: integer convolution is ~100x faster than float; whole numbers scaled so
        # the largest is 1000 keep every result within a level of the float one.
        factor = 1.0 if all(v.is_integer() for row in rows for v in row) else _KERNEL_UNIT / peak
        ints = [[round(v * factor) for v in row] for row in rows]
        out = colour.conv(pyvips.Image.new_from_array(ints, scale=divisor * factor), precision="integer")
    else:
        out = colour.conv(pyvips.Image.new_from_array(rows, scale=divisor), precision="float")
    # Deliberate difference: Thumbor convolves alpha too (an edge kernel erases it); we keep it.
    out = _restore(out, colour)
    return out if alpha is None else out.bandjoin(alpha).copy(interpretation=image.interpretation)


# --- rotate ---------------------------------------------------------------------------

#: Thumbor's counter-clockwise angle (PIL's transpose) → libvips' clockwise rotation.
_ROTATIONS = {90: "d270", 180: "d180", 270: "d90"}


@pixel_filter("rotate")
def rotate(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """rotate(angle): counter-clockwise by a multiple of 90°; other angles are ignored
    (Thumbor compat)."""
    angle = int(call.args[0])
    if angle % 90:
        return image  # Thumbor compat: only right angles act
    angle %= 360
    if angle == 0:
        return image
    # libvips: a rotation reads the source out of order, which a sequential load cannot do.
    return image.copy_memory().rot(_ROTATIONS[angle])


# --- round_corner -----------------------------------------------------------------------


def corner_mask(a: int, b: int) -> pyvips.Image:
    """The top-left a x b corner tile of a rounded rectangle: 255 inside the ellipse of
    semi-axes a, b centred on the tile's bottom-right corner, 0 outside, anti-aliased."""
    xy = pyvips.Image.xyz(a, b).cast("float") + 0.5
    dx, dy = xy[0] - a, xy[1] - b
    f = dx * dx / (a * a) + dy * dy / (b * b)
    grad = ((dx * dx / a**4 + dy * dy / b**4) ** 0.5) * 2
    # Coverage ≈ ½ + signed distance to the ellipse (first-order: (1 - F) / |∇F|).
    cover = ((1 - f) / grad + 0.5) * 255
    return cover.cast("uchar").copy_memory()  # libvips: cast clips to 0..255


def rounded_mask(width: int, height: int, a: int, b: int) -> pyvips.Image:
    """A width x height uchar mask, 255 except at the four rounded corners."""
    tile = corner_mask(a, b)
    mask = (pyvips.Image.black(width, height) + 255).cast("uchar")
    mask = mask.insert(tile, 0, 0).insert(tile.fliphor(), width - a, 0)
    return mask.insert(tile.flipver(), 0, height - b).insert(tile.rot("d180"), width - a, height - b)


@pixel_filter("round_corner")
def round_corner(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """round_corner(a|b, r, g, b[, transparent]): round the corners with radius a (b
    vertically, a when absent), painting them r,g,b or making them transparent."""
    radii = str(call.args[0]).split("|")
    red, green, blue = (int(v) for v in call.args[1:4])
    transparent = bool(call.args[4]) if len(call.args) > 4 else False
    image = _rgb8(image)
    # Thumbor compat: each radius is capped at half the side.
    a = min(int(radii[0]), image.width // 2)
    b = min(int(radii[1]) if len(radii) > 1 else int(radii[0]), image.height // 2)
    if a <= 0 or b <= 0:
        return image
    mask = rounded_mask(image.width, image.height, a, b)
    colour, alpha = _split_alpha(image)
    if transparent:
        new_alpha = mask if alpha is None else (alpha.cast("float") * mask / 255.0).rint().cast("uchar")
        return colour.bandjoin(new_alpha).copy(interpretation="srgb")
    weight = mask.cast("float") / 255.0
    painted = colour * weight + (1.0 - weight) * [float(red), float(green), float(blue)]
    painted = _restore(painted, colour)
    return painted if alpha is None else painted.bandjoin(alpha).copy(interpretation="srgb")


# --- fill / background_color -------------------------------------------------------------


def mean_colour(image: pyvips.Image) -> RGBA:
    """Thumbor's fill(auto) colour: the per-channel mean of R, G and B over every pixel,
    floored (transparent pixels count too, as in Thumbor's _fill.c)."""
    stats = image.stats()  # row 0 is all bands; row 1+i is band i; column 4 is the mean
    r, g, b = (int(stats(4, 1 + i)[0]) for i in range(3))
    return (r, g, b, 255)


def _place(canvas: pyvips.Image, image: pyvips.Image, x: int, y: int, merge: bool) -> pyvips.Image:
    """Thumbor's engine.paste: ``merge`` composites over the canvas, else the pixels
    (alpha included) replace it. Both are 8-bit sRGB; the result has alpha when needed."""
    if merge:
        out = _with_alpha(canvas).composite2(_with_alpha(image), "over", x=x, y=y)
        if not canvas.hasalpha():
            out = out.extract_band(0, n=3)  # over an opaque canvas, everything is opaque
        return out.copy(interpretation="srgb")
    if image.hasalpha() or canvas.hasalpha():
        canvas, image = _with_alpha(canvas), _with_alpha(image)
    return canvas.insert(image, x, y).copy(interpretation="srgb")


@pixel_filter("fill")
def fill(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """fill(colour[, fill_transparent]): centre the image on a canvas the size of Thumbor's
    request box, painted with a colour, ``transparent``, ``auto`` (the image's mean colour)
    or ``blur`` (a blurred copy of the image stretched to the box). ``fill_transparent``
    also composites the image over the colour, so its transparent pixels take it."""
    colour = str(call.args[0])
    merge = bool(call.args[1]) if len(call.args) > 1 else False
    image = _rgb8(image)
    box_w, box_h = ctx.plan.box
    box_w, box_h = box_w if box_w > 0 else image.width, box_h if box_h > 0 else image.height
    x, y = (box_w - image.width) // 2, (box_h - image.height) // 2
    if colour == "blur":
        image = image.copy_memory()  # read twice: the background and the paste
        canvas = resize_exact(thumbor_blur(image, FILL_BLUR_RADIUS), box_w, box_h)
    else:
        if colour == "auto":
            image = image.copy_memory()  # read twice: the statistic and the paste
            rgba = mean_colour(image)
        else:
            rgba = _color_arg("fill", colour)
        values = [float(v) for v in rgba] if rgba[3] < 255 else [float(v) for v in rgba[:3]]
        canvas = _solid(box_w, box_h, values)
    return _place(canvas, image, x, y, merge)


@pixel_filter("background_color")
def background_color(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """background_color(colour): composite the image over a solid colour (transparency goes
    unless the colour itself is transparent). Opaque images are unchanged."""
    if not image.hasalpha():
        return image
    r, g, b, a = _color_arg("background_color", call.args[0])
    image = _rgb8(image)
    if a == 255:
        return _restore(image.flatten(background=[float(r), float(g), float(b)]), image.extract_band(0, n=3))
    return _place(_solid(image.width, image.height, [float(r), float(g), float(b), float(a)]), image, 0, 0, True)


# --- upscale / proportion ---------------------------------------------------------------


def upscale_size(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int] | None:
    """Thumbor's upscale.py: the size that fits the box when the image is smaller than
    it in both dimensions (int truncation), else None."""
    if width >= box_w or height >= box_h:
        return None
    if width / box_w >= height / box_h:
        return box_w, int(height * box_w / width)
    return int(width * box_h / height), box_h


def proportion_size(width: int, height: int, ratio: float) -> tuple[int, int] | None:
    """Thumbor's proportion.py: the size scaled by ratio in (0, 1], else None (also when a
    side would fall below one pixel)."""
    if ratio <= 0 or ratio > 1.0:
        return None
    new_w, new_h = width * ratio, height * ratio
    if new_w < 1 or new_h < 1:
        return None
    return int(new_w), int(new_h)


@pixel_filter("upscale")
def upscale(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """upscale(): with fit-in, grow the image to fit the request box."""
    size = upscale_size(image.width, image.height, *ctx.plan.box)
    return image if size is None else resize_exact(image, *size)


@pixel_filter("proportion")
def proportion(image: pyvips.Image, call: FilterCall, ctx: FilterContext) -> pyvips.Image:
    """proportion(ratio): scale the image by ratio (0 < ratio <= 1; otherwise ignored)."""
    size = proportion_size(image.width, image.height, float(call.args[0]))
    return image if size is None else resize_exact(image, *size)
