"""AWS Lambda entry point: S3 event notifications → the same ``ingest`` as uploads and the
worker (handler: ``imgserver.lambda_handler.handler``). No server is started.

Two event shapes, told apart by the records' ``eventSource``:

- **invoked by S3** (``aws:s3`` records): every record is applied, then a summary is
  returned. If any record failed, :class:`EventsFailed` is raised *after* all were tried, so
  Lambda's asynchronous retries and then its on-failure destination (or DLQ) take the event —
  the Lambda counterpart of the worker's redrive policy. Re-applying the records that did
  succeed is harmless (ingest is idempotent).
- **from an SQS event source mapping** (``aws:sqs`` records whose bodies are S3
  notifications, as the worker reads them): the summary carries ``batchItemFailures``, so with
  ``ReportBatchItemFailures`` only the failed messages return to the queue (and reach its DLQ
  after ``maxReceiveCount``); ``s3:TestEvent`` bodies succeed.

Settings come from the environment (``IMGSERVER_*``, or a TOML file named by
``IMGSERVER_CONFIG``); ``storage.kind = s3`` with ``s3.originals_bucket``,
``s3.metadata_bucket`` and ``s3.prefix`` as for the worker. Settings, the render pool and the
libvips set-up are made once per container; each invocation runs in ``asyncio.run`` with its
own S3 client (an aiobotocore client belongs to the event loop that opened it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from imgserver.errors import ImgserverError
from imgserver.events import EventProcessor, ObjectEvent, PoisonMessage, parse_message, parse_records
from imgserver.imaging.setup import configure
from imgserver.pool import RenderPool
from imgserver.settings import Settings, effective_threads, load_settings
from imgserver.wiring import open_ingestor

log = logging.getLogger("imgserver.lambda")


#: The counts in a summary (besides ``records``, ``failed`` and ``batchItemFailures``).
SUMMARY_COUNTS = ("ingested", "present", "removed", "ignored", "gone", "stale", "test_events")


class EventsFailed(RuntimeError):
    """Some records of an S3-invoked event failed; the message is the JSON summary."""


@dataclass
class _Runtime:
    environment: tuple[tuple[str, str], ...]
    settings: Settings
    pool: RenderPool


_runtime: _Runtime | None = None


def runtime() -> _Runtime:
    """Settings, pool and libvips set-up, made at the first invocation of a container (and
    again only if the IMGSERVER_* environment changed)."""
    global _runtime
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("IMGSERVER_")))
    if _runtime is None or _runtime.environment != environment:
        settings = load_settings(os.environ.get("IMGSERVER_CONFIG") or None, serving=False)
        configure(settings.imaging.vips_concurrency, settings.formats.allow_svg)
        pool = RenderPool(effective_threads(settings), queue_size=1000, queue_timeout=600)
        if _runtime is not None:
            _runtime.pool.shutdown()
        _runtime = _Runtime(environment, settings, pool)
    return _runtime


async def _apply_all(
    processor: EventProcessor, events: list[ObjectEvent], outcomes: Counter[str]
) -> list[dict[str, str]]:
    failures = []
    for event in events:
        try:
            outcomes[await processor.apply(event)] += 1
        except ImgserverError as exc:
            failures.append({"key": event.object_key, "reason": f"{exc.status} {exc.public_message}"})
            log.warning("%s s3://%s/%s failed: %s", event.name, event.bucket, event.object_key, exc.public_message)
    return failures


async def process(settings: Settings, pool: RenderPool, event: dict[str, Any]) -> dict[str, Any]:
    """Apply ``event``'s records; the summary (see the module docstring)."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise PoisonMessage("the event has no Records")
    ingestor, close = await open_ingestor(settings, pool)
    outcomes: Counter[str] = Counter()
    failed: list[dict[str, str]] = []
    summary: dict[str, Any] = {"records": len(records)}
    try:
        processor = EventProcessor(
            ingestor, settings.s3.originals_bucket, settings.s3.prefix, settings.limits.max_source_bytes
        )
        if records and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
            item_failures: list[dict[str, str]] = []

            async def message(record: dict[str, Any]) -> None:
                try:
                    events = parse_message(str(record.get("body", "")))
                except PoisonMessage as exc:
                    failed.append({"message": str(record.get("messageId")), "reason": str(exc)})
                    item_failures.append({"itemIdentifier": str(record.get("messageId"))})
                    return
                if not events:
                    outcomes["test_events"] += 1
                problems = await _apply_all(processor, events, outcomes)
                if problems:
                    failed.extend(problems)
                    item_failures.append({"itemIdentifier": str(record.get("messageId"))})

            await asyncio.gather(*(message(r) for r in records))
            summary["batchItemFailures"] = item_failures
        else:
            failed.extend(await _apply_all(processor, parse_records(records), outcomes))
    finally:
        await close()
    summary.update({name: outcomes[name] for name in SUMMARY_COUNTS})
    summary["failed"] = failed
    log.info("event summary: %s", json.dumps(summary))
    if failed and "batchItemFailures" not in summary:
        raise EventsFailed(json.dumps(summary))
    return summary


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Lambda handler (``context`` is unused)."""
    current = runtime()
    return asyncio.run(process(current.settings, current.pool, event))
