"""Watermark and frame images: loaded through the configured loader, cached in memory.

A mark is the same small image on every request, so it is kept (encoded bytes, bounded by
count and total size, for ``ttl`` seconds) instead of being fetched each time. A missing
mark is the URL's fault, so it is a 400, not a 404.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from imgserver.errors import BadRequest, NotFound
from imgserver.sources.base import Loader, Source
from imgserver.url.grammar import ParsedUrl

MARK_FILTERS = ("watermark", "frame")


class MarkCache:
    def __init__(self, loader: Loader, entries: int, max_bytes: int, ttl: float = 300.0) -> None:
        self.loader = loader
        self.entries = entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._items: OrderedDict[str, tuple[float, Source]] = OrderedDict()
        self._bytes = 0
        #: Loads that went to the loader (a test and metrics hook).
        self.misses = 0

    def _evict(self) -> None:
        while self._items and (len(self._items) > self.entries or self._bytes > self.max_bytes):
            _, (_, source) = self._items.popitem(last=False)
            self._bytes -= len(source.data)

    async def get(self, key: str, max_bytes: int) -> Source:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            self._items.move_to_end(key)
            return hit[1]
        self.misses += 1
        try:
            source = await self.loader.load(key, max_bytes)
        except NotFound:
            raise BadRequest(f"watermark/frame image not found: {key[:100]}") from None
        if hit is not None:
            self._bytes -= len(hit[1].data)
            del self._items[key]
        if len(source.data) <= self.max_bytes and self.entries > 0:
            self._items[key] = (now, source)
            self._bytes += len(source.data)
            self._evict()
        return source

    async def for_request(self, parsed: ParsedUrl, max_bytes: int) -> dict[str, Source]:
        """Every mark the URL's filters name, by key."""
        keys = {str(c.args[0]) for c in parsed.filters if c.name in MARK_FILTERS and c.args}
        return {key: await self.get(key, max_bytes) for key in sorted(keys)}
