"""make_app(state) → the Tornado Application and its route table; access logging."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import tornado.web

from imgserver.handlers.base import BaseHandler
from imgserver.handlers.console import ConsoleHandler
from imgserver.handlers.health import HealthHandler, MetricsHandler, RootHandler
from imgserver.handlers.image import ImageHandler
from imgserver.handlers.upload import ImageApiHandler, ListHandler, MetadataHandler, SignHandler, UploadHandler
from imgserver.imaging.steps import RenderSettings
from imgserver.ingest import Ingestor, IngestRules
from imgserver.marks import MarkCache
from imgserver.metrics import count_request, observe
from imgserver.pool import RenderPool
from imgserver.settings import Settings, effective_threads
from imgserver.singleflight import SingleFlight
from imgserver.sources.base import Loader
from imgserver.sources.file import FileLoader
from imgserver.state import AppState, negotiation_settings, render_settings
from imgserver.storage.base import ResultStore
from imgserver.storage.objects import FileObjectStore, ObjectStore

if TYPE_CHECKING:
    from imgserver.s3client import S3Client

access_log = logging.getLogger("imgserver.access")


_ROUTES = {
    "ImageHandler": "image",
    "HealthHandler": "health",
    "MetricsHandler": "metrics",
    "UploadHandler": "upload",
    "ImageApiHandler": "api",
    "MetadataHandler": "api",
    "ListHandler": "api",
    "SignHandler": "api",
    "ConsoleHandler": "console",
}


def log_request(handler: tornado.web.RequestHandler) -> None:
    """One line per request (status, method, path, total and per-phase milliseconds, request
    id) and the request metrics."""
    status = handler.get_status()
    total = handler.request.request_time()
    phases: dict[str, float] = getattr(handler, "timings", {})
    route = _ROUTES.get(type(handler).__name__, "other")
    count_request(route, handler.request.method or "", status)
    observe("total", total)
    parts = " ".join(f"{name}={1000.0 * secs:.1f}ms" for name, secs in phases.items())
    reason = getattr(handler, "_error_reason", "")
    request_id = getattr(handler, "request_id", "")
    level = logging.INFO if status < 500 else logging.ERROR
    access_log.log(
        level,
        "%d %s %s %.1fms%s%s",
        status,
        handler.request.method,
        handler.request.path,
        1000.0 * total,
        f" {parts}" if parts else "",
        f' reason="{reason}"' if reason else "",
        extra={
            "request_id": request_id,
            "status": status,
            "method": handler.request.method,
            "path": handler.request.path,
            "ms": round(1000.0 * total, 1),
            "phases_ms": {name: round(1000.0 * secs, 1) for name, secs in phases.items()},
            "reason": reason or None,
        },
    )


def make_loader(settings: Settings) -> Loader:
    """The file loader; S3 and HTTP loaders need I/O to open (imgserver.wiring.open_state)."""
    return FileLoader(settings.file.root)


#: Metadata documents are small; anything bigger in the metadata bucket is not ours.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


def make_object_stores(settings: Settings, s3_client: S3Client | None = None) -> tuple[ObjectStore, ObjectStore]:
    """(originals, metadata) for ``storage.kind``: folders below ``storage.root``, or
    ``s3.originals_bucket`` (under ``s3.prefix``, so the S3 loader serves uploads) and
    ``s3.metadata_bucket`` through the process's S3 client."""
    if settings.storage.kind == "s3":
        from imgserver.storage.s3 import S3ObjectStore

        if s3_client is None:
            raise RuntimeError("storage.kind = s3 needs the process's S3 client (imgserver.wiring opens it)")
        s3 = settings.s3
        max_original = max(settings.limits.max_source_bytes, settings.upload.max_bytes)
        return (
            S3ObjectStore(s3_client, s3.originals_bucket, s3.prefix, max_bytes=max_original),
            S3ObjectStore(s3_client, s3.metadata_bucket, max_bytes=MAX_DOCUMENT_BYTES),
        )
    root = Path(settings.storage.root)
    return FileObjectStore(root / "originals"), FileObjectStore(root / "metadata")


def make_ingestor(
    settings: Settings, pool: RenderPool, render: RenderSettings, s3_client: S3Client | None = None
) -> Ingestor:
    rules = IngestRules(
        limits=render.source_limits,
        min_width=settings.upload.min_width,
        min_height=settings.upload.min_height,
        allow_gps=settings.upload.allow_gps,
    )
    originals, metadata = make_object_stores(settings, s3_client)
    return Ingestor(originals, metadata, pool, rules)


def make_state(
    settings: Settings,
    loader: Loader | None = None,
    store: ResultStore | None = None,
    s3_client: S3Client | None = None,
) -> AppState:
    loader = loader or make_loader(settings)
    state = AppState(
        settings=settings,
        loader=loader,
        pool=RenderPool(effective_threads(settings), settings.imaging.queue_size, settings.imaging.queue_timeout),
        render=render_settings(settings),
        marks=MarkCache(loader, settings.filters.mark_cache_entries, settings.filters.mark_cache_bytes),
        negotiation=negotiation_settings(settings),
        store=store,
        flights=SingleFlight(settings.imaging.coalesce_linger, lambda outcome: not outcome.cached),
    )
    if settings.upload.enabled:
        state.ingestor = make_ingestor(settings, state.pool, state.render, s3_client)
    return state


#: First segments of the routes that are not image URLs (an image URL's first segment is
#: ``unsafe`` or a signature).
_RESERVED = ("healthcheck", "metrics", "image", "images", "api", "console")


def make_app(state: AppState) -> tornado.web.Application:
    # Tornado tries rules in order, one regex each: image URLs, nearly every request, match
    # the first rule unless their first segment is reserved; those fall through as before.
    image_first = r"/(?!(?:" + "|".join(_RESERVED) + r")(?:/|$))(.+)"
    return tornado.web.Application(
        [
            (image_first, ImageHandler),
            (r"/healthcheck", HealthHandler),
            (r"/metrics", MetricsHandler),
            (r"/image", UploadHandler),
            (r"/image/(.+)/metadata", MetadataHandler),
            (r"/image/(.+)", ImageApiHandler),
            (r"/images", ListHandler),
            (r"/api/sign", SignHandler),
            (r"/console/?", ConsoleHandler),
            (r"/console/([^/]+)", ConsoleHandler),
            (r"/", RootHandler),
            (r"/(.+)", ImageHandler),
        ],
        state=state,
        log_function=log_request,
        default_handler_class=BaseHandler,
        compress_response=False,
    )
