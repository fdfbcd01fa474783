"""S3 stores sharing the process's client: the result cache (``<source key>/<hash>.<ext>`` in
the results bucket) and the object stores of ingest (originals, metadata documents)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from imgserver.s3client import FAULTS, S3Client, is_missing, read_capped, read_checked, translate
from imgserver.storage.base import CachedResult
from imgserver.storage.objects import Listing, check_name

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import ListObjectsV2RequestTypeDef, ObjectIdentifierTypeDef

#: A stored result is an encoded output image; anything bigger is not ours.
MAX_RESULT_BYTES = 256 * 1024 * 1024


class S3ResultStore:
    """Shares the process's S3 client. Faults propagate (as botocore errors): the caller
    logs and counts them and carries on without the cache."""

    def __init__(self, client: S3Client, bucket: str, ttl: int = 0) -> None:
        self.client = client
        self.bucket = bucket
        self.ttl = ttl

    async def get(self, name: str) -> CachedResult | None:
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        modified = response.get("LastModified")
        if self.ttl and modified is not None and modified < datetime.now(UTC) - timedelta(seconds=self.ttl):
            response["Body"].close()
            return None
        body = await read_capped(response["Body"], MAX_RESULT_BYTES)
        return CachedResult(body, response.get("ContentType") or "application/octet-stream")

    async def put(self, name: str, result: CachedResult) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=name, Body=result.body, ContentType=result.mime)

    async def delete_prefix(self, prefix: str) -> int:
        """List ``prefix/`` page by page and delete in batches of up to 1000 keys."""
        return await _delete_all(self.client, self.bucket, prefix.rstrip("/") + "/")

    async def close(self) -> None:
        return None  # the client belongs to the process (see imgserver.wiring)


async def _delete_all(client: S3Client, bucket: str, prefix: str) -> int:
    """Delete every object whose key starts with ``prefix``: list page by page, delete in
    batches of up to 1000 keys. Returns how many."""
    count = 0
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            await client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            count += len(keys)
    return count


class S3ObjectStore:
    """The ObjectStore protocol on one bucket, names stored under ``prefix``, through the
    process's shared client (imgserver.wiring owns and closes it).

    A missing object is ``None`` from ``get`` and not an error for ``delete``. Names that
    could leave the prefix (``..``, empty segments, absolute) are NotFound, as in the file
    store. Faults: an object over ``max_bytes`` → SourceTooLarge (413, checked from its size
    before the body is read); S3 faults → UpstreamError (502) / UpstreamTimeout (504), as the
    loader maps them (imgserver.s3client).
    """

    def __init__(self, client: S3Client, bucket: str, prefix: str = "", max_bytes: int = MAX_RESULT_BYTES) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.max_bytes = max_bytes
        #: The metadata document's ``original.store``: the bucket name.
        self.label = bucket

    def object_key(self, name: str) -> str:
        return self.prefix + check_name(name)

    def path_of(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(name)}"

    async def get(self, name: str) -> bytes | None:
        key = self.object_key(name)
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
            return await read_checked(response, self.max_bytes, what=name)
        except FAULTS as exc:
            if is_missing(exc):
                return None
            raise translate(exc) from None

    async def exists(self, name: str) -> bool:
        key = self.object_key(name)
        try:
            await self.client.head_object(Bucket=self.bucket, Key=key)
        except FAULTS as exc:
            if is_missing(exc):
                return False
            raise translate(exc) from None
        return True

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        key = self.object_key(name)
        try:
            await self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except FAULTS as exc:
            raise translate(exc) from None

    async def delete(self, name: str) -> None:
        key = self.object_key(name)
        try:
            await self.client.delete_object(Bucket=self.bucket, Key=key)
        except FAULTS as exc:
            if not is_missing(exc):
                raise translate(exc) from None

    async def delete_prefix(self, prefix: str) -> int:
        folder = self.object_key(prefix.rstrip("/")) + "/"
        try:
            return await _delete_all(self.client, self.bucket, folder)
        except FAULTS as exc:
            raise translate(exc) from None

    async def list(self, prefix: str, limit: int, cursor: str | None) -> Listing:
        """One ListObjectsV2 page of at most ``limit`` names; ``cursor`` is the last name of
        the previous page (S3's StartAfter), so a cursor stays valid however long it is kept."""
        request: ListObjectsV2RequestTypeDef = {
            "Bucket": self.bucket,
            "Prefix": self.prefix + prefix,
            "MaxKeys": max(1, limit),
        }
        if cursor:
            request["StartAfter"] = self.prefix + cursor
        try:
            response = await self.client.list_objects_v2(**request)
        except FAULTS as exc:
            raise translate(exc) from None
        names = [item["Key"][len(self.prefix):] for item in response.get("Contents", [])]
        more = bool(response.get("IsTruncated")) and bool(names)
        return Listing(names, names[-1] if more else None)
