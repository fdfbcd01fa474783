"""One ``ingest``: bytes → full validation → metadata document → original + JSON stored.

The upload API, the S3-event worker, the Lambda entry point and the bulk importer all call
:meth:`Ingestor.ingest`. It is idempotent: the same bytes and name give the same key, an
original whose metadata already records the same sha256 is reported as already present, and a
retry after any failure (original stored, metadata write failed) converges to the complete
state — the metadata document is written last, so its presence means "done".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imgserver.errors import Unprocessable, UpstreamError
from imgserver.imaging.analyse import analyse
from imgserver.imaging.probe import SourceLimits
from imgserver.metadata import Origin, build_document
from imgserver.plan.model import EXTENSIONS
from imgserver.pool import RenderPool
from imgserver.storage.objects import ObjectStore

_UNSAFE = re.compile(r"[^a-z0-9._-]+")
MAX_DEPTH = 5


def make_key(name: str, sha256: str, fmt: str) -> str:
    """A stable, URL-safe key: sanitised folders and stem, a content hash, the real extension.

    ``Photos/Dr Smith.JPG`` with a JPEG body → ``photos/dr-smith-<12 hex>.jpg``."""
    parts = []
    for raw in name.replace("\\", "/").split("/"):
        part = _UNSAFE.sub("-", raw.strip().lower()).strip(".-")[:64]
        if part and part not in (".", ".."):
            parts.append(part)
    folders, stem = parts[:-1][:MAX_DEPTH], parts[-1] if parts else "image"
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    stem = stem.strip(".-") or "image"
    return "/".join([*folders, f"{stem}-{sha256[:12]}.{EXTENSIONS.get(fmt, 'bin')}"])


def metadata_name(key: str) -> str:
    return f"{key}.json"


@dataclass(frozen=True)
class IngestResult:
    key: str
    document: dict[str, Any]
    #: False when the same original was already fully ingested (nothing written).
    created: bool


@dataclass(frozen=True)
class IngestRules:
    limits: SourceLimits
    min_width: int = 1
    min_height: int = 1
    allow_gps: bool = False


class Ingestor:
    def __init__(self, originals: ObjectStore, metadata: ObjectStore, pool: RenderPool, rules: IngestRules) -> None:
        self.originals = originals
        self.metadata = metadata
        self.pool = pool
        self.rules = rules

    async def existing(self, key: str) -> dict[str, Any] | None:
        raw = await self.metadata.get(metadata_name(key))
        if raw is None:
            return None
        try:
            doc: dict[str, Any] = json.loads(raw)
        except ValueError:
            return None  # a damaged document is rewritten
        return doc

    async def ingest(
        self, data: bytes, name: str, uploader: str, source: Origin, key: str | None = None
    ) -> IngestResult:
        """Validate and store ``data``. ``key`` is given for objects already in the originals
        store (events); otherwise it is derived from ``name`` and the content.

        Raises UnsupportedSource (415), Unprocessable (422) or a store error (502)."""
        known: dict[str, Any] | None = None
        if key is not None:
            # Events repeat (at-least-once delivery, and an upload's own ObjectCreated event):
            # a document recording these very bytes means done, without decoding them again.
            digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
            known = await self.existing(key)
            if known is not None and known.get("sha256") == digest:
                return IngestResult(key, known, created=False)
        analysis = await self.pool.run(analyse, data, self.rules.limits)
        facts = analysis.facts
        if facts.width < self.rules.min_width or facts.height < self.rules.min_height:
            raise Unprocessable(
                f"image is {facts.width}x{facts.height}, smaller than {self.rules.min_width}x{self.rules.min_height}"
            )
        if key is None:  # the key depends on the content: only now can a previous upload be found
            key = make_key(name, analysis.sha256, facts.format)
            known = await self.existing(key)
            if known is not None and known.get("sha256") == analysis.sha256:
                return IngestResult(key, known, created=False)
        document = build_document(
            key,
            analysis,
            store=self.originals.label,
            path=self.originals.path_of(key),
            uploaded_at=datetime.now(UTC),
            uploader=uploader,
            source=source,
            allow_gps=self.rules.allow_gps,
        )
        try:
            if source == "api":
                await self.originals.put(key, data, analysis.mime)
            body = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
            await self.metadata.put(metadata_name(key), body, "application/json")
        except UpstreamError:
            raise
        except OSError as exc:
            raise UpstreamError(f"store failed: {exc.strerror or exc}") from None
        return IngestResult(key, document, created=True)

    async def remove(self, key: str, original: bool = True) -> None:
        """Delete the metadata (and the original): metadata first, so a half-done delete never
        leaves metadata pointing at nothing."""
        try:
            await self.metadata.delete(metadata_name(key))
            if original:
                await self.originals.delete(key)
        except OSError as exc:
            raise UpstreamError(f"store failed: {exc.strerror or exc}") from None
