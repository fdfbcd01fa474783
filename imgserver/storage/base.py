"""The ResultStore protocol: rendered results by name (``<source key>/<hash>.<ext>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CachedResult:
    body: bytes
    mime: str


class ResultStore(Protocol):
    async def get(self, name: str) -> CachedResult | None:
        """The stored result, or None when absent or older than the TTL. Raises on store
        faults; the caller counts them and renders instead."""
        ...

    async def put(self, name: str, result: CachedResult) -> None:
        """Store (or replace) a result. Raises on store faults; the caller logs them."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every result stored under ``prefix/`` (all results of one original)."""
        ...

    async def close(self) -> None: ...
