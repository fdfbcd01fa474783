"""The render pipeline: bytes + ParsedUrl → encoded image. SYNC; runs in the render pool.

Geometry is done the libvips way: the one box of the source that ends up in the output
(trim ∘ manual crop ∘ auto crop) and the output size give a scale, and the whole source is
loaded *at that scale* with ``thumbnail_buffer`` (shrink-on-load: a JPEG is decoded at 1/2,
1/4 or 1/8 size when that suffices), then the scaled box is cut out. Only trim needs a full
decode. After geometry, each step is a small ``(image, plan) -> image`` function listed in
order in :data:`STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import pyvips

from imgserver.errors import ImgserverError, Unprocessable
from imgserver.imaging.encode import EncodeSettings, encode
from imgserver.imaging.probe import SourceLimits, probe
from imgserver.plan.build import PlanLimits, Qualities, build_plan
from imgserver.plan.model import Box, FocalPoint, Plan, SourceFacts
from imgserver.url.grammar import ParsedUrl, Trim


@dataclass(frozen=True)
class RenderSettings:
    source_limits: SourceLimits = field(default_factory=SourceLimits)
    plan_limits: PlanLimits = field(default_factory=PlanLimits)
    qualities: Qualities = field(default_factory=Qualities)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    respect_orientation: bool = True


@dataclass(frozen=True)
class Rendered:
    body: bytes
    mime: str
    plan: Plan


Step = Callable[[pyvips.Image, Plan], pyvips.Image]


def _load_scaled(data: bytes, facts: SourceFacts, width: int, height: int, respect_orientation: bool) -> pyvips.Image:
    """The whole source at exactly width x height (display orientation), sRGB, lazily."""
    # libvips: loader options go through option_string; thumbnail's own fail_on does not
    # reach the JPEG/PNG loader, and a truncated file must fail, not turn half grey.
    if facts.has_icc:
        return pyvips.Image.thumbnail_buffer(
            data,
            width,
            height=height,
            size="force",
            no_rotate=not respect_orientation,
            option_string="fail_on=error",
            output_profile="srgb",
        )
    return pyvips.Image.thumbnail_buffer(
        data, width, height=height, size="force", no_rotate=not respect_orientation, option_string="fail_on=error"
    )


def _find_trim(image: pyvips.Image, trim: Trim) -> Box | None:
    """Thumbor's trim: the box of pixels that differ from the reference corner's colour."""
    flat = image.flatten(background=[255.0] * (image.bands - 1)) if image.hasalpha() else image
    x, y = (0, 0) if trim.reference == "top-left" else (flat.width - 1, flat.height - 1)
    background = flat.getpoint(x, y)
    left, top, width, height = flat.find_trim(background=background, threshold=max(trim.tolerance, 0.5), line_art=True)
    if width <= 0 or height <= 0:
        return None  # Thumbor compat: a trim that would leave nothing is ignored
    return Box(left, top, left + width, top + height)


def _detect_focus(image: pyvips.Image, plan: Plan, sx: float, sy: float) -> FocalPoint:
    """Attention-based focal point (libvips smartcrop) in region coordinates."""
    region = plan.region
    left, top = round(region.left * sx), round(region.top * sy)
    width = max(1, min(round(region.width * sx), image.width - left))
    height = max(1, min(round(region.height * sy), image.height - top))
    sub = image.crop(left, top, width, height)
    # The stub says Image; with attention_x/y requested pyvips returns (image, outputs).
    _, found = cast(tuple[pyvips.Image, dict[str, int]], sub.smartcrop(
        min(plan.width, width), min(plan.height, height), interesting="attention", attention_x=True, attention_y=True
    ))
    return FocalPoint(found["attention_x"] / sx, found["attention_y"] / sy, "detection")


def load_geometry(
    data: bytes, parsed: ParsedUrl, facts: SourceFacts, settings: RenderSettings
) -> tuple[Plan, pyvips.Image]:
    """Plan the geometry and produce the output-sized image (before flips and filters)."""

    def plan_for(trim: Box | None = None, focal: FocalPoint | None = None) -> Plan:
        return build_plan(parsed, facts, settings.plan_limits, settings.qualities, trim=trim, focal=focal)

    full: pyvips.Image | None = None
    trim_box = None
    if parsed.trim is not None:
        full = _load_scaled(data, facts, facts.width, facts.height, settings.respect_orientation).copy_memory()
        trim_box = _find_trim(full, parsed.trim)
    plan = plan_for(trim_box)

    box, out_w, out_h = plan.crop_box, plan.width, plan.height
    sx, sy = out_w / box.width, out_h / box.height
    scaled_w, scaled_h = max(1, round(facts.width * sx)), max(1, round(facts.height * sy))
    if full is None:
        image = _load_scaled(data, facts, scaled_w, scaled_h, settings.respect_orientation)
    elif (scaled_w, scaled_h) != (full.width, full.height):
        image = full.resize(scaled_w / full.width, vscale=scaled_h / full.height)
    else:
        image = full

    if plan.needs_smart_focus:
        image = image.copy_memory()  # read twice: once for attention, once for the crop
        plan = plan_for(trim_box, _detect_focus(image, plan, sx, sy))
        box = plan.crop_box

    if (image.width, image.height) != (out_w, out_h):
        left = min(max(round(box.left * sx), 0), max(image.width - out_w, 0))
        top = min(max(round(box.top * sy), 0), max(image.height - out_h, 0))
        image = image.crop(left, top, min(out_w, image.width), min(out_h, image.height))
        if (image.width, image.height) != (out_w, out_h):  # rounding guard, at most a pixel
            image = image.resize(out_w / image.width, vscale=out_h / image.height)
    return plan, image


def flip(image: pyvips.Image, plan: Plan) -> pyvips.Image:
    if plan.flip_vertical:
        # libvips: a vertical flip reads bottom-up, which a sequential load cannot do.
        image = image.copy_memory().flipver()
    if plan.flip_horizontal:
        image = image.fliphor()
    return image


def draw_focal_points(image: pyvips.Image, plan: Plan) -> pyvips.Image:
    """Thumbor's debug mode: outline the focal point."""
    if not plan.debug:
        return image
    image = image.copy_memory()
    ink = [255.0] + [0.0] * (image.bands - 1)
    x = int(plan.focal.x) + plan.region.left - 5
    y = int(plan.focal.y) + plan.region.top - 5
    return image.draw_rect(ink, x, y, 10, 10)


STEPS: tuple[Step, ...] = (flip, draw_focal_points)


def render(data: bytes, parsed: ParsedUrl, settings: RenderSettings) -> Rendered:
    """Probe, plan, transform and encode. Raises ImgserverError subclasses only."""
    facts = probe(data, settings.source_limits, settings.respect_orientation)
    try:
        plan, image = load_geometry(data, parsed, facts, settings)
        for step in STEPS:
            image = step(image, plan)
        body = encode(image, plan.output, settings.encode)
    except pyvips.Error:
        # Errors surface while pixels are pulled through the pipeline: the source's data
        # is corrupt or truncated (the header was already read fine).
        raise Unprocessable("source image cannot be decoded") from None
    return Rendered(body, plan.output.mime, plan)


def describe(data: bytes, parsed: ParsedUrl, settings: RenderSettings) -> tuple[SourceFacts, Plan]:
    """The plan only (for /meta). Decodes pixels only when trim or smart need them."""
    facts = probe(data, settings.source_limits, settings.respect_orientation)
    if parsed.trim is None and not parsed.smart:
        return facts, build_plan(parsed, facts, settings.plan_limits, settings.qualities)
    try:
        plan, _ = load_geometry(data, parsed, facts, settings)
    except pyvips.Error:
        raise Unprocessable("source image cannot be decoded") from None
    return facts, plan


__all__ = ["STEPS", "ImgserverError", "RenderSettings", "Rendered", "describe", "render"]
