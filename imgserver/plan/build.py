"""ParsedUrl + source facts + limits → Plan, with Thumbor 7.8's exact geometry. PURE.

The arithmetic (rounding included) follows thumbor/transformer.py so that output sizes
match Thumbor's for the same URL; ``# Thumbor compat:`` marks the quirks kept on purpose.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from imgserver.errors import OutputTooLarge
from imgserver.plan.model import Box, FocalPoint, Output, OutputFormat, Plan, SourceFacts
from imgserver.url.grammar import Dim, FitMode, ParsedUrl

_FOCAL_BOX = re.compile(r"(\d{1,9})x(\d{1,9}):(\d{1,9})x(\d{1,9})")
_ALIGN = {"left": 0.0, "center": 0.5, "right": 1.0, "top": 0.0, "middle": 0.5, "bottom": 1.0}

# Output format when the URL does not ask for one: the source's own, when we can write it.
_DEFAULT_OUTPUT: dict[str, OutputFormat] = {
    "jpeg": "jpeg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "avif": "avif",
    "svg": "png",
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


@dataclass(frozen=True)
class FormatPolicy:
    """How the output format is chosen when the URL has no ``format()``.

    ``accepted``: negotiated formats the client takes, in preference order (from Accept);
    ``auto_png_to_jpg``: opaque PNG sources become JPEG (Thumbor's AUTO_PNG_TO_JPG)."""

    accepted: tuple[OutputFormat, ...] = ()
    auto_png_to_jpg: bool = False


DEFAULT_POLICY = FormatPolicy()


def _output(
    parsed: ParsedUrl, facts: SourceFacts, qualities: Qualities, policy: FormatPolicy, animated: bool
) -> Output:
    fmt_call = parsed.filter("format")
    fmt: OutputFormat
    if fmt_call is not None:
        name = str(fmt_call.args[0])
        fmt = "jpeg" if name in ("jpg", "jpeg") else _DEFAULT_OUTPUT[name]
    else:
        negotiated = [f for f in policy.accepted if not (animated and f == "avif")]
        if negotiated:
            fmt = negotiated[0]
        else:
            fmt = _DEFAULT_OUTPUT.get(facts.format, "png" if facts.has_alpha else "jpeg")
            autojpg = parsed.filter("autojpg")
            to_jpeg = bool(autojpg.args[0]) if autojpg is not None and autojpg.args else autojpg is not None
            if (to_jpeg or policy.auto_png_to_jpg) and fmt == "png" and not facts.has_alpha:
                fmt = "jpeg"
    q_call = parsed.filter("quality")
    quality = int(q_call.args[0]) if q_call is not None else qualities.for_format(fmt)
    return Output(fmt, quality)


def _requested_focal_points(parsed: ParsedUrl, region: Box) -> tuple[FocalPoint, ...]:
    """focal(LxT:RxB) boxes (source pixels) as points relative to ``region``; points
    outside the region are dropped, as Thumbor drops those outside the manual crop."""
    points = []
    for call in parsed.filters:
        if call.name != "focal":
            continue
        m = _FOCAL_BOX.fullmatch(str(call.args[0]))
        if not m:
            continue
        left, top, right, bottom = (int(g) for g in m.groups())
        if right <= left or bottom <= top:
            continue
        point = FocalPoint.from_box(Box(left, top, right, bottom))
        if region.left <= point.x <= region.right and region.top <= point.y <= region.bottom:
            x, y = point.x - region.left, point.y - region.top
            points.append(FocalPoint(x, y, "explicit", point.weight, point.width, point.height))
    return tuple(points)


def _centre_of_mass(points: tuple[FocalPoint, ...]) -> FocalPoint:
    total = sum(p.weight for p in points)
    # Thumbor compat: the centre of mass is floor-divided.
    x = sum(p.x * p.weight for p in points) // total
    y = sum(p.y * p.weight for p in points) // total
    return FocalPoint(x, y, points[0].origin if len(points) == 1 else "explicit", total)


def _no_upscale(parsed: ParsedUrl, facts: SourceFacts) -> tuple[Dim, Dim]:
    """no_upscale(): the request box is clamped to the source size (Thumbor, after load)."""
    width, height = parsed.width, parsed.height
    if parsed.filter("no_upscale") is not None:
        if isinstance(width, int):
            width = min(width, facts.width)
        if isinstance(height, int):
            height = min(height, facts.height)
    return width, height


def _check_size(width: int, height: int, limits: PlanLimits, what: str = "output") -> None:
    if width > limits.max_output_width or height > limits.max_output_height:
        raise OutputTooLarge(
            f"{what} {width}x{height} is over the limit {limits.max_output_width}x{limits.max_output_height}"
        )


def build_plan(
    parsed: ParsedUrl,
    facts: SourceFacts,
    limits: PlanLimits = PlanLimits(),
    qualities: Qualities = Qualities(),
    trim: Box | None = None,
    focal: FocalPoint | None = None,
    policy: FormatPolicy = FormatPolicy(),
) -> Plan:
    """Decide every geometric step for ``parsed`` on a source described by ``facts``.

    ``trim`` is the box the trim step found (it needs pixels, so imaging supplies it);
    ``focal`` is a detected focal point in region coordinates (smart); ``policy`` says which
    formats the client negotiated. Raises OutputTooLarge when the output (or the box that
    fill()/upscale() grow towards) would exceed the limits."""
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

    req_w, req_h = _no_upscale(parsed, facts)
    if not req_w and not req_h:
        tw, th = float(width), float(height)
    else:
        tw = _target(req_w, req_h, width, height)
        th = _target(req_h, req_w, height, width)

    points = _requested_focal_points(parsed, region)
    if not points and focal is not None:
        points = (focal,)
    if not points:
        points = (FocalPoint(int(width * _ALIGN[parsed.halign]), int(height * _ALIGN[parsed.valign])),)
    centre = _centre_of_mass(points)

    auto: Box | None = None
    resize: tuple[int, int] | None = None
    flip_h, flip_v = parsed.flip_horizontal, parsed.flip_vertical
    box_req: tuple[Dim, Dim] = (req_w, req_h)
    if parsed.debug:
        # Thumbor compat: debug draws the focal points and skips all geometry.
        flip_h = flip_v = False
    elif parsed.fit != FitMode.NONE:
        resize = _fit_in(parsed, width, height, tw, th)
        if parsed.adaptive and ((width < height and tw > th) or (width > height and tw < th)):
            box_req = (req_h, req_w)
        if resize is not None:
            # Thumbor compat: fit_in_resize widens the request box to the resized image.
            asked_w = width if box_req[0] == "orig" else int(box_req[0])
            asked_h = height if box_req[1] == "orig" else int(box_req[1])
            box_req = (max(asked_w, resize[0]), max(asked_h, resize[1]))
    else:
        if parsed.filter("stretch") is None:
            auto = _auto_crop(width, height, tw, th, centre)
        cw, ch = (auto.width, auto.height) if auto else (width, height)
        rw, rh = int(tw) or 1, int(th) or 1
        if (rw, rh) != (cw, ch):
            resize = (rw, rh)
    # Thumbor compat: fill()/upscale() use the request box, or the image's size where the
    # request side is 0 (or orig).
    out_w, out_h = resize or ((auto.width, auto.height) if auto else (width, height))
    box_w = box_req[0] if isinstance(box_req[0], int) and box_req[0] else out_w
    box_h = box_req[1] if isinstance(box_req[1], int) and box_req[1] else out_h

    animated = facts.frames > 1 and parsed.filter("cover") is None
    output = _output(parsed, facts, qualities, policy, animated)
    plan = Plan(
        source=facts,
        region=region,
        trim=trim,
        manual_crop=manual,
        auto_crop=auto,
        resize=resize,
        flip_horizontal=flip_h,
        flip_vertical=flip_v,
        focal=centre,
        smart=parsed.smart,
        debug=parsed.debug,
        output=output,
        filters=parsed.filters,
        focal_points=points,
        animated=animated and output.format in ("gif", "webp"),
        box=(box_w, box_h),
    )
    _check_size(plan.width, plan.height, limits)
    if parsed.filter("fill") is not None or parsed.filter("upscale") is not None:
        _check_size(box_w, box_h, limits, "fill/upscale box")
    return plan
