"""GET /console: the web console, a static single-page app from ``imgserver/web/``.

Served only while the upload API is enabled (otherwise 404, like any unknown path). The files
are plain HTML, CSS and ES modules; nothing is generated per request, so no user data can land
in a page. Every answer, errors included, carries a strict Content-Security-Policy (no inline
scripts or styles, no third-party origins, no framing), ``nosniff`` and ``no-referrer``. The
console talks only to the upload API with the token the user typed; the signing key stays on
the server (``POST /api/sign``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from imgserver.errors import NotFound
from imgserver.handlers.base import BaseHandler

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

_ASSET = re.compile(r"[a-z0-9][a-z0-9-]*\.(?:html|css|js|svg)")


class ConsoleHandler(BaseHandler):
    """``/console`` and ``/console/`` → index.html; ``/console/<name>`` → one flat asset.

    Names are matched against a strict pattern before touching the disk, so no path can
    leave ``imgserver/web/``. Answers are revalidated on every use (``no-cache`` + ETag), so
    an upgraded server never runs against a stale script.
    """

    def set_default_headers(self) -> None:
        super().set_default_headers()
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    def _asset(self, name: str | None) -> Asset:
        if not self.state.settings.upload.enabled:
            raise NotFound("not found")
        found = _read_asset(name or "index.html")
        if found is None:
            raise NotFound("not found")
        self.set_header("Content-Type", found.content_type)
        self.set_header("Cache-Control", "no-cache")
        # GET and HEAD give the same validator (Tornado's own would hash HEAD's empty body).
        self.set_header("ETag", found.etag)
        return found

    def get(self, name: str | None = None) -> None:
        asset = self._asset(name)
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.finish(asset.body)

    def head(self, name: str | None = None) -> None:
        self.set_header("Content-Length", str(len(self._asset(name).body)))
        self.finish()


@dataclass(frozen=True)
class Asset:
    content_type: str
    body: bytes
    etag: str


@functools.cache
def _read_asset(name: str) -> Asset | None:
    """A console file, read once: the files do not change while the server runs. Names are
    matched against a strict pattern before touching the disk."""
    path = WEB_ROOT / name
    if not _ASSET.fullmatch(name) or not path.is_file():
        return None
    body = path.read_bytes()
    return Asset(CONTENT_TYPES[path.suffix], body, f'"{hashlib.sha256(body).hexdigest()[:40]}"')
