"""The upload API: POST /image, GET|DELETE /image/<key>, GET /image/<key>/metadata,
GET /images, POST /api/sign. Bearer-token auth on every call.

``POST /image`` takes Thumbor clients' multipart field ``media`` or a raw body (name from the
``Slug`` header or ``?filename=``). The body is capped while it streams in: a declared
``Content-Length`` over the cap is refused before reading anything, a chunked body as soon
as it passes the cap.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

import tornado.http1connection
import tornado.httputil
import tornado.web

from imgserver.errors import BadRequest, Forbidden, NotFound, SourceTooLarge, Unauthorized
from imgserver.handlers.base import BaseHandler
from imgserver.ingest import Ingestor
from imgserver.plan.model import MIME_BY_EXTENSION
from imgserver.url.signing import signed_path

_MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file
MAX_PAGE = 200


class ApiHandler(BaseHandler):
    """Authenticates every call; answers JSON."""

    user: str = ""

    def prepare(self) -> None:
        super().prepare()
        if self.state.ingestor is None:
            raise NotFound("the upload API is not enabled")
        self.user = self.authenticate()

    def authenticate(self) -> str:
        """The token's name. 401 without a bearer token, 403 with a wrong one."""
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required")
        given = token.strip().encode()
        user = ""
        for entry in self.state.settings.upload.tokens:
            name, _, secret = entry.partition(":")
            if hmac.compare_digest(secret.encode(), given):  # every token compared: no timing hint
                user = user or name
        if not user:
            raise Forbidden("unknown token")
        return user

    @property
    def ingestor(self) -> Ingestor:
        ingestor = self.state.ingestor
        assert ingestor is not None  # prepare() refused the call otherwise
        return ingestor

    def write_json(self, status: int, payload: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(payload))

    def example_url(self, key: str) -> str:
        """A signed (or, without keys, unsafe) 300x200 smart thumbnail of ``key``."""
        path = f"300x200/smart/{key}"
        keys = self.state.settings.security.keys
        return signed_path(keys[0], path) if keys else f"/unsafe/{path}"


@tornado.web.stream_request_body
class UploadHandler(ApiHandler):
    def prepare(self) -> None:
        super().prepare()
        self.cap = self.state.settings.upload.max_bytes
        self.chunks: list[bytes] = []
        self.received = 0
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.cap + _MULTIPART_SLACK:
            raise SourceTooLarge(f"upload is {declared} bytes, over the limit of {self.cap}")
        # Tornado's own body limit must not refuse first (it answers a bare 400): ours counts
        # the body as it streams (data_received) and answers 413.
        connection = self.request.connection
        if isinstance(connection, tornado.http1connection.HTTP1Connection):
            connection.set_max_body_size(max(4 * self.cap, self.cap + 16 * 1024 * 1024))

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self.received += len(chunk)
        if self.received > self.cap + _MULTIPART_SLACK:
            self.chunks = []
            error = SourceTooLarge(f"upload is over the limit of {self.cap} bytes")
            self.send_error(413, exc_info=(SourceTooLarge, error, None))
            return
        self.chunks.append(chunk)

    async def post(self) -> None:
        body = b"".join(self.chunks)
        self.chunks = []
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            files: dict[str, list[tornado.httputil.HTTPFile]] = {}
            tornado.httputil.parse_body_arguments(content_type, body, {}, files)
            media = files.get("media")
            if not media:
                raise BadRequest("missing file: send the multipart field 'media' or a raw body")
            data, name = media[0].body, media[0].filename or "image"
        else:
            data = body
            name = self.request.headers.get("Slug") or self.get_argument("filename", "image")
        if not data:
            raise BadRequest("missing file: the upload is empty")
        if len(data) > self.cap:
            raise SourceTooLarge(f"upload is {len(data)} bytes, over the limit of {self.cap}")
        result = await self.ingestor.ingest(data, name, self.user, "api")
        self.set_header("Location", f"/image/{result.key}")
        self.write_json(
            201 if result.created else 200,
            {"key": result.key, "metadata": result.document, "url": self.example_url(result.key)},
        )


class ImageApiHandler(ApiHandler):
    """GET the original, DELETE original + metadata + every cached result of it."""

    async def get(self, key: str) -> None:
        data = await self.ingestor.originals.get(key)
        if data is None:
            raise NotFound("no such image")
        extension = key.rsplit(".", 1)[-1].lower()
        self.set_header("Content-Type", MIME_BY_EXTENSION.get(extension, "application/octet-stream"))
        self.set_header("Cache-Control", "private, no-store")
        self.set_header("Content-Disposition", "attachment")
        self.finish(data)

    async def delete(self, key: str) -> None:
        if await self.ingestor.existing(key) is None and not await self.ingestor.originals.exists(key):
            raise NotFound("no such image")
        await self.ingestor.remove(key)
        if self.state.store is not None:
            # Every cached result of the original lives under <key>/ (plan/keys.result_path).
            await self.state.store.delete_prefix(key)
        self.set_status(204)
        self.finish()


class MetadataHandler(ApiHandler):
    async def get(self, key: str) -> None:
        doc = await self.ingestor.existing(key)
        if doc is None:
            raise NotFound("no such image")
        self.write_json(200, doc)


class ListHandler(ApiHandler):
    """GET /images?prefix=&limit=&cursor= — metadata documents in key order, paged."""

    async def get(self) -> None:
        prefix = self.get_argument("prefix", "")
        try:
            limit = min(max(int(self.get_argument("limit", "50")), 1), MAX_PAGE)
        except ValueError:
            raise BadRequest("limit must be an integer") from None
        cursor = self.get_argument("cursor", None)
        listing = await self.ingestor.metadata.list(prefix, limit, cursor)
        raw = await asyncio.gather(*(self.ingestor.metadata.get(name) for name in listing.names))
        items = []
        for name, blob in zip(listing.names, raw, strict=True):
            if blob is not None and name.endswith(".json"):
                try:
                    items.append(json.loads(blob))
                except ValueError:
                    continue
        self.write_json(200, {"items": items, "cursor": listing.cursor})


class SignHandler(ApiHandler):
    """POST /api/sign {"path": "300x200/smart/key"} → {"url": "/<signature>/…"}: the console
    builds URLs without ever holding the signing key. {"paths": [...]} (at most MAX_PAGE)
    → {"urls": [...]} in the same order, so a gallery page is signed in one call."""

    async def post(self) -> None:
        try:
            payload = json.loads(self.request.body or b"{}")
            if not isinstance(payload, dict):
                raise TypeError
            if "paths" in payload:
                many = payload["paths"]
                if not isinstance(many, list) or not 1 <= len(many) <= MAX_PAGE:
                    raise BadRequest(f"paths must be a list of 1..{MAX_PAGE} paths")
                paths = [self._checked(str(path)) for path in many]
                self.write_json(200, {"urls": [self._sign(path) for path in paths]})
                return
            path = self._checked(str(payload["path"]))
        except (ValueError, KeyError, TypeError):
            raise BadRequest('send JSON {"path": "<options>/<image key>"} or {"paths": [...]}') from None
        self.write_json(200, {"url": self._sign(path)})

    @staticmethod
    def _checked(path: str) -> str:
        path = path.lstrip("/")
        if not path or len(path) > 4096:
            raise BadRequest("path must be 1..4096 characters")
        return path

    def _sign(self, path: str) -> str:
        keys = self.state.settings.security.keys
        return signed_path(keys[0], path) if keys else f"/unsafe/{path}"
