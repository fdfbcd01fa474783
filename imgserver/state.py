"""What the handlers share in one process: settings, the loader, the render pool."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imgserver.imaging.encode import EncodeSettings
from imgserver.imaging.probe import SourceLimits
from imgserver.imaging.steps import RenderSettings
from imgserver.ingest import Ingestor
from imgserver.marks import MarkCache
from imgserver.plan.build import PlanLimits, Qualities
from imgserver.plan.negotiate import NegotiationSettings
from imgserver.pool import RenderPool
from imgserver.settings import Settings, effective_alpha_renders
from imgserver.singleflight import SingleFlight
from imgserver.sources.base import Loader
from imgserver.storage.base import ResultStore

if TYPE_CHECKING:
    from imgserver.results import Outcome


@dataclass
class AppState:
    settings: Settings
    loader: Loader
    pool: RenderPool
    render: RenderSettings
    marks: MarkCache
    negotiation: NegotiationSettings
    #: The ingest pipeline when the upload API is enabled.
    ingestor: Ingestor | None = None
    #: Requests being handled now (graceful shutdown waits for 0).
    in_flight: int = 0
    # --- issue 4: result cache, single-flight, counters, lifecycle ---
    #: The result cache (None when ``result_cache.kind`` is ``none``).
    store: ResultStore | None = None
    #: Concurrent requests for one result share one load and render.
    flights: SingleFlight[Outcome] = field(default_factory=SingleFlight)
    #: Counters: source_loads, renders, result_cache_hits/misses/errors/stores/store_failures.
    metrics: Counter[str] = field(default_factory=Counter)
    #: Result-cache writes still running (awaited, bounded, at shut-down).
    background: set[asyncio.Task[None]] = field(default_factory=set)
    #: Closed in order at shut-down (loader, store, then the shared S3 client).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


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
            gif_dither=formats.gif_dither,
            gif_bitdepth=formats.gif_bitdepth,
            png_filter=formats.png_filter,
        ),
        respect_orientation=imaging.respect_orientation,
        alpha_renders=effective_alpha_renders(settings),
    )
