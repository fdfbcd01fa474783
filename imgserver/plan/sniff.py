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


#: Start-of-frame markers libjpeg decodes (baseline, extended sequential, progressive) → progressive.
_SOF_DECODED = {0xC0: False, 0xC1: False, 0xC2: True}
#: The other segments a plain JPEG has before its first scan: DHT, DQT, DRI, APP0-15, COM.
_DHT, _DQT, _DRI, _SOS = 0xC4, 0xDB, 0xDD, 0xDA
_TABLES = {_DHT, _DQT, _DRI}
_PASSED = {*_TABLES, 0xFE, *range(0xE0, 0xF0)}
_MAX_SIDE = 65500  # libjpeg's JPEG_MAX_DIMENSION
#: More segments or fill bytes than a real header has (255 ICC chunks at most): not plain.
_MAX_SEGMENTS = 400
_MAX_FILL = 16


def jpeg_header(data: bytes) -> JpegHeader | None:
    """The JPEG's header facts, read from its markers up to the first scan; None whenever
    anything is unusual (then libvips reads the header instead).

    Only the segments a plain JPEG has are accepted, each checked as libjpeg checks it while
    reading the header (lengths, tables, sampling factors, scan components), so whatever is
    read here libvips would read the same; anything else (other markers, other frame types,
    odd EXIF or ICC blocks) steps aside.

    # libvips: a header read costs ~0.3 ms of libvips calls (and parses the whole EXIF block
    # into string fields) on top of the load, which reads the header again; this reads a few
    # hundred bytes."""
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, end = 2, len(data)
    sof: tuple[int, int, bool, bytes] | None = None  # width, height, progressive, component ids
    orientation, exif_seen = 1, False
    icc: list[tuple[int, int]] = []
    for _ in range(_MAX_SEGMENTS):
        fill = 0
        while pos + 1 < end and data[pos] == 0xFF and data[pos + 1] == 0xFF and fill <= _MAX_FILL:
            pos, fill = pos + 1, fill + 1
        if pos + 4 > end or data[pos] != 0xFF or fill > _MAX_FILL:
            return None
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        body, stop = pos + 4, pos + 2 + length
        if length < 2 or stop > end:
            return None
        if marker in _SOF_DECODED:
            frame = _frame(data[body:stop]) if sof is None else None
            if frame is None:
                return None
            sof = (frame[0], frame[1], _SOF_DECODED[marker], frame[2])
        elif marker == _SOS:
            components = _scan_components(data[body:stop], sof[3]) if sof is not None else None
            has_icc = _icc_complete(icc)
            if sof is None or components is None or has_icc is None:
                return None
            width, height, progressive, ids = sof
            return JpegHeader(width, height, len(ids), progressive or components < len(ids), orientation, has_icc)
        elif marker not in _PASSED or (marker in _TABLES and not _table_ok(marker, data[body:stop])):
            return None
        elif marker == 0xE1 and data.startswith(b"Exif", body):
            plain = not exif_seen and data[body + 4 : body + 6] == b"\x00\x00"
            found = _exif_orientation(data[body + 6 : stop]) if plain else None
            if found is None:
                return None  # a second EXIF block, an odd one, or one libvips may read differently
            orientation, exif_seen = found, True
        elif marker == 0xE2 and data.startswith(b"ICC_PROFILE", body):
            if length <= 16 or data[body + 11] != 0:
                return None  # libvips joins any APP2 starting ICC_PROFILE; libjpeg wants the NUL
            icc.append((data[body + 12], data[body + 13]))
        pos = stop
    return None


def _frame(segment: bytes) -> tuple[int, int, bytes] | None:
    """(width, height, component ids) of an 8-bit SOF segment libjpeg accepts, or None."""
    if len(segment) < 6 or segment[0] != 8:
        return None
    height, width, count = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big"), segment[5]
    if count not in (1, 3, 4) or len(segment) != 6 + 3 * count:
        return None
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        return None
    specs = [segment[6 + 3 * i : 9 + 3 * i] for i in range(count)]
    ids = bytes(spec[0] for spec in specs)
    sampling_ok = all(1 <= spec[1] >> 4 <= 4 and 1 <= spec[1] & 15 <= 4 and spec[2] <= 3 for spec in specs)
    if len(set(ids)) != count or not sampling_ok:
        return None
    return width, height, ids


def _scan_components(segment: bytes, ids: bytes) -> int | None:
    """How many components the first scan has, if its header is one libjpeg accepts."""
    count = segment[0] if segment else 0
    if not 1 <= count <= min(4, len(ids)) or len(segment) != 4 + 2 * count:
        return None
    selectors = [segment[1 + 2 * i] for i in range(count)]
    if len(set(selectors)) != count or any(c not in ids for c in selectors):
        return None
    return count


def _table_ok(marker: int, segment: bytes) -> bool:
    """A DHT, DQT or DRI segment laid out as libjpeg requires."""
    at = 0
    if marker == _DRI:
        return len(segment) == 2
    if marker == _DHT:
        while at < len(segment):
            if at + 17 > len(segment) or segment[at] & 0xEC:  # class 0/1, table 0..3
                return False
            symbols = sum(segment[at + 1 : at + 17])
            at += 17 + symbols
            if symbols > 256:
                return False
    else:  # DQT
        while at < len(segment):
            precision, table = segment[at] >> 4, segment[at] & 15
            if precision > 1 or table > 3:
                return False
            at += 1 + 64 * (precision + 1)
    return at == len(segment)


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
