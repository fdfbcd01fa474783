"""Output-format negotiation from the Accept header. PURE.

Accept is parsed with q-values (RFC 9110 §12.5.1), not searched for substrings. A format is
negotiated only when the client names it explicitly with q > 0: wildcards (``*/*``,
``image/*``) do not opt a client into WebP or AVIF, because clients that send only wildcards
(curl, old Safari, e-mail clients) often cannot decode them. ``image/webp;q=0`` refuses WebP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imgserver.plan.model import MIME_TYPES, OutputFormat
from imgserver.url.grammar import ParsedUrl

_NEGOTIABLE: tuple[OutputFormat, ...] = ("avif", "webp")
_MAX_ACCEPT = 2048


@dataclass(frozen=True)
class NegotiationSettings:
    auto_webp: bool = False
    auto_avif: bool = False
    preference: tuple[str, ...] = ("avif", "webp")

    @property
    def enabled(self) -> tuple[OutputFormat, ...]:
        """Negotiable formats switched on, in preference order (unlisted ones last)."""
        on = {"webp": self.auto_webp, "avif": self.auto_avif}
        rank = {name: i for i, name in enumerate(self.preference)}
        return tuple(sorted((f for f in _NEGOTIABLE if on[f]), key=lambda f: rank.get(f, len(rank))))


def parse_accept(header: str | None) -> dict[str, float]:
    """Media range → q. Malformed parts are skipped; a malformed q counts as 0."""
    ranges: dict[str, float] = {}
    if not header:
        return ranges
    for part in header[:_MAX_ACCEPT].split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if "/" not in media:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges[media] = max(q, ranges.get(media, 0.0)) if media in ranges else q
    return ranges


def negotiable(parsed: ParsedUrl, settings: NegotiationSettings) -> bool:
    """Could the Accept header change this URL's answer? (Then the response needs ``Vary``.)"""
    return bool(settings.enabled) and parsed.filter("format") is None


def accepted_formats(header: str | None, settings: NegotiationSettings) -> tuple[OutputFormat, ...]:
    """Enabled formats the client explicitly accepts, in the configured preference order."""
    ranges = parse_accept(header)
    return tuple(f for f in settings.enabled if ranges.get(MIME_TYPES[f], 0.0) > 0.0)


def variant(formats: Sequence[str]) -> str:
    """The negotiation outcome as a cache-key / ETag component."""
    return ",".join(formats)
