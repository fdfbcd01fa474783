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
