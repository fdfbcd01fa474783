"""Result identity: one hash for the normalised request and the source version. PURE."""

from __future__ import annotations

import dataclasses
import hashlib

from imgserver import __version__
from imgserver.plan.build import _DEFAULT_OUTPUT
from imgserver.plan.model import EXTENSIONS, MIME_TYPES
from imgserver.url.grammar import ParsedUrl

#: Bump when rendering changes in a way that should invalidate cached results and ETags.
KEY_VERSION = "1"


def normalised(parsed: ParsedUrl) -> str:
    """A canonical text of everything that shapes the output (signature and spelling
    differences such as ``x200`` vs ``0x200`` do not change it)."""
    canonical = dataclasses.replace(parsed, signature=None, signed_path="")
    return repr(canonical)


def result_key(canonical: str, source_identity: str, variant: str = "") -> str:
    """Hex digest naming one rendered result: request (its :func:`normalised` text), source
    version, negotiated variant."""
    h = hashlib.sha256()
    for part in (KEY_VERSION, __version__, canonical, source_identity, variant):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def etag(digest: str) -> str:
    """The strong ETag (quoted) of a :func:`result_key`: known before rendering, so
    If-None-Match skips all work."""
    return f'"{digest[:32]}"'


# --- Result-cache layout (issue 4) ---

#: S3 object keys are at most 1024 bytes; longer names are not cached.
MAX_NAME_BYTES = 1024


def expected_format(
    parsed: ParsedUrl, accepted: tuple[str, ...], source_format: str | None, auto_png_to_jpg: bool = False
) -> str | None:
    """The output format as known before decoding (mirrors plan.build._output): ``format()``,
    else the first negotiated format, else the source's own when we can write it. None when
    it depends on the pixels — a TIFF (PNG if it has alpha), a PNG under autojpg (JPEG if
    opaque), a GIF/WebP offered AVIF (WebP if animated) — and such results are not cached."""
    call = parsed.filter("format")
    if call is not None:
        name = str(call.args[0])
        return "jpeg" if name == "jpg" else name
    if accepted:
        if accepted[0] == "avif" and source_format in ("gif", "webp") and parsed.filter("cover") is None:
            return None
        return accepted[0]
    if source_format == "png" and (auto_png_to_jpg or parsed.filter("autojpg") is not None):
        return None
    return _DEFAULT_OUTPUT.get(source_format or "")


def result_path(source_key: str, digest: str, output_format: str) -> str | None:
    """``<source key>/<digest>.<ext>``: every result of one original under one prefix, so
    they can be listed and deleted together (``http://host/p`` keys become ``http/host/p``).
    None when the key cannot be a safe relative
    path (empty, ``.``/``..`` segments, absolute, NUL or backslash) or is too long."""
    ext = EXTENSIONS.get(output_format) if output_format in MIME_TYPES else None  # outputs only
    for scheme in ("http://", "https://"):  # HTTP-loader keys: http/host/path
        if source_key.startswith(scheme):
            source_key = scheme[:-3] + "/" + source_key[len(scheme):]
    parts = source_key.split("/")
    if (
        ext is None
        or not source_key
        or "\x00" in source_key
        or "\\" in source_key
        or any(part in ("", ".", "..") for part in parts)
    ):
        return None
    name = f"{source_key}/{digest}.{ext}"
    return name if len(name.encode("utf-8")) <= MAX_NAME_BYTES else None
