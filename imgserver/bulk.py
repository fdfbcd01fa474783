"""``imgserver ingest PATH...``: bulk import through the same ``ingest`` as uploads.

Several files at a time (bounded), a progress line, and a summary of done / already present /
failed with reasons. Ingest is idempotent, so re-running after an interruption skips what is
complete and finishes the rest.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from imgserver.errors import ImgserverError
from imgserver.ingest import Ingestor


@dataclass
class Summary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.failed)


def files_to_import(paths: Sequence[str]) -> Iterator[tuple[Path, str]]:
    """(file, name) pairs: a folder's files are named relative to the folder, hidden files and
    folders are skipped, a single file is named by its file name."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(path)
                if file.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield file, rel.as_posix()
        else:
            yield path, path.name


async def import_files(
    ingestor: Ingestor, paths: Sequence[str], uploader: str, jobs: int = 4, out: TextIO = sys.stderr
) -> Summary:
    items = list(files_to_import(paths))
    summary = Summary()
    limit = asyncio.Semaphore(max(1, jobs))

    def progress() -> None:
        out.write(
            f"\r{summary.total}/{len(items)}  done {len(summary.done)}  "
            f"already present {len(summary.skipped)}  failed {len(summary.failed)}"
        )
        out.flush()

    async def one(file: Path, name: str) -> None:
        async with limit:
            try:
                data = await asyncio.to_thread(file.read_bytes)
                result = await ingestor.ingest(data, name, uploader, "api")
            except ImgserverError as exc:
                summary.failed.append((str(file), exc.public_message))
            except OSError as exc:
                summary.failed.append((str(file), exc.strerror or str(exc)))
            else:
                (summary.done if result.created else summary.skipped).append(result.key)
            progress()

    progress()
    await asyncio.gather(*(one(file, name) for file, name in items))
    out.write("\n")
    return summary
