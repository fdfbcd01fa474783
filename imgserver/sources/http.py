"""The HTTP loader: image keys are URLs (``host/path`` or ``http[s]://host/path``).

Safety, in order: the URL must be http(s), carry no credentials and match
``http_loader.allowed_sources``; every address its host resolves to must be public
(:mod:`imgserver.sources.addresses`) — checked inside the resolver, so the connection
goes to an address that was checked (no DNS-rebinding window) and each redirect hop is
checked again, as is its URL against ``allowed_sources``. The body is streamed and
refused past the byte limit.

Faults: refused source → 403; upstream 404/410 → 404; other upstream answers and
connection faults → 502; connect or request timeout → 504.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import re
import socket
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import tornado.httpclient
import tornado.iostream
import tornado.netutil
import tornado.simple_httpclient

from imgserver.errors import Forbidden, ImgserverError, NotFound, SourceTooLarge, UpstreamError, UpstreamTimeout
from imgserver.settings import HttpLoaderSettings
from imgserver.sources.addresses import is_allowed
from imgserver.sources.base import Source, SourceInfo, as_utc

_REDIRECTS = {301, 302, 303, 307, 308}


class SourceRefused(Forbidden):
    public = "source not allowed"


class GuardedResolver(tornado.netutil.Resolver):
    """Resolves like the default resolver, then refuses the host if ANY of its addresses
    is not allowed (an attacker's name may mix public and private records)."""

    def initialize(self, allow_loopback: bool = False) -> None:
        self._inner = tornado.netutil.DefaultLoopResolver()
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        addresses: list[tuple[int, Any]] = await self._inner.resolve(host, port, family)
        if not addresses or not all(is_allowed(sockaddr[0], self._allow_loopback) for _, sockaddr in addresses):
            raise SourceRefused()
        return addresses

    def close(self) -> None:
        self._inner.close()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_url(key: str, default_scheme: str) -> str:
    """The URL for an image key (already percent-decoded): a scheme is added when
    missing (Thumbor compat: ``http``), unsafe characters are re-encoded."""
    url = key if re.match(r"https?://", key) else f"{default_scheme}://{key}"
    return quote(url, safe="/:?&=#@!$'()*+,;[]~")


def is_source_allowed(url: str, patterns: tuple[str, ...]) -> bool:
    """``url`` is http(s), has a host and no credentials, and matches a pattern: a host
    literal (``img.example.org``, optionally ``:port``) or an anchored regex over the URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or parts.username is not None:
        return False
    for pattern in patterns:
        if pattern.startswith("^"):
            if re.fullmatch(pattern, url):
                return True
        elif pattern.lower() in (host, f"{host}:{port}"):
            return True
    return False


class HttpLoader:
    """Fetches originals over HTTP(S) with tornado's client and a guarded resolver."""

    def __init__(self, settings: HttpLoaderSettings) -> None:
        self.settings = settings
        self._resolver = GuardedResolver(allow_loopback=settings.allow_loopback)
        self._client = tornado.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True, resolver=self._resolver)

    async def stat(self, key: str, max_bytes: int) -> SourceInfo | None:
        return None  # upstreams' validators are unreliable: identity is the content hash

    async def load(self, key: str, max_bytes: int) -> Source:
        url = source_url(key, self.settings.default_scheme)
        for _ in range(self.settings.max_redirects + 1):
            if not is_source_allowed(url, self.settings.allowed_sources):
                raise SourceRefused()
            response, data = await self._fetch(url, max_bytes)
            if response.code in _REDIRECTS and "Location" in response.headers:
                url = urljoin(url, response.headers["Location"])
                continue
            if response.code in (404, 410):
                raise NotFound()
            if response.code != 200:
                raise UpstreamError(f"source store failed (HTTP {response.code})")
            # Hashing up to max_source_bytes takes milliseconds: not on the event loop.
            identity = "http-" + (await asyncio.to_thread(_sha256, data))[:32]
            return Source(data, identity, _last_modified(response.headers.get("Last-Modified")))
        raise UpstreamError("source store failed (too many redirects)")

    async def _fetch(self, url: str, max_bytes: int) -> tuple[tornado.httpclient.HTTPResponse, bytes]:
        chunks: list[bytes] = []
        received = 0
        # Errors raised inside tornado's callbacks reach us as a closed stream: keep them.
        refusal: list[ImgserverError] = []

        def too_large(message: str) -> None:
            refusal.append(SourceTooLarge(message))
            raise refusal[-1]

        def on_header(line: str) -> None:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit() and int(value) > max_bytes:
                too_large(f"source image is {int(value)} bytes, over the limit of {max_bytes}")

        def on_chunk(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received > max_bytes:
                too_large(f"source image is over the limit of {max_bytes} bytes")
            chunks.append(chunk)

        request = tornado.httpclient.HTTPRequest(
            url,
            follow_redirects=False,
            connect_timeout=self.settings.connect_timeout,
            request_timeout=self.settings.request_timeout,
            header_callback=on_header,
            streaming_callback=on_chunk,
            decompress_response=True,
            user_agent="imgserver",
        )
        try:
            response = await self._client.fetch(request, raise_error=False)
        except ImgserverError:
            raise  # SourceRefused from the resolver
        except tornado.simple_httpclient.HTTPTimeoutError:
            raise UpstreamTimeout() from None
        except (tornado.httpclient.HTTPClientError, tornado.iostream.StreamClosedError, OSError):
            if refusal:
                raise refusal[0] from None
            raise UpstreamError() from None
        if refusal:
            raise refusal[0]
        return response, b"".join(chunks)

    async def close(self) -> None:
        self._client.close()
        self._resolver.close()


def _last_modified(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return as_utc(email.utils.parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None
