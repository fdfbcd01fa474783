"""The Loader protocol every source of originals implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Source:
    """An original's bytes and what identifies this version of it."""

    data: bytes
    #: Changes whenever the content may have changed (ETag, or size + mtime).
    identity: str
    last_modified: datetime | None = None


class Loader(Protocol):
    async def load(self, key: str, max_bytes: int) -> Source:
        """The bytes of ``key``. Raises NotFound (also for refused keys), SourceTooLarge,
        UpstreamError or UpstreamTimeout."""
        ...

    async def close(self) -> None: ...
