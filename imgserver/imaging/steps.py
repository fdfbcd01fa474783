"""The render pipeline: bytes + ParsedUrl → encoded image. SYNC; runs in the render pool.

Geometry is done the libvips way: the one box of the source that ends up in the output
(trim ∘ manual crop ∘ auto crop) and the output size give a scale, and the whole source is
loaded *at that scale* with ``thumbnail_buffer`` (shrink-on-load: a JPEG is decoded at 1/2,
1/4 or 1/8 size when that suffices), then the scaled box is cut out. Only trim needs a full
decode. After geometry, each step is a small ``(image, plan) -> image`` function listed in
order in :data:`STEPS`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

import pyvips

from imgserver.errors import Unprocessable
from imgserver.imaging.encode import EncodeSettings, encode
from imgserver.imaging.filters import FilterContext, apply_filters
from imgserver.imaging.filters.color import to_grey
from imgserver.imaging.filters.registry import first_pixel_filter
from imgserver.imaging.probe import SourceLimits, probe, source_of
from imgserver.imaging.setup import HEAP
from imgserver.plan.build import DEFAULT_POLICY, FormatPolicy, PlanLimits, Qualities, build_plan
from imgserver.plan.model import Box, FocalPoint, Plan, SourceFacts
from imgserver.plan.sniff import gif_is_opaque
from imgserver.url.grammar import ParsedUrl, Trim

#: Sources at least this large (decoded bytes) mark the heap for trimming (imaging.setup.HEAP),
#: so a burst of big images does not leave every process at its high-water mark.
TRIM_AFTER_BYTES = 2_000_000


@dataclass(frozen=True)
class RenderSettings:
    source_limits: SourceLimits = field(default_factory=SourceLimits)
    plan_limits: PlanLimits = field(default_factory=PlanLimits)
    qualities: Qualities = field(default_factory=Qualities)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    respect_orientation: bool = True
    #: Renders of alpha sources allowed at once per process (0: no limit); see _alpha_slots.
    alpha_renders: int = 0


@dataclass(frozen=True)
class Rendered:
    body: bytes
    mime: str
    plan: Plan
    #: Seconds spent decoding + transforming, and encoding (metrics).
    render_seconds: float = 0.0
    encode_seconds: float = 0.0


Step = Callable[[pyvips.Image, FilterContext], pyvips.Image]


def _jpeg_shrink(facts: SourceFacts, width: int, height: int) -> int:
    """The largest libjpeg DCT scale (1/8, 1/4, 1/2) whose decode is still at least
    width x height (display orientation), or 1."""
    need_w, need_h = (height, width) if facts.orientation >= 5 else (width, height)
    for shrink in (8, 4, 2):
        if -(-facts.stored_width // shrink) >= need_w and -(-facts.stored_height // shrink) >= need_h:
            return shrink
    return 1


def _load_jpeg_shrunk(
    data: bytes, facts: SourceFacts, width: int, height: int, respect_orientation: bool, grey: bool = False
) -> pyvips.Image:
    """A plain (no ICC) JPEG decoded with the largest DCT shrink that keeps the target size,
    then resized (lanczos3) to exactly width x height and turned upright. With ``grey`` (the
    plan's first pixel filter is grayscale()) an image that needs turning is made grey first.

    # libvips: thumbnail keeps a factor of 2 above the target for quality; Pillow's draft
    # and sharp decode at the largest scale that still covers it, as here. The residual
    # resize is an antialiasing lanczos3, so edges stay as sharp (measured 16-33% faster on
    # 1920x1080 .. 24 MP sources)."""
    shrink = _jpeg_shrink(facts, width, height)
    image = pyvips.Image.jpegload_source(source_of(data), shrink=shrink, access="sequential", fail_on="error")
    rotate = respect_orientation and facts.orientation != 1
    stored_w, stored_h = (height, width) if rotate and facts.orientation >= 5 else (width, height)
    if (image.width, image.height) != (stored_w, stored_h):
        image = image.resize(stored_w / image.width, vscale=stored_h / image.height)
    if rotate:
        # libvips: rotating reads the image out of order; buffer the (already small) result.
        # Grey first, one band goes through the buffer and the rotation instead of three
        # (-3% CPU on a 640x480 -> 300x400 render); grayscale() then finds it already grey.
        if grey:
            image = to_grey(image)
        image = image.copy_memory().autorot()
    return image


def _load_opaque_gif(data: bytes, width: int, height: int, pages: bool) -> pyvips.Image:
    """A GIF whose frames are all opaque, resized (lanczos3) per frame to width x height as
    three bands.

    # libvips: gifload always adds an alpha band, and thumbnail premultiplies it in float,
    # which doubles the resize cost; without it the animation renders ~8% faster."""
    image = pyvips.Image.gifload_source(source_of(data), n=-1 if pages else 1, fail_on="error", access="sequential")
    page_h = _page_height(image)
    count = image.height // page_h
    image = image.extract_band(0, n=3)
    if (image.width, page_h) != (width, height):
        image = image.resize(width / image.width, vscale=count * height / image.height)
    if (image.width, image.height) != (width, count * height):  # rounding guard: whole frames
        image = image.embed(0, 0, width, count * height, extend="copy")
    if pages:
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "page-height", height)
    return image


def _load_scaled(
    data: bytes,
    facts: SourceFacts,
    width: int,
    height: int,
    respect_orientation: bool,
    pages: bool = False,
    grey: bool = False,
) -> pyvips.Image:
    """The whole source at exactly width x height (display orientation; per page when
    ``pages``, as one tall strip), converted to sRGB, lazily; ``grey`` allows turning it grey
    already (see _load_jpeg_shrunk)."""
    if facts.format == "jpeg" and not facts.has_icc:
        return _load_jpeg_shrunk(data, facts, width, height, respect_orientation, grey)
    if _opaque_gif(data, facts):
        return _load_opaque_gif(data, width, height, pages)
    options = "fail_on=error,n=-1" if pages else "fail_on=error"
    # libvips: loader options go through option_string; thumbnail's own fail_on does not
    # reach the JPEG/PNG loader, and a truncated file must fail, not turn half grey.
    if facts.has_icc:
        return pyvips.Image.thumbnail_source(
            source_of(data),
            width,
            height=height,
            size="force",
            no_rotate=not respect_orientation,
            option_string=options,
            output_profile="srgb",
        )
    return pyvips.Image.thumbnail_source(
        source_of(data), width, height=height, size="force", no_rotate=not respect_orientation, option_string=options
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


def _page_height(image: pyvips.Image) -> int:
    """The height of one frame of a loaded animation (the whole height for a still)."""
    page = image.get("page-height") if image.get_typeof("page-height") else image.height
    return int(page) if isinstance(page, int) and 0 < page <= image.height else image.height


def _split_frames(image: pyvips.Image) -> list[pyvips.Image]:
    """A loaded animation (one tall strip of pages) as a list of frames."""
    page_h = _page_height(image)
    count = image.height // page_h
    return [image.crop(0, i * page_h, image.width, page_h) for i in range(count)] or [image]


def load_geometry(
    data: bytes,
    parsed: ParsedUrl,
    facts: SourceFacts,
    settings: RenderSettings,
    policy: FormatPolicy = DEFAULT_POLICY,
) -> tuple[Plan, list[pyvips.Image]]:
    """Plan the geometry and produce the output-sized frames (before flips and filters)."""

    def plan_for(trim: Box | None = None, focal: FocalPoint | None = None) -> Plan:
        return build_plan(
            parsed, facts, settings.plan_limits, settings.qualities, trim=trim, focal=focal, policy=policy
        )

    plan = plan_for()
    pages = plan.animated
    full: pyvips.Image | None = None
    trim_box = None
    if parsed.trim is not None:
        full = _load_scaled(data, facts, facts.width, facts.height, settings.respect_orientation, pages)
        full = full.copy_memory()
        trim_box = _find_trim(_split_frames(full)[0] if pages else full, parsed.trim)
        plan = plan_for(trim_box)

    box, out_w, out_h = plan.crop_box, plan.width, plan.height
    sx, sy = out_w / box.width, out_h / box.height
    scaled_w, scaled_h = max(1, round(facts.width * sx)), max(1, round(facts.height * sy))
    if full is None:
        # A leading grayscale() is pointwise, so it can run before the rotation and the crop,
        # unless the focal-point detection or the debug outlines must see the colours first.
        grey = first_pixel_filter(plan) == "grayscale" and not plan.needs_smart_focus and not plan.debug
        image = _load_scaled(data, facts, scaled_w, scaled_h, settings.respect_orientation, pages, grey)
    elif (scaled_w, scaled_h) != (full.width, full_page_h := _page_height(full)):
        image = full.resize(scaled_w / full.width, vscale=scaled_h / full_page_h)
        if pages:
            image.set_type(pyvips.GValue.gint_type, "page-height", scaled_h)
    else:
        image = full
    if pages:
        image = image.copy_memory()  # libvips: frames are cut from the strip in any order

    if plan.needs_smart_focus:
        if not pages:
            image = image.copy_memory()  # read twice: once for attention, once for the crop
        first = _split_frames(image)[0] if pages else image
        plan = plan_for(trim_box, _detect_focus(first, plan, sx, sy))
        box = plan.crop_box

    frames = _split_frames(image) if pages else [image]
    left = round(box.left * sx)
    top = round(box.top * sy)
    return plan, [_cut(frame, left, top, out_w, out_h) for frame in frames]


def _cut(image: pyvips.Image, left: int, top: int, width: int, height: int) -> pyvips.Image:
    """The width x height box at (left, top) of a scaled frame, clamped inside it."""
    if (image.width, image.height) == (width, height):
        return image
    left = min(max(left, 0), max(image.width - width, 0))
    top = min(max(top, 0), max(image.height - height, 0))
    image = image.crop(left, top, min(width, image.width), min(height, image.height))
    if (image.width, image.height) != (width, height):  # rounding guard, at most a pixel
        image = image.resize(width / image.width, vscale=height / image.height)
    return image


def flip(image: pyvips.Image, ctx: FilterContext) -> pyvips.Image:
    plan = ctx.plan
    if plan.flip_vertical:
        # libvips: a vertical flip reads bottom-up, which a sequential load cannot do.
        image = image.copy_memory().flipver()
    if plan.flip_horizontal:
        image = image.fliphor()
    return image


def draw_focal_points(image: pyvips.Image, ctx: FilterContext) -> pyvips.Image:
    """Thumbor's debug mode: outline each focal point."""
    plan = ctx.plan
    if not plan.debug:
        return image
    image = image.copy_memory()
    ink = [255.0] + [0.0] * (image.bands - 1)
    for point in plan.focal_points:
        w, h = max(point.width, 10), max(point.height, 10)
        x = int(point.x) + plan.region.left - w // 2
        y = int(point.y) + plan.region.top - h // 2
        image = image.draw_rect(ink, x, y, w, h)
    return image


STEPS: tuple[Step, ...] = (flip, draw_focal_points, apply_filters)


def render(
    data: bytes,
    parsed: ParsedUrl,
    settings: RenderSettings,
    policy: FormatPolicy = DEFAULT_POLICY,
    marks: Mapping[str, bytes] | None = None,
) -> Rendered:
    """Probe, plan, transform and encode. Raises ImgserverError subclasses only."""
    started = time.perf_counter()
    facts = probe(data, settings.source_limits, settings.respect_orientation)
    if settings.alpha_renders > 0 and _premultiplies(data, facts):
        waiting = time.perf_counter()
        with _alpha_slots(settings.alpha_renders):
            started += time.perf_counter() - waiting  # the render time leaves out the wait
            return _render(data, parsed, settings, policy, marks, facts, started)
    return _render(data, parsed, settings, policy, marks, facts, started)


def _opaque_gif(data: bytes, facts: SourceFacts) -> bool:
    """A GIF loaded without its alpha band (every frame opaque, no ICC conversion)."""
    return facts.format == "gif" and not facts.has_icc and gif_is_opaque(data)


def _premultiplies(data: bytes, facts: SourceFacts) -> bool:
    """Whether the render resizes an alpha channel (an all-opaque GIF's is dropped first)."""
    return facts.has_alpha and not _opaque_gif(data, facts)


_SLOTS_LOCK = threading.Lock()
_SLOTS: dict[int, threading.Semaphore] = {}


def _alpha_slots(count: int) -> threading.Semaphore:
    """This process's places for renders of alpha sources (one semaphore per limit).

    # libvips: an alpha image is premultiplied and resized in float (16 bytes a pixel for
    # RGBA): a 1200x800 RGBA PNG -> 200x200 holds ~9 MB while it runs, against ~2 MB for an
    # opaque render. Two at once in one process took more memory and more time than one after
    # the other (paired runs, 2 processes: peak RSS 164-166 -> 139-140 MB, req/s +5%,
    # CPU per request -4%). Opaque jobs are not held back, but a render thread waiting here is
    # not free for them either: the default allows one per core machine-wide, so with one
    # serving process per core the other render threads keep the cores busy."""
    with _SLOTS_LOCK:
        slots = _SLOTS.get(count)
        if slots is None:
            slots = _SLOTS[count] = threading.Semaphore(count)
        return slots


def _render(
    data: bytes,
    parsed: ParsedUrl,
    settings: RenderSettings,
    policy: FormatPolicy,
    marks: Mapping[str, bytes] | None,
    facts: SourceFacts,
    started: float,
) -> Rendered:
    try:
        plan, frames = load_geometry(data, parsed, facts, settings, policy)
        out = []
        prepared: dict[tuple[object, ...], pyvips.Image] = {}  # overlays, shared by the frames
        for index, frame in enumerate(frames):
            ctx = FilterContext(plan, marks or {}, index, len(frames), prepared)
            for step in STEPS:
                frame = step(frame, ctx)
            out.append(frame)
        # libvips: the pipeline is lazy, so decoding happens inside encode; the split is
        # "building the pipeline" vs "running it and encoding".
        encoding = time.perf_counter()
        body = encode(out, plan, settings.encode)
        done = time.perf_counter()
    except pyvips.Error:
        # Errors surface while pixels are pulled through the pipeline: the source's data
        # is corrupt or truncated (the header was already read fine).
        raise Unprocessable("source image cannot be decoded") from None
    finally:
        if facts.width * facts.height * facts.frames * (4 if facts.has_alpha else 3) >= TRIM_AFTER_BYTES:
            HEAP.mark()
    return Rendered(body, plan.output.mime, plan, encoding - started, done - encoding)


def describe(
    data: bytes, parsed: ParsedUrl, settings: RenderSettings, policy: FormatPolicy = DEFAULT_POLICY
) -> tuple[SourceFacts, Plan]:
    """The plan only (for /meta). Decodes pixels only when trim or smart need them."""
    facts = probe(data, settings.source_limits, settings.respect_orientation)
    if parsed.trim is None and not parsed.smart:
        return facts, build_plan(parsed, facts, settings.plan_limits, settings.qualities, policy=policy)
    try:
        plan, _ = load_geometry(data, parsed, facts, settings, policy)
    except pyvips.Error:
        raise Unprocessable("source image cannot be decoded") from None
    return facts, plan


__all__ = ["STEPS", "RenderSettings", "Rendered", "describe", "render"]
