"""The S3 result cache: objects ``<source key>/<hash>.<ext>`` in the results bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from imgserver.s3client import S3Client, is_missing, read_capped

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef
from imgserver.storage.base import CachedResult

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
        count = 0
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix.rstrip("/") + "/"):
            keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                await self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
        return count

    async def close(self) -> None:
        return None  # the client belongs to the process (see imgserver.wiring)
