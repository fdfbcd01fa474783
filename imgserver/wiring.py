"""Opening and closing what a process holds: loader, result cache, object stores, S3 client.

The S3 client is created here once per process (after the pre-fork, so no connection is
shared between processes) and closed at shut-down; the loader, the S3 result cache and the
S3 object stores of ingest share it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from imgserver.app import make_ingestor, make_state
from imgserver.ingest import Ingestor
from imgserver.pool import RenderPool
from imgserver.results import drain
from imgserver.settings import Settings
from imgserver.sources.base import Loader
from imgserver.sources.file import FileLoader
from imgserver.state import AppState, render_settings
from imgserver.storage.base import ResultStore
from imgserver.storage.fs import FileResultStore

if TYPE_CHECKING:
    # Imported only where S3 is used: botocore costs ~30 MB of memory per process.
    from imgserver.s3client import S3Handle


async def open_state(settings: Settings) -> AppState:
    """The AppState for ``settings``, with every connection it needs opened. Raises
    RuntimeError for start-up faults (e.g. no AWS credentials)."""
    handle: S3Handle | None = None
    s3_stores = settings.upload.enabled and settings.storage.kind == "s3"
    if settings.loader.kind == "s3" or settings.result_cache.kind == "s3" or s3_stores:
        from imgserver.s3client import open_s3

        handle = await open_s3(settings.s3)
    loader: Loader
    if settings.loader.kind == "s3":
        from imgserver.sources.s3 import S3Loader

        assert handle is not None
        loader = S3Loader(handle.client, settings.s3.originals_bucket, settings.s3.prefix)
    elif settings.loader.kind == "http":
        from imgserver.sources.http import HttpLoader

        loader = HttpLoader(settings.http_loader)
    else:
        loader = FileLoader(settings.file.root)
    store: ResultStore | None = None
    cache = settings.result_cache
    if cache.kind == "file":
        store = FileResultStore(cache.root, cache.ttl)
    elif cache.kind == "s3":
        from imgserver.storage.s3 import S3ResultStore

        assert handle is not None
        store = S3ResultStore(handle.client, settings.s3.results_bucket, cache.ttl)
    state = make_state(settings, loader=loader, store=store, s3_client=handle.client if handle else None)
    state.closers.append(loader.close)
    if store is not None:
        state.closers.append(store.close)
    if handle is not None:
        state.closers.append(handle.close)
    return state


async def open_ingestor(settings: Settings, pool: RenderPool) -> tuple[Ingestor, Callable[[], Awaitable[None]]]:
    """The Ingestor of a process that only ingests (bulk import, worker, Lambda) and the
    function closing what it opened (the S3 client for ``storage.kind = s3``; the pool stays
    the caller's). Raises RuntimeError when no AWS credentials are found."""
    if settings.storage.kind != "s3":
        ingestor = make_ingestor(settings, pool, render_settings(settings))

        async def nothing() -> None:
            return None

        return ingestor, nothing
    from imgserver.s3client import open_s3

    handle = await open_s3(settings.s3)
    return make_ingestor(settings, pool, render_settings(settings), handle.client), handle.close


async def close_state(state: AppState, grace: float = 5.0) -> None:
    """Finish background stores (at most ``grace`` s), stop the render pool, close connections."""
    await drain(state, grace)
    state.pool.shutdown()
    for close in state.closers:
        await close()
