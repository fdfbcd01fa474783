"""Header facts about a source, read without decoding pixels, and the source limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pyvips

from imgserver.errors import Unprocessable, UnsupportedSource
from imgserver.plan.model import SourceFacts
from imgserver.plan.sniff import jpeg_header

#: libvips loader (without its _buffer/_source suffix) → our format name.
_FORMATS = {
    "jpegload": "jpeg",
    "pngload": "png",
    "webpload": "webp",
    "gifload": "gif",
    "heifload": "heif",
    "tiffload": "tiff",
    "svgload": "svg",
}
# SVG is a document format: scripts, external references and embedded HTML are refused.
_SVG_HAZARDS = re.compile(
    rb"<script|javascript:|<foreignobject|<!entity|(?:href|src)\s*=\s*[\"']\s*(?:https?:|//|file:)|url\(\s*[\"']?\s*(?:https?:|//|file:)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SourceLimits:
    max_pixels: int = 50_000_000
    #: Progressive JPEG / interlaced PNG cannot shrink on load: a lower ceiling applies.
    max_interlaced_pixels: int = 25_000_000
    max_frames: int = 300
    allow_svg: bool = False


def source_of(data: bytes) -> pyvips.Source:
    """``data`` as a libvips source that reads it in place.

    # libvips: pyvips copies a ``bytes`` argument of a ``*_buffer`` loader into memory that
    # libvips owns, so every load held a second copy of the whole file (a 4.4 MB 24 MP JPEG
    # twice per request: probe and load). A memory source reads the caller's bytes, which
    # must stay alive until images made from it are evaluated: pyvips passes a source's
    # reference on only from new_from_source, so callers keep ``data`` for the render."""
    return pyvips.Source.new_from_memory(data)


def find_loader(data: bytes) -> str | None:
    """The libvips loader that would open ``data`` (among the allowed ones), or None."""
    pointer = pyvips.vips_lib.vips_foreign_find_load_buffer(data, len(data))
    if pointer == pyvips.ffi.NULL:
        return None
    return str(pyvips.ffi.string(pointer).decode("ascii"))


def _int_field(image: pyvips.Image, name: str, default: int) -> int:
    if image.get_typeof(name) == 0:
        return default
    value = image.get(name)
    return int(value) if isinstance(value, int | float | str) else default


def probe(data: bytes, limits: SourceLimits, respect_orientation: bool = True) -> SourceFacts:
    """Read the header of ``data`` and check it against ``limits``.

    Raises Unprocessable (empty, corrupt header, over a limit) or UnsupportedSource
    (not a format we load). A plain JPEG's markers are read in Python (the common case,
    ~10x cheaper); everything else, and any JPEG that is not plain, through libvips."""
    jpeg = jpeg_header(data)
    if jpeg is None:
        return probe_with_libvips(data, limits, respect_orientation)
    header = SourceFacts(
        "jpeg",
        jpeg.width,
        jpeg.height,
        jpeg.width,
        jpeg.height,
        orientation=jpeg.orientation,
        has_icc=jpeg.has_icc or jpeg.components == 4,  # libvips: 4 components are CMYK
    )
    return _checked(header, jpeg.multiscan, limits, respect_orientation)


def probe_with_libvips(data: bytes, limits: SourceLimits, respect_orientation: bool = True) -> SourceFacts:
    """:func:`probe` with libvips reading every header (the reference the JPEG reader is
    tested against)."""
    if not data:
        raise Unprocessable("source image is empty")
    return _checked(*_read_header(data, limits), limits, respect_orientation)


def _read_header(data: bytes, limits: SourceLimits) -> tuple[SourceFacts, bool]:
    """The header as libvips reads it (stored size, orientation not yet applied) and whether
    the source is progressive/interlaced."""
    if find_loader(data) is None:
        raise UnsupportedSource()
    try:
        image = pyvips.Image.new_from_source(source_of(data), "", access="sequential")
    except pyvips.Error:
        raise Unprocessable("source image header cannot be read") from None
    loader = str(image.get("vips-loader"))
    fmt = _FORMATS.get(loader.rpartition("_")[0])
    if fmt is None or (fmt == "svg" and not limits.allow_svg):
        raise UnsupportedSource()
    if fmt == "svg" and _SVG_HAZARDS.search(data):
        raise Unprocessable("SVG with scripts or external references is refused")
    if fmt == "heif" and image.get_typeof("heif-compression") != 0 and image.get("heif-compression") == "av1":
        fmt = "avif"
    frames = _int_field(image, "n-pages", 1) if fmt in ("gif", "webp") else 1
    delays: tuple[int, ...] = ()
    if frames > 1 and image.get_typeof("delay") != 0:
        raw = image.get("delay")
        if isinstance(raw, list):
            delays = tuple(int(d) for d in raw)
    interlaced = bool(_int_field(image, "jpeg-multiscan", 0) or _int_field(image, "interlaced", 0))
    facts = SourceFacts(
        fmt,
        image.width,
        image.height,
        image.width,
        image.height,
        orientation=_int_field(image, "orientation", 1),
        frames=frames,
        has_alpha=bool(image.hasalpha()),
        has_icc=image.get_typeof("icc-profile-data") != 0 or image.interpretation == "cmyk",
        delays=delays,
        loop=_int_field(image, "loop", 0),
    )
    return facts, interlaced


def _checked(header: SourceFacts, interlaced: bool, limits: SourceLimits, respect_orientation: bool) -> SourceFacts:
    """``header`` (stored size, orientation as read) checked against ``limits`` and turned
    into the facts: display size, orientation 1 unless respected and valid."""
    width, height, frames = header.stored_width, header.stored_height, header.frames
    orientation = header.orientation if respect_orientation and 1 <= header.orientation <= 8 else 1
    if width < 1 or height < 1:
        raise Unprocessable("source image has no pixels")
    pixels = width * height
    if pixels > limits.max_pixels:
        raise Unprocessable(f"source image has {pixels} pixels, over the limit of {limits.max_pixels}")
    if interlaced and pixels > limits.max_interlaced_pixels:
        raise Unprocessable(
            f"progressive/interlaced source has {pixels} pixels, over the limit of {limits.max_interlaced_pixels}"
        )
    if frames > limits.max_frames:
        raise Unprocessable(f"source image has {frames} frames, over the limit of {limits.max_frames}")
    display_w, display_h = (height, width) if orientation >= 5 else (width, height)
    return replace(header, width=display_w, height=display_h, orientation=orientation)
