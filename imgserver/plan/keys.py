"""Result identity: one hash for the normalised request and the source version. PURE."""

from __future__ import annotations

import dataclasses
import hashlib

from imgserver import __version__
from imgserver.url.grammar import ParsedUrl

#: Bump when rendering changes in a way that should invalidate cached results and ETags.
KEY_VERSION = "1"


def normalised(parsed: ParsedUrl) -> str:
    """A canonical text of everything that shapes the output (signature and spelling
    differences such as ``x200`` vs ``0x200`` do not change it)."""
    canonical = dataclasses.replace(parsed, signature=None, signed_path="")
    return repr(canonical)


def result_key(parsed: ParsedUrl, source_identity: str, variant: str = "") -> str:
    """Hex digest naming one rendered result: request, source version, negotiated variant."""
    h = hashlib.sha256()
    for part in (KEY_VERSION, __version__, normalised(parsed), source_identity, variant):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def etag(parsed: ParsedUrl, source_identity: str, variant: str = "") -> str:
    """A strong ETag (quoted), known before rendering so If-None-Match skips all work."""
    return f'"{result_key(parsed, source_identity, variant)[:32]}"'
