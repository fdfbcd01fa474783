"""``imgserver worker``: consume the originals bucket's S3 event notifications from SQS and
keep the metadata documents in step, through the same ``ingest`` as uploads.

Loop: long-poll ``worker.queue_url`` (``wait_seconds``, up to ``batch_size`` messages), apply
every message's events concurrently (imaging is bounded by the render pool), then delete the
messages that succeeded in one batch call. A message is deleted only after success.

Failures (decided per error, see :func:`imgserver.events.is_permanent`):

- transient (store 5xx/timeouts, render pool full, a bug): the message is left alone; it
  reappears after the visibility timeout and is retried;
- permanent (not JSON / not an S3 notification, object not an image, undecodable, too big or
  too small): also left alone, logged with its receive count. The queue's redrive policy
  (``maxReceiveCount`` = ``worker.max_receives``) moves it to the dead-letter queue, where an
  operator can see it. It never loops forever: should a permanently failing message be
  received *more* than ``max_receives`` times (the queue has no redrive policy, or a larger
  count), the worker logs its body at ERROR and deletes it.

``s3:TestEvent`` messages (sent when notifications are configured) are deleted. SIGTERM or
SIGINT: a poll in progress is abandoned (messages it may have taken reappear after the
visibility timeout), a batch in progress is finished and its messages deleted, then the
process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from imgserver.errors import ImgserverError
from imgserver.events import EventProcessor, PoisonMessage, is_permanent, parse_message
from imgserver.s3client import FAULTS
from imgserver.settings import Settings, WorkerSettings

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
        ReceiveMessageRequestTypeDef,
    )

log = logging.getLogger("imgserver.worker")

#: Seconds between failed receives, doubling up to the maximum.
BACKOFF = (1.0, 30.0)


def worker_problems(settings: Settings) -> list[str]:
    """What ``imgserver worker`` needs beyond settings that load."""
    problems = []
    if not settings.worker.queue_url:
        problems.append("worker.queue_url: required by imgserver worker")
    if settings.storage.kind != "s3":
        problems.append("storage.kind: must be s3 for imgserver worker (events name objects in s3.originals_bucket)")
    return problems


class SQSHandle:
    """An open SQS client and the context that closes it."""

    def __init__(self, context: AbstractAsyncContextManager[SQSClient], client: SQSClient) -> None:
        self._context = context
        self.client = client

    async def close(self) -> None:
        await self._context.__aexit__(None, None, None)


async def open_sqs(settings: Settings) -> SQSHandle:
    """The worker's one SQS client (standard AWS credential chain, region ``s3.region``: a
    bucket notifies queues of its own region). The read timeout outlasts a long poll.
    Raises RuntimeError when no credentials are found."""
    session = get_session()
    if await session.get_credentials() is None:
        raise RuntimeError("SQS: no AWS credentials found (environment, shared profile or instance role)")
    config = AioConfig(
        connect_timeout=settings.s3.connect_timeout,
        read_timeout=settings.worker.wait_seconds + settings.s3.read_timeout,
        retries={"max_attempts": settings.s3.max_attempts, "mode": "standard"},
    )
    context = session.create_client(
        "sqs",
        region_name=settings.s3.region or None,
        endpoint_url=settings.worker.endpoint_url or None,
        config=config,
    )
    client = await context.__aenter__()
    return SQSHandle(context, client)


Verdict = Literal["delete", "keep"]


@dataclass
class BatchSummary:
    received: int = 0
    deleted: int = 0
    #: Failed and left on the queue (retried after the visibility timeout, or to the DLQ).
    kept: int = 0
    #: Permanent failures received more than max_receives times, deleted (no working DLQ).
    dropped: int = 0
    test_events: int = 0
    #: Per event: ingested, present, removed, ignored, gone, stale, failed.
    outcomes: Counter[str] = field(default_factory=Counter)


class Worker:
    def __init__(self, sqs: SQSClient, processor: EventProcessor, settings: WorkerSettings) -> None:
        self.sqs = sqs
        self.processor = processor
        self.settings = settings
        self.totals = BatchSummary()

    async def check_queue(self) -> None:
        """Log the queue's redrive policy; warn when poison messages would have no DLQ.
        Raises the SQS fault when the queue cannot be read (a wrong URL fails at start-up)."""
        response = await self.sqs.get_queue_attributes(
            QueueUrl=self.settings.queue_url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        )
        attributes = response.get("Attributes", {})
        policy = json.loads(attributes.get("RedrivePolicy", "{}") or "{}")
        count = int(policy.get("maxReceiveCount", 0) or 0)
        if not count:
            log.warning(
                "queue has no redrive policy: a message that fails permanently is deleted after %d receives "
                "instead of going to a dead-letter queue",
                self.settings.max_receives,
            )
        elif count != self.settings.max_receives:
            log.warning(
                "queue's maxReceiveCount is %d but worker.max_receives is %d; set them equal", count,
                self.settings.max_receives,
            )
        log.info(
            "worker polling %s (batch %d, wait %ds, visibility %s, dead-letter after %s receives)",
            self.settings.queue_url,
            self.settings.batch_size,
            self.settings.wait_seconds,
            f"{self.settings.visibility_timeout}s" if self.settings.visibility_timeout else
            f"{attributes.get('VisibilityTimeout', '?')}s (queue)",
            count or "-",
        )

    async def receive(self) -> list[MessageTypeDef]:
        request: ReceiveMessageRequestTypeDef = {
            "QueueUrl": self.settings.queue_url,
            "MaxNumberOfMessages": self.settings.batch_size,
            "WaitTimeSeconds": self.settings.wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if self.settings.visibility_timeout:
            request["VisibilityTimeout"] = self.settings.visibility_timeout
        response = await self.sqs.receive_message(**request)
        return list(response.get("Messages", []))

    async def handle(self, message: MessageTypeDef, summary: BatchSummary) -> Verdict:
        """Apply one message's events; whether to delete it."""
        body = message.get("Body", "")
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            events = parse_message(body)
            if not events:
                summary.test_events += 1
                return "delete"
            for event in events:
                summary.outcomes[await self.processor.apply(event)] += 1
        except (PoisonMessage, ImgserverError) as exc:
            reason = str(exc) if isinstance(exc, PoisonMessage) else f"{exc.status} {exc.public_message}"
            return self._failed(message, receives, reason, is_permanent(exc), summary)
        except Exception:
            log.exception("message %s failed unexpectedly", message.get("MessageId"))
            return self._failed(message, receives, "internal error", False, summary)
        return "delete"

    def _failed(
        self, message: MessageTypeDef, receives: int, reason: str, permanent: bool, summary: BatchSummary
    ) -> Verdict:
        summary.outcomes["failed"] += 1
        limit = self.settings.max_receives
        ident = message.get("MessageId", "?")
        if permanent and receives > limit:
            log.error(
                "dropping message %s after %d receives (no dead-letter queue took it): %s; body: %s",
                ident, receives, reason, message.get("Body", "")[:4000],
            )
            summary.dropped += 1
            return "delete"
        level = logging.ERROR if receives >= limit else logging.WARNING
        what = "permanent" if permanent else "transient"
        log.log(level, "message %s failed (%s, receive %d of %d), left on the queue: %s",
                ident, what, receives, limit, reason)
        summary.kept += 1
        return "keep"

    async def process(self, messages: list[MessageTypeDef]) -> BatchSummary:
        """Handle a received batch and delete what succeeded."""
        summary = BatchSummary(received=len(messages))
        verdicts = await asyncio.gather(*(self.handle(m, summary) for m in messages))
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, (m, verdict) in enumerate(zip(messages, verdicts, strict=True))
            if verdict == "delete"
        ]
        if entries:
            try:
                response = await self.sqs.delete_message_batch(QueueUrl=self.settings.queue_url, Entries=entries)
            except FAULTS as exc:
                # They come back after the visibility timeout and are found already done.
                log.warning("could not delete %d message(s) (%s); they will be redelivered", len(entries),
                            type(exc).__name__)
            else:
                failed = response.get("Failed", [])
                for item in failed:
                    log.warning("could not delete message %s: %s", item.get("Id"),
                                item.get("Message", item.get("Code")))
                summary.deleted = len(entries) - len(failed)
        self._add(summary)
        return summary

    def _add(self, summary: BatchSummary) -> None:
        t = self.totals
        t.received += summary.received
        t.deleted += summary.deleted
        t.kept += summary.kept
        t.dropped += summary.dropped
        t.test_events += summary.test_events
        t.outcomes.update(summary.outcomes)

    async def poll_once(self) -> BatchSummary:
        """One receive and its batch."""
        return await self.process(await self.receive())

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; a batch that has started is always finished."""
        delay = BACKOFF[0]
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                polling = asyncio.create_task(self.receive())
                await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not polling.done():
                    polling.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *FAULTS):
                        await polling
                    break
                try:
                    messages = polling.result()
                except FAULTS as exc:
                    log.warning("receive failed (%s); retrying in %.0fs", type(exc).__name__, delay)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, BACKOFF[1])
                    continue
                delay = BACKOFF[0]
                if messages:
                    log.info("received %d message(s)", len(messages))
                    summary = await self.process(messages)
                    log.info(
                        "batch of %d: deleted %d, left %d, dropped %d%s%s",
                        summary.received, summary.deleted, summary.kept, summary.dropped,
                        f", test events {summary.test_events}" if summary.test_events else "",
                        "".join(f", {k} {v}" for k, v in sorted(summary.outcomes.items())),
                    )
        finally:
            stopping.cancel()
        t = self.totals
        log.info(
            "worker stopped: %d messages received, %d deleted, %d left on the queue", t.received, t.deleted, t.kept
        )


async def run_worker(settings: Settings, processor: EventProcessor, stop: asyncio.Event) -> Worker:
    """Open the SQS client, check the queue, poll until ``stop``; close the client."""
    sqs = await open_sqs(settings)
    try:
        worker = Worker(sqs.client, processor, settings.worker)
        try:
            await worker.check_queue()
        except FAULTS as exc:
            raise RuntimeError(f"SQS queue {settings.worker.queue_url}: {exc}") from None
        await worker.run(stop)
        return worker
    finally:
        await sqs.close()
