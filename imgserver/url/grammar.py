"""Thumbor 7.8 URL grammar: a request path → one frozen :class:`ParsedUrl`. PURE.

Segments, each optional, in this strict order (design.md §3)::

    /<unsafe|signature>/debug/meta/trim[:top-left|:bottom-right][:N]/AxB:CxD/
     [adaptive-][full-]fit-in/[-]W x [-]H/left|center|right/top|middle|bottom/smart/
     filters:a(…):b(…)/<image key>

Parsing is a single left-to-right pass over ``/``-separated segments with small anchored
regexes, so its cost is linear in the path length (no backtracking blow-ups). A segment
that does not match the next expected option starts the image key, exactly as in
Thumbor's one big optional-group regex. Deliberate differences: a segment starting with
``filters:`` that does not parse is a 400 (Thumbor would load it as a key), and an empty
image key is a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal
from urllib.parse import unquote

from imgserver.errors import UrlError
from imgserver.url.filters import FilterCall, parse_filters

Dim = int | Literal["orig"]
HAlign = Literal["left", "center", "right"]
VAlign = Literal["top", "middle", "bottom"]


class FitMode(Enum):
    """How ``WxH`` is applied: crop to the box (``NONE``) or fit the image into it."""

    NONE = "crop"
    FIT_IN = "fit-in"
    FULL_FIT_IN = "full-fit-in"


@dataclass(frozen=True)
class Crop:
    """Manual crop ``left x top : right x bottom`` in source pixels (right/bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True)
class Trim:
    """Trim borders the colour of the reference corner, within ``tolerance`` (0..442)."""

    reference: Literal["top-left", "bottom-right"] = "top-left"
    tolerance: int = 0


@dataclass(frozen=True)
class ParsedUrl:
    """Everything a Thumbor path says, parsed once. ``width``/``height`` 0 = proportional."""

    signature: str | None
    signed_path: str
    image: str
    debug: bool = False
    meta: bool = False
    trim: Trim | None = None
    crop: Crop | None = None
    fit: FitMode = FitMode.NONE
    adaptive: bool = False
    width: Dim = 0
    height: Dim = 0
    flip_horizontal: bool = False
    flip_vertical: bool = False
    halign: HAlign = "center"
    valign: VAlign = "middle"
    smart: bool = False
    filters: tuple[FilterCall, ...] = ()

    @property
    def unsafe(self) -> bool:
        return self.signature is None

    def filter(self, name: str) -> FilterCall | None:
        """The last call of filter ``name`` (Thumbor: later calls win), or None."""
        for call in reversed(self.filters):
            if call.name == name:
                return call
        return None


# Thumbor's segments, one small anchored regex each (cf. libthumbor/url.py).
_TRIM = re.compile(r"trim(?::(top-left|bottom-right))?(?::(\d{1,9}))?")
_CROP = re.compile(r"(\d{1,9})x(\d{1,9}):(\d{1,9})x(\d{1,9})")
_FIT = re.compile(r"(adaptive-)?(full-)?fit-in")
_DIMS = re.compile(r"(-)?(\d{1,9}|orig)?x(-)?(\d{1,9}|orig)?")
_HALIGN = frozenset(("left", "center", "right"))
_VALIGN = frozenset(("top", "middle", "bottom"))
_MAX_PATH = 8192


def split_signature(path: str) -> tuple[str | None, str]:
    """Split ``/<unsafe|signature>/<rest>`` into (signature or None for unsafe, rest as
    received). Raises UrlError when there is nothing after the first segment."""
    if len(path) > _MAX_PATH:
        raise UrlError("URL is too long")
    body = path[1:] if path.startswith("/") else path
    first, sep, rest = body.partition("/")
    if not first or not sep:
        raise UrlError("URL must start with /unsafe/ or /<signature>/")
    if not rest:
        raise UrlError("no image in URL")
    return (None if first == "unsafe" else unquote(first)), rest


def _dim(text: str | None) -> Dim:
    if not text:
        return 0
    return "orig" if text == "orig" else int(text)


class _Segments:
    """A cursor over path segments. A segment counts as an option only when something
    follows it (the image key), as in Thumbor's regex where every option ends in ``/``."""

    def __init__(self, rest: str) -> None:
        self.items = rest.split("/")
        self.pos = 0

    def _peek(self) -> str | None:
        # Thumbor compat: options match the raw segment (``%73mart`` is part of the key).
        return self.items[self.pos] if self.pos < len(self.items) - 1 else None

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        seg = self._peek()
        m = pattern.fullmatch(seg) if seg is not None else None
        if m:
            self.pos += 1
        return m

    def word(self, words: frozenset[str]) -> str | None:
        seg = self._peek()
        if seg is not None and seg in words:
            self.pos += 1
            return seg
        return None

    def remainder(self) -> str:
        return "/".join(self.items[self.pos:])


def parse_options(signature: str | None, rest: str) -> ParsedUrl:
    """Parse the part after the signature (raw, still percent-encoded). Raises UrlError or
    FilterError (both 400) with a short reason."""
    seg = _Segments(rest)
    debug = seg.word(frozenset({"debug"})) is not None
    meta = seg.word(frozenset({"meta"})) is not None

    trim = None
    if m := seg.match(_TRIM):
        if m.group(1) is None and m.group(2) is not None:
            # Thumbor compat: Thumbor splits "trim:5" on ":" and reads parts[1] ("5") as the
            # position and parts[2] (absent) as the tolerance; any position other than
            # "top-left" means the bottom-right reference. So "trim:N" = bottom-right, 0.
            trim = Trim("bottom-right", 0)
        else:
            tolerance = int(m.group(2) or 0)
            if tolerance > 442:
                raise UrlError("trim tolerance must be 0..442")
            trim = Trim("bottom-right" if m.group(1) == "bottom-right" else "top-left", tolerance)

    crop = None
    if m := seg.match(_CROP):
        crop = Crop(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)))

    fit, adaptive = FitMode.NONE, False
    if m := seg.match(_FIT):
        adaptive = bool(m.group(1))
        fit = FitMode.FULL_FIT_IN if m.group(2) else FitMode.FIT_IN

    width: Dim = 0
    height: Dim = 0
    flip_h = flip_v = False
    if m := seg.match(_DIMS):
        flip_h, width, flip_v, height = bool(m.group(1)), _dim(m.group(2)), bool(m.group(3)), _dim(m.group(4))

    halign: HAlign = "center"
    valign: VAlign = "middle"
    h = seg.word(_HALIGN)
    if h == "left":
        halign = "left"
    elif h == "right":
        halign = "right"
    v = seg.word(_VALIGN)
    if v == "top":
        valign = "top"
    elif v == "bottom":
        valign = "bottom"
    smart = seg.word(frozenset({"smart"})) is not None

    remainder = seg.remainder()
    filters: tuple[FilterCall, ...] = ()
    if remainder.startswith("filters:"):
        # Thumbor compat: the filter segment ends at the first ")/", so arguments may hold
        # slashes (watermark URLs).
        end = remainder.find(")/")
        if end < 0:
            raise UrlError("filters segment must end with ')' followed by the image")
        filters = parse_filters(unquote(remainder[len("filters:"):end + 1]))
        remainder = remainder[end + 2:]

    if not remainder:
        raise UrlError("no image in URL")
    return ParsedUrl(
        signature=signature,
        signed_path=rest,
        image=unquote(remainder),
        debug=debug,
        meta=meta,
        trim=trim,
        crop=crop,
        fit=fit,
        adaptive=adaptive,
        width=width,
        height=height,
        flip_horizontal=flip_h,
        flip_vertical=flip_v,
        halign=halign,
        valign=valign,
        smart=smart,
        filters=filters,
    )


def parse_path(path: str) -> ParsedUrl:
    """Parse a whole request path (``/unsafe/300x200/a.jpg``) without checking the signature."""
    signature, rest = split_signature(path)
    return parse_options(signature, rest)
