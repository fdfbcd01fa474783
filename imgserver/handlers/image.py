"""GET/HEAD ``/<unsafe|signature>/<thumbor options>/<image key>`` and its ``/meta`` form."""

from __future__ import annotations

import email.utils
import functools
import json
import time
from typing import Any

from imgserver.errors import Forbidden
from imgserver.handlers.base import HTTP_DATES, BaseHandler
from imgserver.imaging.steps import describe, render
from imgserver.plan.build import FormatPolicy
from imgserver.plan.keys import etag, normalised, result_key
from imgserver.plan.model import OutputFormat, Plan, SourceFacts
from imgserver.plan.negotiate import accepted_formats, negotiable, variant
from imgserver.plan.preload import apply_preload
from imgserver.results import locate, obtain
from imgserver.url.grammar import ParsedUrl, parse_options, split_signature
from imgserver.url.signing import verify


def meta_document(parsed: ParsedUrl, facts: SourceFacts, plan: Plan) -> dict[str, Any]:
    """Thumbor's /meta JSON shape. Deliberate difference: ``source`` is the ORIGINAL
    size (Thumbor reports the processed size there)."""
    return {
        "thumbor": {
            "source": {
                "url": parsed.image,
                "width": facts.width,
                "height": facts.height,
                "frameCount": facts.frames,
            },
            "operations": plan.operations(),
            "target": {"width": plan.width, "height": plan.height},
            # Thumbor compat: relative to the image left after trim and manual crop.
            "focal_points": [
                {
                    "x": int(point.x),
                    "y": int(point.y),
                    "z": point.weight,
                    "height": point.height,
                    "width": point.width,
                    "origin": point.origin,
                }
                for point in plan.focal_points
            ],
        }
    }


@functools.lru_cache(maxsize=256)
def understood(signature: str | None, rest: str) -> tuple[ParsedUrl, str]:
    """The request after pre-load filters, and its normalised text (for the result key). Both
    are pure functions of the URL, so a repeated URL, as every result-cache hit is, skips
    the parse and the repr (~25 µs). Invalid URLs raise and are not remembered."""
    parsed = apply_preload(parse_options(signature, rest))
    return parsed, normalised(parsed)


class ImageHandler(BaseHandler):
    """Verify, parse, load, render (in the pool) and answer with cache validators."""

    timings: dict[str, float]

    def initialize(self) -> None:
        self.timings = {}

    def parse(self) -> tuple[ParsedUrl, str]:
        """Signature first (403 before any parsing work), then the grammar (400): the request
        after pre-load filters and its normalised text."""
        security = self.state.settings.security
        signature, rest = split_signature(self.request.path)
        if signature is None:
            if not security.allow_unsafe:
                raise Forbidden("unsafe URLs are disabled")
        else:
            verify(security.keys, signature, rest)
        return understood(signature, rest)

    async def head(self, path: str) -> None:
        await self.get(path)

    def set_default_headers(self) -> None:
        super().set_default_headers()
        origins = self.state.settings.http.cors_origins
        if origins:
            # CORS only when configured, for an allow-list; the answer depends on Origin.
            self.set_header("Vary", "Origin")
            origin = self.request.headers.get("Origin")
            if origin and ("*" in origins or origin in origins):
                self.set_header("Access-Control-Allow-Origin", "*" if "*" in origins else origin)
                self.set_header("Access-Control-Expose-Headers", "ETag, Content-Length, X-Request-Id")

    def options(self, path: str) -> None:
        """CORS preflight (only meaningful when ``http.cors_origins`` is set)."""
        if self.state.settings.http.cors_origins:
            self.set_header("Access-Control-Allow-Methods", "GET, HEAD")
            self.set_header("Access-Control-Max-Age", "86400")
        self.set_status(204)
        self.finish()

    def _cache_control(self, parsed: ParsedUrl) -> str:
        """``max_age(n)`` overrides the setting; 0 means the answer must not be reused."""
        call = parsed.filter("max_age")
        max_age = int(call.args[0]) if call is not None else self.state.settings.http.cache_max_age
        return f"public, max-age={max_age}" if max_age > 0 else "no-cache"

    async def get(self, path: str) -> None:
        state = self.state
        parsed, canonical = self.parse()
        # Negotiation: an explicit format() switches it off; otherwise the answer depends on
        # Accept, so every response (304s included) says so.
        accepted: tuple[OutputFormat, ...] = ()
        if negotiable(parsed, state.negotiation):
            self.add_header("Vary", "Accept")
            accepted = accepted_formats(self.request.headers.get("Accept"), state.negotiation)
        policy = FormatPolicy(accepted, state.settings.formats.auto_png_to_jpg)

        max_bytes = state.settings.limits.max_source_bytes
        started = time.perf_counter()
        if parsed.meta:
            # Admitted before loading: a request waiting for a render thread holds no bytes.
            async with state.pool.admit(self.client_gone):
                source = await state.loader.load(parsed.image, max_bytes)
                self.timings["load"] = time.perf_counter() - started
                started = time.perf_counter()
                facts, plan = await state.pool.run(
                    describe, source.data, parsed, state.render, policy, cancel=self.client_gone
                )
            self.timings["render"] = time.perf_counter() - started
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", self._cache_control(parsed))
            self._write_body(json.dumps(meta_document(parsed, facts, plan)).encode())
            return

        located = await locate(state, parsed.image)  # identity only, when the loader can tell
        marks = await state.marks.for_request(parsed, max_bytes)
        self.timings["load"] = time.perf_counter() - started
        info = located.info

        # The ETag and the result key cover everything the bytes depend on: request, source
        # version, negotiated formats and the marks' versions.
        shaped_by = "|".join([variant(accepted), *(m.identity for m in marks.values())])
        digest = result_key(canonical, info.identity, shaped_by)
        tag = etag(digest)
        self.set_header("ETag", tag)
        self.set_header("Cache-Control", self._cache_control(parsed))
        modified = info.last_modified.timestamp() if info.last_modified is not None else None
        if modified is not None:
            self.set_header("Last-Modified", HTTP_DATES.of(modified))
        if self._not_modified(tag, modified):
            self.set_status(304)
            self.finish()
            return

        # Result cache, single-flight and render live in imgserver.results.
        started = time.perf_counter()
        mark_bytes = {key: mark.data for key, mark in marks.items()}
        outcome = await obtain(
            state,
            parsed,
            located,
            digest,
            accepted,
            lambda data: render(data, parsed, state.render, policy, mark_bytes),
            self.client_gone,
        )
        self.timings["cache" if outcome.cached else "render"] = time.perf_counter() - started
        self.set_header("Content-Type", outcome.result.mime)
        self._write_body(outcome.result.body)

    def _not_modified(self, tag: str, modified: float | None) -> bool:
        inm = self.request.headers.get("If-None-Match")
        if inm is not None:
            candidates = [c.strip() for c in inm.split(",")]
            return "*" in candidates or any(c.removeprefix("W/") == tag for c in candidates)
        ims = self.request.headers.get("If-Modified-Since")
        if ims is not None and modified is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
            return int(modified) <= since
        return False

    def _write_body(self, body: bytes) -> None:
        self.set_header("Content-Length", str(len(body)))
        if self.request.method == "HEAD":
            self.finish()
        else:
            self.finish(body)

    def compute_etag(self) -> str | None:
        return None  # we set a strong ETag from the request and source, before rendering
