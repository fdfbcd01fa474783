"""The Loader protocol every source of originals implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

#: How many leading bytes ``stat`` returns: enough to recognise every format we load.
HEAD_BYTES = 64


@dataclass(frozen=True)
class SourceInfo:
    """What identifies one version of an original, learnt without reading it whole."""

    #: Changes whenever the content may have changed (ETag, or size + mtime).
    identity: str
    last_modified: datetime | None
    size: int
    #: The first :data:`HEAD_BYTES` bytes (fewer for a shorter source), to tell its format.
    head: bytes


@dataclass(frozen=True)
class Source:
    """An original's bytes and what identifies this version of it."""

    data: bytes
    #: Changes whenever the content may have changed (ETag, or size + mtime).
    identity: str
    last_modified: datetime | None = None

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(self.identity, self.last_modified, len(self.data), self.data[:HEAD_BYTES])


def as_utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC, whole seconds (HTTP dates have no fraction); naive means UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


class Loader(Protocol):
    async def load(self, key: str, max_bytes: int) -> Source:
        """The bytes of ``key``. Raises NotFound (also for refused keys), SourceTooLarge,
        UpstreamError or UpstreamTimeout."""
        ...

    async def stat(self, key: str, max_bytes: int) -> SourceInfo | None:
        """The identity of ``key`` without its body (same errors as ``load``), so a 304 or
        a result-cache hit needs no download; None when the store cannot tell cheaply
        (the caller then loads)."""
        ...

    async def close(self) -> None: ...

    # Optional, for loaders whose reads are local and cheap (the file loader):
    # ``read(key, max_bytes) -> Source``, the blocking form of ``load``, called on a render
    # thread so a render needs one thread hop. Remote loaders do not have it.
