"""The one long-lived S3 client of a process, and what S3 faults mean to a client.

Thumbor's S3 plugin opens a client per operation (a TLS handshake and a credential
lookup each time); we open one at start-up, share its connection pool between the
loader and the result cache, and close it at shut-down. Credentials come from the
standard AWS chain (environment, shared profile, instance role).

Fault mapping (design.md §3, "loader faults keep their meaning")::

    NoSuchKey / 404                      → NotFound        404
    connect or read timeout              → UpstreamTimeout 504
    AccessDenied, other codes, 5xx,
    connection refused or reset          → UpstreamError   502

Connection faults, throttling and 5xx are retried by botocore's ``standard`` mode up to
``s3.max_attempts`` attempts in all, so a dead store answers within about
``max_attempts × (connect_timeout + read_timeout)`` plus a short back-off, never hangs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from imgserver.errors import ImgserverError, NotFound, SourceTooLarge, UpstreamError, UpstreamTimeout
from imgserver.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
else:
    S3Client = Any

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_TIMEOUT_CODES = {"RequestTimeout", "RequestTimeoutException"}


class S3Handle:
    """An open client and the context that closes it."""

    def __init__(self, context: AbstractAsyncContextManager[S3Client], client: S3Client) -> None:
        self._context = context
        self.client = client

    async def close(self) -> None:
        await self._context.__aexit__(None, None, None)


async def open_s3(settings: S3Settings) -> S3Handle:
    """Create the process's S3 client. Raises RuntimeError when the AWS credential chain
    finds nothing, so a misconfigured server fails at start-up instead of on every request."""
    session = get_session()
    if await session.get_credentials() is None:
        raise RuntimeError("S3: no AWS credentials found (environment, shared profile or instance role)")
    config = AioConfig(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=settings.max_pool_connections,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        s3={"addressing_style": settings.addressing_style},
    )
    context = session.create_client(
        "s3", region_name=settings.region or None, endpoint_url=settings.endpoint_url or None, config=config
    )
    client = await context.__aenter__()
    return S3Handle(context, client)


def error_code(exc: ClientError) -> str:
    """The S3 error code of a ClientError (``NoSuchKey``, ``AccessDenied``, ``500``…)."""
    return str(exc.response.get("Error", {}).get("Code", "")) or str(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    )


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in _MISSING_CODES


def translate(exc: BaseException) -> ImgserverError:
    """The typed error an S3 fault means to the client (see the module's table)."""
    if isinstance(exc, ImgserverError):
        return exc
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _MISSING_CODES:
            return NotFound()
        if code in _TIMEOUT_CODES:
            return UpstreamTimeout()
        return UpstreamError(f"source store failed ({code})")
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
        return UpstreamTimeout()
    if isinstance(exc, BotoCoreError | aiohttp.ClientError | OSError):
        return UpstreamError()
    raise exc  # a bug: let it be a 500 with its traceback


#: What ``translate`` turns into a client error; anything else is a bug and propagates.
FAULTS: tuple[type[BaseException], ...] = (ClientError, BotoCoreError, aiohttp.ClientError, OSError, TimeoutError)


class Body(Protocol):
    def iter_chunks(self, chunk_size: int = ...) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


async def read_capped(body: Body, max_bytes: int) -> bytes:
    """Read a streamed body, refusing it (SourceTooLarge) as soon as it passes
    ``max_bytes`` (a store may send more than its Content-Length promised)."""
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in body.iter_chunks(64 * 1024):
            total += len(chunk)
            if total > max_bytes:
                raise SourceTooLarge(f"source image is over the limit of {max_bytes} bytes")
            chunks.append(chunk)
    finally:
        body.close()
    return b"".join(chunks)


async def read_checked(
    response: Any, max_bytes: int, *, size: int | None = None, cap: int | None = None, what: str = "source image"
) -> bytes:
    """The body of a GET response, refused (SourceTooLarge, body closed unread) when its size
    — ``size``, else the Content-Length — is over ``max_bytes``; then read, at most ``cap``
    bytes (default ``max_bytes``) as :func:`read_capped` does."""
    size = response.get("ContentLength", 0) if size is None else size
    if size > max_bytes:
        response["Body"].close()
        raise SourceTooLarge(f"{what} is {size} bytes, over the limit of {max_bytes}")
    return await read_capped(response["Body"], max_bytes if cap is None else cap)


__all__ = [
    "FAULTS",
    "S3Client",
    "S3Handle",
    "error_code",
    "is_missing",
    "open_s3",
    "read_capped",
    "read_checked",
    "translate",
]
