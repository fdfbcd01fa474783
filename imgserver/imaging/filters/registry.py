"""The pixel-filter registry: Thumbor filter name → ``(image, call, ctx) -> image``.

Filters that only change decisions (format, quality, focal, stretch, no_upscale, …) are not
here: the planner, the handler or the encoder apply them (see :data:`PLANNED`). Pixel filters
run after the geometry, in URL order, once per frame of an animation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pyvips

from imgserver.plan.model import Plan
from imgserver.url.filters import FilterCall


@dataclass(frozen=True)
class FilterContext:
    plan: Plan
    #: Encoded watermark / frame images by their key, preloaded by the handler.
    marks: Mapping[str, bytes] = field(default_factory=dict)
    frame: int = 0
    frames: int = 1
    #: One render's prepared overlays (a faded, resized mark; a drawn nine-patch), shared by
    #: every frame of an animation so they are prepared once, not once per frame.
    prepared: dict[tuple[object, ...], pyvips.Image] = field(default_factory=dict, compare=False, repr=False)

    def prepare(
        self, ident: tuple[object, ...], build: Callable[[], pyvips.Image], max_pixels: int
    ) -> pyvips.Image:
        """``build()``, once per render for ``ident``. With several frames a result of at most
        ``max_pixels`` (the frame's size) is materialised: otherwise its lazy pipeline (decode,
        fade, resize) would run again inside every frame's composite. A larger one (a
        watermark ratio box up to 10x the frame) stays lazy: each frame's composite computes
        only the part that lands on it, where materialising all of it could take gigabytes."""
        image = self.prepared.get(ident)
        if image is None:
            image = build()
            if self.frames > 1 and image.width * image.height <= max_pixels:
                image = image.copy_memory()
            self.prepared[ident] = image
        return image


PixelFilter = Callable[[pyvips.Image, FilterCall, FilterContext], pyvips.Image]
PIXEL_FILTERS: dict[str, PixelFilter] = {}

#: Filters applied by planning (plan/build.py), the handler (max_age) or the encoder.
PLANNED = frozenset(
    {
        "format",  # plan: output format
        "quality",  # plan: encoder quality
        "autojpg",  # plan: opaque PNG → JPEG
        "cover",  # plan: first frame of an animation only
        "focal",  # plan: explicit focal points
        "extract_focal",  # handler + plan: inner URL's crop becomes the focal point
        "stretch",  # plan: no crop to ratio
        "no_upscale",  # plan: request box clamped to the source
        "max_age",  # handler: Cache-Control max-age
        "max_bytes",  # encoder: quality search under a byte budget
        "strip_exif",  # encoder: metadata is always stripped
        "strip_icc",  # encoder: ICC is converted to sRGB and stripped
    }
)


def pixel_filter(name: str) -> Callable[[PixelFilter], PixelFilter]:
    """Register ``fn`` as the implementation of Thumbor filter ``name``."""

    def register(fn: PixelFilter) -> PixelFilter:
        if name in PIXEL_FILTERS or name in PLANNED:
            raise RuntimeError(f"filter {name} registered twice")
        PIXEL_FILTERS[name] = fn
        return fn

    return register


def first_pixel_filter(plan: Plan) -> str | None:
    """The name of the first pixel filter the plan runs, if any."""
    return next((call.name for call in plan.filters if call.name in PIXEL_FILTERS), None)


def apply_filters(image: pyvips.Image, ctx: FilterContext) -> pyvips.Image:
    """Run the plan's pixel filters in URL order."""
    for call in ctx.plan.filters:
        fn = PIXEL_FILTERS.get(call.name)
        if fn is not None:
            image = fn(image, call, ctx)
    return image
