"""The filesystem loader: keys are paths below one root folder."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from imgserver.errors import NotFound, SourceTooLarge
from imgserver.sources.base import HEAD_BYTES, Source, SourceInfo
from imgserver.storage.objects import check_name


def resolve_key(root: Path, key: str) -> Path:
    """The file for ``key`` (already percent-decoded) inside ``root``, or NotFound.

    Refused keys — ``..`` segments, absolute paths, NUL bytes, symlinks that leave the
    root — give the same NotFound as a missing file, so a client cannot probe which
    paths exist outside the root."""
    candidate = root.joinpath(*check_name(key).split("/"))
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound() from None
    if not real.is_relative_to(root):
        raise NotFound()
    return real


class FileLoader:
    """Serves keys below ``root``; blocking file I/O runs off the event loop."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _read(self, key: str, max_bytes: int, whole: bool = True) -> tuple[Source, int]:
        """The file's bytes (only the first HEAD_BYTES unless ``whole``) and its identity."""
        path = resolve_key(self.root, key)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            raise NotFound() from None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise NotFound()
            if info.st_size > max_bytes:
                raise SourceTooLarge(f"source image is {info.st_size} bytes, over the limit of {max_bytes}")
            data = fh.read(max_bytes + 1 if whole else HEAD_BYTES)
        if len(data) > max_bytes:  # grew while we read it
            raise SourceTooLarge(f"source image is over the limit of {max_bytes} bytes")
        modified = datetime.fromtimestamp(info.st_mtime, tz=UTC).replace(microsecond=0)
        return Source(data, f"{info.st_size:x}-{info.st_mtime_ns:x}", modified), info.st_size

    async def load(self, key: str, max_bytes: int) -> Source:
        source, _ = await asyncio.to_thread(self._read, key, max_bytes)
        return source

    async def stat(self, key: str, max_bytes: int) -> SourceInfo:
        head, size = await asyncio.to_thread(self._read, key, max_bytes, False)
        return SourceInfo(head.identity, head.last_modified, size, head.data)

    async def close(self) -> None:
        return None
