"""Encode the pipeline's frames to the planned output format, metadata stripped."""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from imgserver.plan.model import Output, Plan

WHITE = [255.0, 255.0, 255.0]
#: Strip EXIF, XMP, IPTC and ICC from every output (ICC was converted to sRGB first).
NO_METADATA = pyvips.enums.ForeignKeep.NONE
_MIN_QUALITY = 5
_PNG_FILTERS = {
    "none": pyvips.enums.ForeignPngFilter.NONE,
    "sub": pyvips.enums.ForeignPngFilter.SUB,
    "up": pyvips.enums.ForeignPngFilter.UP,
    "avg": pyvips.enums.ForeignPngFilter.AVG,
    "paeth": pyvips.enums.ForeignPngFilter.PAETH,
    "all": pyvips.enums.ForeignPngFilter.ALL,
}


@dataclass(frozen=True)
class EncodeSettings:
    jpeg_progressive: bool = False
    jpeg_optimize: bool = False
    png_compression: int = 6
    avif_effort: int = 2
    gif_effort: int = 1
    gif_dither: float = 0.5
    gif_bitdepth: int = 7
    png_filter: str = "paeth"


def to_8bit_srgb(image: pyvips.Image) -> pyvips.Image:
    """Bring 16-bit, CMYK, Lab… into 8-bit sRGB (or 8-bit grey), which every encoder takes."""
    interpretation = image.interpretation
    if interpretation in ("b-w", "srgb") and image.format == "uchar":
        return image
    if interpretation in ("b-w", "grey16"):
        return image.colourspace("b-w").cast("uchar")
    return image.colourspace("srgb").cast("uchar")


def _join(frames: list[pyvips.Image], plan: Plan) -> pyvips.Image:
    """Frames → one image; an animation becomes a strip with page-height, delays and loop."""
    frames = [to_8bit_srgb(f) for f in frames]
    if len(frames) == 1:
        return frames[0]
    bands = max(f.bands for f in frames)
    frames = [f if f.bands == bands else f.bandjoin_const([255.0] * (bands - f.bands)) for f in frames]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    delays = list(plan.source.delays[: len(frames)]) or [100] * len(frames)
    delays += [delays[-1]] * (len(frames) - len(delays))
    strip.set_type(pyvips.GValue.array_int_type, "delay", delays)
    strip.set_type(pyvips.GValue.gint_type, "loop", plan.source.loop)
    return strip


def _save(image: pyvips.Image, output: Output, quality: int | None, settings: EncodeSettings) -> bytes:
    fmt = output.format
    q = max(1, min(100, quality)) if quality is not None else None
    if fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=WHITE[: image.bands - 1])
        data = image.jpegsave_buffer(
            Q=q or 80,
            optimize_coding=settings.jpeg_optimize,
            interlace=settings.jpeg_progressive,
            keep=NO_METADATA,
        )
    elif fmt == "png":
        data = image.pngsave_buffer(
            compression=settings.png_compression, filter=_PNG_FILTERS[settings.png_filter], keep=NO_METADATA
        )
    elif fmt == "webp":
        data = image.webpsave_buffer(Q=q or 80, keep=NO_METADATA)
    elif fmt == "gif":
        # libvips: effort 1 quantises ~5x faster than the default 7, with no visible loss on
        # resized animations; half-strength dithering another ~15%. (Reusing the source's
        # palette, or a previous frame's with a larger interpalette_maxerror, was faster
        # still but left visible banding and misplaced colours on some frames.) Most of the
        # rest is the nearest-colour search per pixel, which a 127-colour palette halves.
        data = image.gifsave_buffer(
            effort=settings.gif_effort, dither=settings.gif_dither, bitdepth=settings.gif_bitdepth, keep=NO_METADATA
        )
    else:
        data = image.heifsave_buffer(Q=q or 50, compression="av1", effort=settings.avif_effort, keep=NO_METADATA)
    return bytes(data)


def _fit_bytes(image: pyvips.Image, output: Output, budget: int, settings: EncodeSettings) -> bytes:
    """max_bytes(n): the best quality whose encoding fits ``budget`` (binary search); the
    smallest encoding when none fits."""
    image = image.copy_memory()  # encoded several times
    best_q = output.quality or 80
    data = _save(image, output, best_q, settings)
    if len(data) <= budget:
        return data
    low, high, smallest = _MIN_QUALITY, best_q - 1, data
    fitting: bytes | None = None
    while low <= high:
        mid = (low + high) // 2
        candidate = _save(image, output, mid, settings)
        if len(candidate) <= budget:
            fitting, low = candidate, mid + 1
        else:
            smallest = candidate if len(candidate) < len(smallest) else smallest
            high = mid - 1
    return fitting if fitting is not None else smallest


def encode(frames: list[pyvips.Image], plan: Plan, settings: EncodeSettings) -> bytes:
    """The frames as ``plan.output`` bytes. Transparent images become JPEG on white."""
    image = _join(frames, plan)
    output = plan.output
    budget = next((int(c.args[0]) for c in reversed(plan.filters) if c.name == "max_bytes"), None)
    if budget and output.format in ("jpeg", "webp", "avif"):
        return _fit_bytes(image, output, budget, settings)
    return _save(image, output, output.quality, settings)
