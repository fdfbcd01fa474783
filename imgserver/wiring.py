"""Opening and closing what a serving process holds: loader, result cache, S3 client.

The S3 client is created here once per process (after the pre-fork, so no connection is
shared between processes) and closed at shut-down; the loader and the S3 result cache
share it.
"""

from __future__ import annotations

from imgserver.app import make_state
from imgserver.results import drain
from imgserver.s3client import S3Handle, open_s3
from imgserver.settings import Settings
from imgserver.sources.base import Loader
from imgserver.sources.file import FileLoader
from imgserver.state import AppState
from imgserver.storage.base import ResultStore
from imgserver.storage.fs import FileResultStore


async def open_state(settings: Settings) -> AppState:
    """The AppState for ``settings``, with every connection it needs opened. Raises
    RuntimeError for start-up faults (e.g. no AWS credentials)."""
    handle: S3Handle | None = None
    if settings.loader.kind == "s3" or settings.result_cache.kind == "s3":
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
    state = make_state(settings, loader=loader, store=store)
    state.closers.append(loader.close)
    if store is not None:
        state.closers.append(store.close)
    if handle is not None:
        state.closers.append(handle.close)
    return state


async def close_state(state: AppState, grace: float = 5.0) -> None:
    """Finish background stores (at most ``grace`` s), stop the render pool, close connections."""
    await drain(state, grace)
    state.pool.shutdown()
    for close in state.closers:
        await close()
