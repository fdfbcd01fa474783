"""Getting one rendered result: the result cache, single-flight, render, store later.

The image handler calls :func:`locate` (the source's identity, without its body when
the loader can tell it cheaply), answers 304s itself, then calls :func:`obtain`. For
one result key, concurrent requests share one flight: a result-cache lookup, and on a
miss one download and one render. The result is answered before it is stored; store
faults are logged and counted, never a client error.

The handler computes the result key once (it is also the ETag) and passes it, and the
render call itself, so their arguments stay in one place.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from imgserver.imaging.steps import Rendered
from imgserver.metrics import SOURCE_BYTES, count, observe
from imgserver.plan.keys import expected_format, result_path
from imgserver.plan.model import MIME_TYPES
from imgserver.plan.sniff import sniff_format
from imgserver.singleflight import Abandonment
from imgserver.sources.base import Source, SourceInfo
from imgserver.state import AppState
from imgserver.storage.base import CachedResult
from imgserver.url.grammar import ParsedUrl

log = logging.getLogger("imgserver.results")


@dataclass(frozen=True)
class Located:
    """A source's identity, and its bytes when the loader had to download them to tell."""

    info: SourceInfo
    source: Source | None = None


@dataclass(frozen=True)
class Outcome:
    result: CachedResult
    #: Served from the result cache (nothing decoded).
    cached: bool


async def locate(state: AppState, key: str) -> Located:
    """Stat the source (NotFound, SourceTooLarge, UpstreamError, UpstreamTimeout).

    A loader that cannot tell a source's identity without its body (the HTTP loader, whose
    identity is a hash of the body) downloads it here, before the flight and the admission:
    for such sources concurrent requests each download, and the bytes are held while waiting."""
    max_bytes = state.settings.limits.max_source_bytes
    info = await state.loader.stat(key, max_bytes)
    if info is not None:
        return Located(info)
    source = await _load(state, key)
    return Located(source.info, source)


async def obtain(
    state: AppState,
    parsed: ParsedUrl,
    located: Located,
    digest: str,
    accepted: tuple[str, ...],
    draw: Callable[[bytes], Rendered],
    gone: threading.Event | None = None,
) -> Outcome:
    """The encoded result for ``parsed``: from the result cache, or ``draw(source bytes)``
    run once in the render pool for every concurrent request with the same result key.

    ``digest`` is the request's :func:`~imgserver.plan.keys.result_key` (request, source
    version, and everything else that shapes the bytes: negotiated formats, watermark
    versions); ``accepted`` the negotiated formats; ``gone`` is set if this client disconnects
    (the render is skipped when every client is gone)."""
    auto_jpg = state.settings.formats.auto_png_to_jpg
    fmt = expected_format(parsed, accepted, sniff_format(located.info.head), auto_jpg)
    name = result_path(parsed.image, digest, fmt) if state.store is not None and fmt else None
    mime = MIME_TYPES.get(fmt or "", "")
    if not state.settings.imaging.coalesce:
        alone = Abandonment()
        alone.add(gone)
        return await _produce(state, parsed, located, name, mime, draw, alone)
    if state.flights.joinable(digest):
        count(state.metrics, "coalesced")  # joins a load + render under way, or just landed
    return await state.flights.do(
        digest, lambda abandoned: _produce(state, parsed, located, name, mime, draw, abandoned), gone
    )


async def _load(state: AppState, key: str) -> Source:
    return _loaded(state, await state.loader.load(key, state.settings.limits.max_source_bytes))


def _loaded(state: AppState, source: Source) -> Source:
    """Count one source load (on the event loop: the tally is not thread-safe)."""
    count(state.metrics, "source_loads")
    SOURCE_BYTES.inc(len(source.data))
    return source


async def _produce(
    state: AppState,
    parsed: ParsedUrl,
    located: Located,
    name: str | None,
    expected_mime: str,
    draw: Callable[[bytes], Rendered],
    abandoned: Abandonment,
) -> Outcome:
    if name is not None:
        started = time.perf_counter()
        cached = await _cache_get(state, name)
        observe("cache", time.perf_counter() - started)
        if cached is not None:
            return Outcome(cached, cached=True)
    # Admitted before loading: a miss waiting for a render thread holds no source bytes (except
    # what locate() had to download), so memory stays flat however many clients queue; cache
    # hits never wait here.
    async with state.pool.admit(abandoned):
        read: Callable[[str, int], Source] | None = getattr(state.loader, "read", None)
        if located.source is None and read is not None:
            # A local loader: the render job reads the file itself (one thread hop, not two).
            max_bytes = state.settings.limits.max_source_bytes
            job = (read, parsed.image, max_bytes, draw)
            source, rendered = await state.pool.run(_read_and_draw, *job, cancel=abandoned)
            _loaded(state, source)
        else:
            started = time.perf_counter()
            source = located.source or await _load(state, parsed.image)
            observe("load", time.perf_counter() - started)
            rendered = await state.pool.run(draw, source.data, cancel=abandoned)
    count(state.metrics, "renders")
    observe("render", rendered.render_seconds)
    observe("encode", rendered.encode_seconds)
    result = CachedResult(rendered.body, rendered.mime)
    # Store only what the name promises: same source version, same format.
    if name is not None and source.identity == located.info.identity and rendered.mime == expected_mime:
        _store_later(state, name, result)
    return Outcome(result, cached=False)


def _read_and_draw(
    read: Callable[[str, int], Source], key: str, max_bytes: int, draw: Callable[[bytes], Rendered]
) -> tuple[Source, Rendered]:
    """Read a local source and render it, on a render thread."""
    started = time.perf_counter()
    source = read(key, max_bytes)
    observe("load", time.perf_counter() - started)
    return source, draw(source.data)


async def _cache_get(state: AppState, name: str) -> CachedResult | None:
    assert state.store is not None
    try:
        cached = await state.store.get(name)
    except Exception as exc:  # a cache fault must not fail the request: render instead
        count(state.metrics, "result_cache_errors")
        log.warning("result cache read of %s failed: %r", name, exc)
        return None
    count(state.metrics, "result_cache_hits" if cached is not None else "result_cache_misses")
    return cached


def _store_later(state: AppState, name: str, result: CachedResult) -> None:
    """Store in the background: the client never waits for it."""
    task = asyncio.ensure_future(_store(state, name, result))
    state.background.add(task)
    task.add_done_callback(state.background.discard)


async def _store(state: AppState, name: str, result: CachedResult) -> None:
    assert state.store is not None
    started = time.perf_counter()
    try:
        await state.store.put(name, result)
        observe("store", time.perf_counter() - started)
    except Exception as exc:  # logged and counted, never a client error
        count(state.metrics, "result_cache_store_failures")
        log.warning("result cache write of %s failed: %r", name, exc)
    else:
        count(state.metrics, "result_cache_stores")


async def drain(state: AppState, grace: float) -> None:
    """Wait at most ``grace`` seconds for background stores, e.g. at shut-down."""
    if state.background:
        await asyncio.wait(set(state.background), timeout=grace)
