"""The filesystem result cache: ``<root>/<source key>/<hash>.<ext>``."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from imgserver.plan.model import MIME_BY_EXTENSION
from imgserver.storage.base import CachedResult
from imgserver.storage.objects import atomic_write, open_inside, read_and_close, remove_tree


class FileResultStore:
    """Results as files; writes are atomic (temp file + rename), so a reader never sees a
    half-written result, and several processes can share one folder.

    A hit is read on the event loop when the result is small (an open, an fstat and a read of
    a page-cached local file cost tens of microseconds, less than a thread hop: +10% hits/s),
    larger ones in a thread. Like the file loader's root, the folder must be a local disk."""

    #: Results up to this size are read on the event loop.
    LOOP_READ_BYTES = 256 * 1024

    def __init__(self, root: str | os.PathLike[str], ttl: int = 0) -> None:
        self.root = Path(root).resolve()
        self.ttl = ttl

    def _path(self, name: str) -> Path:
        # Names come from plan.keys.result_path, which refuses ".." and absolute keys.
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"result name leaves the cache folder: {name!r}")
        return path

    def _open(self, name: str) -> tuple[int, int, str] | None:
        """(descriptor, size, MIME type) of a fresh result file for ``name``, or None."""
        # Names come from plan.keys.result_path (no "..", not absolute); open_inside also
        # refuses a symlink out of the folder, without an lstat per path component.
        opened = open_inside(str(self.root), name)
        if opened is None:
            return None
        fd, info = opened
        if self.ttl and info.st_mtime < time.time() - self.ttl:
            os.close(fd)
            return None
        mime = MIME_BY_EXTENSION.get(os.path.splitext(name)[1].lstrip("."), "application/octet-stream")
        return fd, info.st_size, mime

    @staticmethod
    def _read_all(fd: int, size: int) -> bytes:
        return read_and_close(fd, sys.maxsize, size)

    def _write(self, name: str, result: CachedResult) -> None:
        atomic_write(self._path(name), result.body)

    async def get(self, name: str) -> CachedResult | None:
        opened = self._open(name)  # on the loop: see the class docstring
        if opened is None:
            return None
        fd, size, mime = opened
        if size > self.LOOP_READ_BYTES:
            # Shielded: a cancelled request must not stop the job that owns (and closes) fd.
            return CachedResult(await asyncio.shield(asyncio.to_thread(self._read_all, fd, size)), mime)
        return CachedResult(self._read_all(fd, size), mime)

    async def put(self, name: str, result: CachedResult) -> None:
        await asyncio.to_thread(self._write, name, result)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(remove_tree, self._path(prefix))

    async def close(self) -> None:
        return None
