"""The filesystem result cache: ``<root>/<source key>/<hash>.<ext>``."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from imgserver.plan.model import MIME_BY_EXTENSION
from imgserver.storage.base import CachedResult
from imgserver.storage.objects import atomic_write, remove_tree


class FileResultStore:
    """Results as files; writes are atomic (temp file + rename), so a reader never sees a
    half-written result, and several processes can share one folder."""

    def __init__(self, root: str | os.PathLike[str], ttl: int = 0) -> None:
        self.root = Path(root).resolve()
        self.ttl = ttl

    def _path(self, name: str) -> Path:
        # Names come from plan.keys.result_path, which refuses ".." and absolute keys.
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"result name leaves the cache folder: {name!r}")
        return path

    def _read(self, name: str) -> CachedResult | None:
        path = self._path(name)
        try:
            with open(path, "rb") as fh:
                if self.ttl and os.fstat(fh.fileno()).st_mtime < time.time() - self.ttl:
                    return None
                body = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return CachedResult(body, MIME_BY_EXTENSION.get(path.suffix.lstrip("."), "application/octet-stream"))

    def _write(self, name: str, result: CachedResult) -> None:
        atomic_write(self._path(name), result.body)

    async def get(self, name: str) -> CachedResult | None:
        return await asyncio.to_thread(self._read, name)

    async def put(self, name: str, result: CachedResult) -> None:
        await asyncio.to_thread(self._write, name, result)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(remove_tree, self._path(prefix))

    async def close(self) -> None:
        return None
