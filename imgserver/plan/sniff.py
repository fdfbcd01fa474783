"""Tell an image format from its first bytes, without libvips. PURE.

Used to name a cached result before the source is downloaded or decoded: the output
format of a request without ``format()`` is the source's own, and the result's file
extension is part of its cache key. The names match :mod:`imgserver.imaging.probe`'s.
"""

from __future__ import annotations

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
