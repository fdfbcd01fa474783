"""Thumbor's pre-load filters that change *what* is loaded. PURE.

``extract_focal()``: when the image key is itself an imgserver/Thumbor URL with a manual
crop (``host/unsafe/100x50:300x200/photo.jpg``), load the inner image instead and use that
crop as the focal point, so a cropped thumbnail's subject survives a re-crop.
"""

from __future__ import annotations

import dataclasses
import re

from imgserver.errors import BadRequest
from imgserver.url.filters import FilterCall
from imgserver.url.grammar import ParsedUrl, parse_path

_DOMAIN = re.compile(r"^(?:https?://)?[^/]*/")
MAX_LEVELS = 3


def extract_focal(key: str) -> tuple[str, str] | None:
    """(inner image key, ``LxT:RxB`` focal box) for a key that is a cropping URL, else None."""
    for _ in range(MAX_LEVELS):
        rest = _DOMAIN.sub("", key, count=1)
        try:
            inner = parse_path("/" + rest)
        except BadRequest:
            return None
        if inner.crop is not None:
            c = inner.crop
            return inner.image, f"{c.left}x{c.top}:{c.right}x{c.bottom}"
        key = inner.image
    return None


def apply_preload(parsed: ParsedUrl) -> ParsedUrl:
    """The request after pre-load filters: a possibly different key and extra focal points."""
    if parsed.filter("extract_focal") is None:
        return parsed
    found = extract_focal(parsed.image)
    if found is None:
        return parsed
    image, box = found
    return dataclasses.replace(parsed, image=image, filters=(*parsed.filters, FilterCall("focal", (box,))))
