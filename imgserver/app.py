"""make_app(state) → the Tornado Application and its route table; access logging."""

from __future__ import annotations

import logging
from pathlib import Path

import tornado.web

from imgserver.handlers.base import BaseHandler
from imgserver.handlers.console import ConsoleHandler
from imgserver.handlers.health import HealthHandler, MetricsHandler, RootHandler
from imgserver.handlers.image import ImageHandler
from imgserver.handlers.upload import ImageApiHandler, ListHandler, MetadataHandler, SignHandler, UploadHandler
from imgserver.imaging.steps import RenderSettings
from imgserver.ingest import Ingestor, IngestRules
from imgserver.marks import MarkCache
from imgserver.metrics import REQUESTS, observe
from imgserver.pool import RenderPool
from imgserver.settings import Settings, effective_threads
from imgserver.sources.base import Loader
from imgserver.sources.file import FileLoader
from imgserver.state import AppState, negotiation_settings, render_settings
from imgserver.storage.base import ResultStore
from imgserver.storage.objects import FileObjectStore

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
    REQUESTS.labels(route, handler.request.method or "", str(status)).inc()
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


def make_ingestor(settings: Settings, pool: RenderPool, render: RenderSettings) -> Ingestor:
    root = Path(settings.storage.root)
    rules = IngestRules(
        limits=render.source_limits,
        min_width=settings.upload.min_width,
        min_height=settings.upload.min_height,
        allow_gps=settings.upload.allow_gps,
    )
    return Ingestor(FileObjectStore(root / "originals"), FileObjectStore(root / "metadata"), pool, rules)


def make_state(settings: Settings, loader: Loader | None = None, store: ResultStore | None = None) -> AppState:
    loader = loader or make_loader(settings)
    state = AppState(
        settings=settings,
        loader=loader,
        pool=RenderPool(effective_threads(settings), settings.imaging.queue_size, settings.imaging.queue_timeout),
        render=render_settings(settings),
        marks=MarkCache(loader, settings.filters.mark_cache_entries, settings.filters.mark_cache_bytes),
        negotiation=negotiation_settings(settings),
        store=store,
    )
    if settings.upload.enabled:
        state.ingestor = make_ingestor(settings, state.pool, state.render)
    return state


def make_app(state: AppState) -> tornado.web.Application:
    return tornado.web.Application(
        [
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
