"""ParsedUrl + source facts + limits → Plan, with Thumbor 7.8's exact geometry. PURE.

The arithmetic (rounding included) follows thumbor/transformer.py so that output sizes
match Thumbor's for the same URL; ``# Thumbor compat:`` marks the quirks kept on purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imgserver.errors import OutputTooLarge
from imgserver.plan.model import Box, FocalPoint, Output, OutputFormat, Plan, SourceFacts
from imgserver.url.grammar import Dim, FitMode, ParsedUrl

_ALIGN = {"left": 0.0, "center": 0.5, "right": 1.0, "top": 0.0, "middle": 0.5, "bottom": 1.0}

# Output format when the URL does not ask for one: the source's own, when we can write it.
_DEFAULT_OUTPUT: dict[str, OutputFormat] = {
    "jpeg": "jpeg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "avif": "avif",
}


@dataclass(frozen=True)
class PlanLimits:
    max_output_width: int = 8192
    max_output_height: int = 8192


@dataclass(frozen=True)
class Qualities:
    """Default encoder quality per format when ``quality()`` is not given."""

    jpeg: int = 80
    webp: int = 80
    avif: int = 50

    def for_format(self, fmt: OutputFormat) -> int | None:
        return {"jpeg": self.jpeg, "webp": self.webp, "avif": self.avif}.get(fmt)


def _manual_crop(parsed: ParsedUrl, trim: Box | None, width: int, height: int) -> Box | None:
    """The URL's crop, translated into trimmed coordinates and clamped; None if empty."""
    c = parsed.crop
    # Thumbor compat: a crop of all zeros means "no crop" (should_crop).
    if c is None or not (c.left > 0 or c.top > 0 or c.right > 0 or c.bottom > 0):
        return None
    dx, dy = (trim.left, trim.top) if trim else (0, 0)

    def limit(value: int, maximum: int) -> int:
        return min(max(value, 0), maximum)

    left, right = limit(c.left - dx, width), limit(c.right - dx, width)
    top, bottom = limit(c.top - dy, height), limit(c.bottom - dy, height)
    # Thumbor compat: an empty or inverted crop is ignored, not an error.
    if left >= right or top >= bottom:
        return None
    return Box(left, top, right, bottom)


def _target(dim: Dim, other: Dim, own_size: int, other_size: int) -> float:
    """Thumbor's target side: number, ``orig`` or proportional to the other side."""
    if dim == "orig":
        return float(own_size)
    if dim:
        return float(dim)
    other_value = float(other_size) if other == "orig" else float(other)
    # Thumbor compat: Python's round() (half to even) on the proportional side.
    return float(round(other_value * own_size / other_size, 0))


def _auto_crop(width: int, height: int, tw: float, th: float, focal: FocalPoint) -> Box | None:
    """Crop (width x height) to the target ratio around the focal point (transformer.auto_crop)."""
    target_w = tw or 1
    target_h = th or 1
    if round(width / height, 2) == round(target_w / target_h, 2):
        return None
    # Thumbor compat: the centre of mass is floor-divided.
    fx, fy = focal.x // 1.0, focal.y // 1.0
    if tw / width > th / height:
        crop_w = width
        crop_h = int(round(width * th / target_w, 0))
    else:
        crop_w = int(round(math.ceil(tw * height / target_h), 0))
        crop_h = height
    crop_w, crop_h = max(1, min(crop_w, width)), max(1, min(crop_h, height))
    left = round(min(max(fx - crop_w / 2, 0.0), width - crop_w))
    top = round(min(max(fy - crop_h / 2, 0.0), height - crop_h))
    return Box(left, top, min(left + crop_w, width), min(top + crop_h, height))


def _fit_in(parsed: ParsedUrl, width: int, height: int, tw: float, th: float) -> tuple[int, int] | None:
    """fit-in / full-fit-in / adaptive sizes (transformer.fit_in_resize); None = unchanged."""
    if parsed.adaptive and (
        (width < height and tw > th) or (width > height and tw < th)
    ):
        tw, th = th, tw
    tw, th = tw or 1.0, th or 1.0
    full = parsed.fit == FitMode.FULL_FIT_IN
    if not full and tw >= width and th >= height:
        return None
    sign = -1 if full else 1
    # Thumbor compat: +1e-5 makes .5 round up, as Python 2 did.
    if width / tw * sign >= height / th * sign:
        return int(tw), max(1, round(height * tw / width + 1e-5))
    return max(1, round(width * th / height + 1e-5)), int(th)


def _output(parsed: ParsedUrl, facts: SourceFacts, qualities: Qualities) -> Output:
    fmt_call = parsed.filter("format")
    if fmt_call is not None:
        name = str(fmt_call.args[0])
        fmt: OutputFormat = "jpeg" if name in ("jpg", "jpeg") else _DEFAULT_OUTPUT[name]
    else:
        fmt = _DEFAULT_OUTPUT.get(facts.format, "png" if facts.has_alpha else "jpeg")
    q_call = parsed.filter("quality")
    quality = int(q_call.args[0]) if q_call is not None else qualities.for_format(fmt)
    return Output(fmt, quality)


def build_plan(
    parsed: ParsedUrl,
    facts: SourceFacts,
    limits: PlanLimits = PlanLimits(),
    qualities: Qualities = Qualities(),
    trim: Box | None = None,
    focal: FocalPoint | None = None,
) -> Plan:
    """Decide every geometric step for ``parsed`` on a source described by ``facts``.

    ``trim`` is the box the trim step found (it needs pixels, so imaging supplies it);
    ``focal`` is a detected focal point in region coordinates (smart). Raises
    OutputTooLarge when the output would exceed the limits."""
    width, height = facts.width, facts.height
    if trim is not None and (trim.width <= 0 or trim.height <= 0):
        trim = None
    if trim is not None:
        width, height = trim.width, trim.height
    manual = _manual_crop(parsed, trim, width, height)
    region = Box(0, 0, width, height) if manual is None else manual
    if trim is not None:
        region = region.within(trim)
    width, height = region.width, region.height

    if not parsed.width and not parsed.height:
        tw, th = float(width), float(height)
    else:
        tw = _target(parsed.width, parsed.height, width, height)
        th = _target(parsed.height, parsed.width, height, width)

    if focal is None:
        focal = FocalPoint(width * _ALIGN[parsed.halign], height * _ALIGN[parsed.valign])

    auto: Box | None = None
    resize: tuple[int, int] | None = None
    flip_h, flip_v = parsed.flip_horizontal, parsed.flip_vertical
    if parsed.debug:
        # Thumbor compat: debug draws the focal points and skips all geometry.
        flip_h = flip_v = False
    elif parsed.fit != FitMode.NONE:
        resize = _fit_in(parsed, width, height, tw, th)
    else:
        if parsed.filter("stretch") is None:
            auto = _auto_crop(width, height, tw, th, focal)
        cw, ch = (auto.width, auto.height) if auto else (width, height)
        rw, rh = int(tw) or 1, int(th) or 1
        if (rw, rh) != (cw, ch):
            resize = (rw, rh)

    plan = Plan(
        source=facts,
        region=region,
        trim=trim,
        manual_crop=manual,
        auto_crop=auto,
        resize=resize,
        flip_horizontal=flip_h,
        flip_vertical=flip_v,
        focal=focal,
        smart=parsed.smart,
        debug=parsed.debug,
        output=_output(parsed, facts, qualities),
        filters=parsed.filters,
    )
    if plan.width > limits.max_output_width or plan.height > limits.max_output_height:
        raise OutputTooLarge(
            f"output {plan.width}x{plan.height} is over the limit "
            f"{limits.max_output_width}x{limits.max_output_height}"
        )
    return plan
