"""Encode a pipeline's result to the planned output format, metadata stripped."""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from imgserver.plan.model import Output

WHITE = [255.0, 255.0, 255.0]
#: Strip EXIF, XMP, IPTC and ICC from every output (ICC was converted to sRGB first).
NO_METADATA = pyvips.enums.ForeignKeep.NONE


@dataclass(frozen=True)
class EncodeSettings:
    jpeg_progressive: bool = False
    png_compression: int = 6
    avif_effort: int = 2


def to_8bit_srgb(image: pyvips.Image) -> pyvips.Image:
    """Bring 16-bit, CMYK, Lab… into 8-bit sRGB (or 8-bit grey), which every encoder takes."""
    interpretation = image.interpretation
    if interpretation in ("b-w", "srgb") and image.format == "uchar":
        return image
    if interpretation in ("b-w", "grey16"):
        return image.colourspace("b-w").cast("uchar")
    return image.colourspace("srgb").cast("uchar")


def encode(image: pyvips.Image, output: Output, settings: EncodeSettings) -> bytes:
    """``image`` as ``output.format`` bytes. Transparent images become JPEG on white."""
    image = to_8bit_srgb(image)
    quality = max(1, output.quality) if output.quality is not None else None
    fmt = output.format
    if fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=WHITE[: image.bands - 1])
        data = image.jpegsave_buffer(
            Q=quality or 80, optimize_coding=True, interlace=settings.jpeg_progressive, keep=NO_METADATA
        )
    elif fmt == "png":
        data = image.pngsave_buffer(compression=settings.png_compression, keep=NO_METADATA)
    elif fmt == "webp":
        data = image.webpsave_buffer(Q=quality or 80, keep=NO_METADATA)
    elif fmt == "gif":
        data = image.gifsave_buffer(keep=NO_METADATA)
    else:
        data = image.heifsave_buffer(
            Q=quality or 50, compression="av1", effort=settings.avif_effort, keep=NO_METADATA
        )
    return bytes(data)
