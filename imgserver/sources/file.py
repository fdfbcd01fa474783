"""The filesystem loader: keys are paths below one root folder."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from imgserver.errors import NotFound, SourceTooLarge
from imgserver.sources.base import HEAD_BYTES, Source, SourceInfo
from imgserver.storage.objects import check_name, open_inside, read_and_close


class FileLoader:
    """Serves keys below ``root``. Reading a whole file never runs on the event loop:
    ``load`` uses a thread, and :meth:`read` is called on a render thread (so a render needs
    one thread hop, not two). :meth:`stat` runs on the loop: an open, an fstat, a readlink and
    a 64-byte read of a local file take microseconds, less than the thread hop they would
    need (Tornado's own StaticFileHandler stats and reads on the loop). Do not point ``root``
    at a network filesystem that can stall; use the S3 loader for remote originals."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._root = str(self.root)

    def _open(self, key: str) -> tuple[int, os.stat_result]:
        """An open descriptor and fstat of the file for ``key`` (already percent-decoded), or
        NotFound.

        Refused keys — ``..`` segments, absolute paths, NUL bytes, symlinks that leave the
        root — give the same NotFound as a missing file, so a client cannot probe which
        paths exist outside the root. Symlinks inside the root are followed (see
        :func:`~imgserver.storage.objects.open_inside`)."""
        opened = open_inside(self._root, check_name(key))
        if opened is None:
            raise NotFound()
        return opened

    def _read(self, key: str, max_bytes: int, whole: bool = True) -> tuple[Source, int]:
        """The file's bytes (only the first HEAD_BYTES unless ``whole``) and its size."""
        fd, info = self._open(key)
        if info.st_size > max_bytes:
            os.close(fd)
            raise SourceTooLarge(f"source image is {info.st_size} bytes, over the limit of {max_bytes}")
        # Whole: up to one byte past the limit, so a file that grew while read is caught.
        data = read_and_close(fd, max_bytes + 1 if whole else HEAD_BYTES, info.st_size)
        if len(data) > max_bytes:
            raise SourceTooLarge(f"source image is over the limit of {max_bytes} bytes")
        modified = datetime.fromtimestamp(info.st_mtime, tz=UTC).replace(microsecond=0)
        return Source(data, f"{info.st_size:x}-{info.st_mtime_ns:x}", modified), info.st_size

    def read(self, key: str, max_bytes: int) -> Source:
        """Blocking :meth:`load`, for a render thread."""
        return self._read(key, max_bytes)[0]

    async def load(self, key: str, max_bytes: int) -> Source:
        source, _ = await asyncio.to_thread(self._read, key, max_bytes)
        return source

    async def stat(self, key: str, max_bytes: int) -> SourceInfo:
        head, size = self._read(key, max_bytes, False)  # on the loop: see the class docstring
        return SourceInfo(head.identity, head.last_modified, size, head.data)

    async def close(self) -> None:
        return None
