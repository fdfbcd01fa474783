"""Tell an image format from its first bytes, without libvips. PURE.

Used to name a cached result before the source is downloaded or decoded: the output
format of a request without ``format()`` is the source's own, and the result's file
extension is part of its cache key. The names match :mod:`imgserver.imaging.probe`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

_HEIF_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"}


def sniff_format(head: bytes) -> str | None:
    """``jpeg``, ``png``, ``gif``, ``webp``, ``tiff``, ``heif`` or None (unknown)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heif"
    return None


def gif_is_opaque(data: bytes) -> bool:
    """True when every frame of a GIF, as shown (composited on the canvas), is opaque.
    False when unsure: not a GIF, truncated, malformed.

    The canvas starts transparent. A frame keeps an opaque canvas opaque (its transparent
    pixels show what is below); on a non-opaque canvas only a whole-canvas frame without a
    transparent colour makes it opaque. Disposal "restore to background" clears the frame's
    area to transparent. libvips loads every GIF with an alpha band; knowing it is all 255
    lets the renderer resize three bands instead of premultiplying four in float."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return False
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    flags = data[10]
    pos = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    opaque = False  # the canvas
    transparent, disposal = False, 0  # from the graphic control extension before a frame
    frames = 0
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            return frames > 0
        if block == 0x21:  # extension: label, then sub-blocks
            if data[pos + 1 : pos + 3] == b"\xf9\x04" and pos + 3 < len(data):
                transparent, disposal = bool(data[pos + 3] & 1), (data[pos + 3] >> 2) & 7
            pos += 2
        elif block == 0x2C:  # image descriptor, optional local colour table, LZW code size
            if pos + 10 > len(data):
                return False
            box = tuple(int.from_bytes(data[pos + i : pos + i + 2], "little") for i in (1, 3, 5, 7))
            if not opaque:
                opaque = box == (0, 0, width, height) and not transparent
                if not opaque:
                    return False
            if disposal == 2:
                opaque = False  # the next frame starts on a cleared area
            transparent, disposal = False, 0
            local = data[pos + 9]
            pos += 11 + ((3 << ((local & 7) + 1)) if local & 0x80 else 0)
            frames += 1
        else:
            return False
        while pos < len(data) and data[pos]:  # data sub-blocks, up to the empty one
            pos += data[pos] + 1
        pos += 1
    return False  # no trailer


@dataclass(frozen=True)
class JpegHeader:
    """What the header probe needs from a JPEG, as libvips' jpegload reports it."""

    width: int
    height: int
    components: int
    #: libjpeg's jpeg_has_multiple_scans: progressive, or a first scan without every component.
    multiscan: bool
    #: EXIF IFD0 Orientation (1 when there is none).
    orientation: int
    #: A complete ICC profile (every APP2 chunk present, numbered as libjpeg requires).
    has_icc: bool


#: Start-of-frame markers libjpeg decodes (baseline, extended sequential, progressive).
_SOF_DECODED = {0xC0: False, 0xC1: False, 0xC2: True}
#: Other SOFs (lossless, hierarchical, arithmetic): left to libvips.
_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_MAX_SIDE = 65500  # libjpeg's JPEG_MAX_DIMENSION


def jpeg_header(data: bytes) -> JpegHeader | None:
    """The JPEG's header facts, read from its markers up to the first scan; None whenever
    anything is unusual (then libvips reads the header instead).

    # libvips: a header read costs ~0.3 ms of libvips calls (and parses the whole EXIF block
    # into string fields) on top of the load, which reads the header again; this reads a few
    # hundred bytes."""
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, end = 2, len(data)
    sof: tuple[int, int, int, bool] | None = None
    orientation, exif_seen = 1, False
    icc: list[tuple[int, int]] = []
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8, 0xD9) or 0xD0 <= marker <= 0xD7:
            return None  # no segment (TEM, SOI, EOI, RSTn) belongs before the first scan
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > end:
            return None
        segment = data[pos + 4 : pos + 2 + length]
        if marker in _SOF_DECODED:
            if sof is not None or len(segment) < 6:
                return None
            height, width = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big")
            components = segment[5]
            if segment[0] != 8 or not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
                return None
            if components not in (1, 3, 4) or len(segment) < 6 + 3 * components:
                return None
            sof = (width, height, components, _SOF_DECODED[marker])
        elif marker in _SOF_OTHER:
            return None
        elif marker == 0xE1 and segment.startswith(b"Exif"):
            found = _exif_orientation(segment[6:]) if segment[4:6] == b"\x00\x00" and not exif_seen else None
            if found is None:
                return None  # a second EXIF block, an odd one, or one libvips may read differently
            orientation, exif_seen = found, True
        elif marker == 0xE2 and segment.startswith(b"ICC_PROFILE\x00"):
            if len(segment) <= 14:
                return None
            icc.append((segment[12], segment[13]))
        elif marker == 0xDA:  # start of scan: the header is complete
            if sof is None or not segment:
                return None
            width, height, components, progressive = sof
            has_icc = _icc_complete(icc)
            if has_icc is None:
                return None
            return JpegHeader(width, height, components, progressive or segment[0] < components, orientation, has_icc)
        pos += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int | None:
    """IFD0's Orientation in a TIFF-structured EXIF block: 1 when absent, None when the block
    or the tag is anything but plain (one SHORT, 1..8, once)."""
    order: Literal["little", "big"]
    if tiff[:4] == b"II*\x00":
        order = "little"
    elif tiff[:4] == b"MM\x00*":
        order = "big"
    else:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd < 8 or ifd + 2 > len(tiff):
        return None
    count = int.from_bytes(tiff[ifd : ifd + 2], order)
    if count == 0 or ifd + 2 + 12 * count > len(tiff):
        return None
    found: int | None = None
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        if int.from_bytes(tiff[entry : entry + 2], order) != 0x0112:
            continue
        kind = int.from_bytes(tiff[entry + 2 : entry + 4], order)
        values = int.from_bytes(tiff[entry + 4 : entry + 8], order)
        value = int.from_bytes(tiff[entry + 8 : entry + 10], order)
        if found is not None or kind != 3 or values != 1 or not 1 <= value <= 8:
            return None
        found = value
    return found or 1


def _icc_complete(chunks: list[tuple[int, int]]) -> bool | None:
    """Whether APP2 ICC chunks (sequence number, count) make one profile: False for none,
    True when numbered 1..count once each, None (unsure) otherwise."""
    if not chunks:
        return False
    count = chunks[0][1]
    if count == 0 or any(c != count for _, c in chunks) or sorted(n for n, _ in chunks) != list(range(1, count + 1)):
        return None
    return True
