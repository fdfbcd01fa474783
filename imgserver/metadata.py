"""The metadata document of an original (``<key>.json``). PURE: analysis facts → JSON data.

The document is versioned (``schema_version``) and described by a JSON Schema shipped in the
package (``imgserver/schema/metadata.schema.json``); every test validates against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, Literal

from imgserver.plan.model import SourceFacts

SCHEMA_VERSION = 1
Origin = Literal["api", "event"]


@dataclass(frozen=True)
class Analysis:
    """Everything the metadata document says about the pixels and tags of one original."""

    facts: SourceFacts
    byte_size: int
    sha256: str
    mime: str
    bands: int
    interpretation: str
    bit_depth: int
    icc_description: str | None
    dpi: tuple[float, float] | None
    exif: dict[str, str] = field(default_factory=dict)
    gps: tuple[float, float] | None = None
    average_color: str = "#000000"
    dominant_color: str = "#000000"
    blurhash: str = ""
    lqip: str = ""


def build_document(
    key: str,
    analysis: Analysis,
    *,
    store: str,
    path: str,
    uploaded_at: datetime,
    uploader: str,
    source: Origin,
    allow_gps: bool = False,
) -> dict[str, Any]:
    """The metadata document. GPS coordinates only when ``allow_gps``; otherwise only the
    fact that the original carries them (``has_gps``)."""
    facts = analysis.facts
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "key": key,
        "original": {"store": store, "path": path},
        "bytes": analysis.byte_size,
        "sha256": analysis.sha256,
        "format": facts.format,
        "mime": analysis.mime,
        "width": facts.stored_width,
        "height": facts.stored_height,
        "display_width": facts.width,
        "display_height": facts.height,
        "orientation": facts.orientation,
        "bands": analysis.bands,
        "has_alpha": facts.has_alpha,
        "interpretation": analysis.interpretation,
        "icc_profile": analysis.icc_description,
        "bit_depth": analysis.bit_depth,
        "frames": facts.frames,
        "delays": list(facts.delays),
        "dpi": list(analysis.dpi) if analysis.dpi else None,
        "exif": dict(analysis.exif),
        "has_gps": analysis.gps is not None,
        "color": {"average": analysis.average_color, "dominant": analysis.dominant_color},
        "blurhash": analysis.blurhash,
        "lqip": analysis.lqip,
        "uploaded_at": uploaded_at.isoformat().replace("+00:00", "Z"),
        "uploader": uploader,
        "source": source,
    }
    if allow_gps and analysis.gps is not None:
        doc["gps"] = {"latitude": analysis.gps[0], "longitude": analysis.gps[1]}
    return doc


def schema() -> dict[str, Any]:
    """The JSON Schema of the document (draft 2020-12)."""
    text = resources.files("imgserver").joinpath("schema/metadata.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
