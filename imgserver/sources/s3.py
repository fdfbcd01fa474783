"""The S3 loader: image keys are object keys (after an optional prefix) in one bucket."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from imgserver.s3client import FAULTS, S3Client, error_code, read_checked, translate
from imgserver.sources.base import HEAD_BYTES, Source, SourceInfo, as_utc
from imgserver.storage.objects import check_name

_TOTAL_SIZE = re.compile(r"/(\d+)$")


def object_key(prefix: str, key: str) -> str:
    """The object key for an image key, or NotFound for keys no original can have: empty,
    ``.``/``..``/empty segments, absolute, NUL or backslash. Refusing them keeps a key
    inside ``prefix`` on stores that normalise paths (SeaweedFS, MinIO do)."""
    return prefix + check_name(key)


def identity_of(etag: str) -> str:
    """A source identity from an S3 ETag (quotes dropped; multipart suffixes kept)."""
    return "s3-" + etag.strip('"')


class S3Loader:
    """Reads originals from ``bucket`` through the process's shared client."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    async def stat(self, key: str, max_bytes: int) -> SourceInfo:
        """One ranged GET of the first bytes: identity, size and format, no body."""
        name = object_key(self.prefix, key)
        try:
            try:
                response = await self.client.get_object(Bucket=self.bucket, Key=name, Range=f"bytes=0-{HEAD_BYTES - 1}")
            except ClientError as exc:
                if error_code(exc) != "InvalidRange":
                    raise
                # A zero-byte object has no first byte to range over.
                head = await self.client.head_object(Bucket=self.bucket, Key=name)
                return SourceInfo(identity_of(head["ETag"]), as_utc(head.get("LastModified")), 0, b"")
            match = _TOTAL_SIZE.search(response.get("ContentRange", ""))
            size = int(match.group(1)) if match else response["ContentLength"]
            head_bytes = await read_checked(response, max_bytes, size=size, cap=HEAD_BYTES)
        except FAULTS as exc:
            raise translate(exc) from None
        return SourceInfo(identity_of(response["ETag"]), as_utc(response.get("LastModified")), size, head_bytes)

    async def load(self, key: str, max_bytes: int) -> Source:
        """The whole object; refused from its Content-Length before the body is read."""
        name = object_key(self.prefix, key)
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=name)
            data = await read_checked(response, max_bytes)
        except FAULTS as exc:
            raise translate(exc) from None
        return Source(data, identity_of(response["ETag"]), as_utc(response.get("LastModified")))

    async def close(self) -> None:
        return None  # the client belongs to the process (see imgserver.wiring)
