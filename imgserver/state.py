"""What the handlers share in one process: settings, the loader, the render pool."""

from __future__ import annotations

from dataclasses import dataclass

from imgserver.imaging.encode import EncodeSettings
from imgserver.imaging.probe import SourceLimits
from imgserver.imaging.steps import RenderSettings
from imgserver.marks import MarkCache
from imgserver.plan.build import PlanLimits, Qualities
from imgserver.plan.negotiate import NegotiationSettings
from imgserver.pool import RenderPool
from imgserver.settings import Settings
from imgserver.sources.base import Loader


@dataclass
class AppState:
    settings: Settings
    loader: Loader
    pool: RenderPool
    render: RenderSettings
    marks: MarkCache
    negotiation: NegotiationSettings
    #: Requests being handled now (graceful shutdown waits for 0).
    in_flight: int = 0


def negotiation_settings(settings: Settings) -> NegotiationSettings:
    f = settings.formats
    return NegotiationSettings(auto_webp=f.auto_webp, auto_avif=f.auto_avif, preference=f.preference)


def render_settings(settings: Settings) -> RenderSettings:
    """The slice of Settings the imaging code needs (plain frozen values, no I/O)."""
    limits, imaging, formats = settings.limits, settings.imaging, settings.formats
    return RenderSettings(
        source_limits=SourceLimits(
            max_pixels=limits.max_source_pixels,
            max_interlaced_pixels=limits.max_interlaced_pixels,
            max_frames=limits.max_frames,
            allow_svg=settings.formats.allow_svg,
        ),
        plan_limits=PlanLimits(limits.max_output_width, limits.max_output_height),
        qualities=Qualities(formats.jpeg_quality, formats.webp_quality, formats.avif_quality),
        encode=EncodeSettings(
            jpeg_progressive=formats.jpeg_progressive,
            jpeg_optimize=formats.jpeg_optimize,
            png_compression=formats.png_compression,
            avif_effort=formats.avif_effort,
            gif_effort=formats.gif_effort,
            png_filter=formats.png_filter,
        ),
        respect_orientation=imaging.respect_orientation,
    )
