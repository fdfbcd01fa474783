"""The S3-event worker and the Lambda entry point against moto's standalone server: real
buckets, real queues, and the notifications moto's S3 delivers to SQS over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

import jsonschema
import pytest

from imgserver import lambda_handler
from imgserver.events import EventProcessor
from imgserver.metadata import schema
from imgserver.pool import RenderPool
from imgserver.settings import Settings, load_settings
from imgserver.wiring import open_ingestor
from imgserver.worker import BatchSummary, Worker, open_sqs
from tests import images, motoserver
from tests.integration.conftest import aws_environment
from tests.integration.test_cli import REPO, _env
from tests.motoserver import EventSetup, MotoServer

pytestmark = pytest.mark.integration


def validate(doc: dict[str, Any]) -> None:
    jsonschema.validate(doc, schema(), format_checker=jsonschema.FormatChecker())


def env_for(moto: MotoServer, setup: EventSetup, **worker: object) -> dict[str, str]:
    """The IMGSERVER_* (and AWS_*) environment of a worker or Lambda for ``setup``."""
    values = {
        "storage_kind": "s3",
        "s3_endpoint_url": moto.endpoint,
        "s3_region": motoserver.REGION,
        "s3_originals_bucket": setup.originals,
        "s3_metadata_bucket": setup.metadata,
        "s3_addressing_style": "path",
        "s3_max_attempts": 2,
        "worker_queue_url": setup.queue_url,
        "worker_endpoint_url": moto.endpoint,
        "worker_wait_seconds": 1,
        "worker_visibility_timeout": 30,
        "worker_max_receives": 2,
        "imaging_threads": 2,
    }
    values.update({f"worker_{k}": v for k, v in worker.items()})
    return {f"IMGSERVER_{k.upper()}": str(v) for k, v in values.items()}


@pytest.fixture
def setup(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> EventSetup:
    aws_environment(monkeypatch, motoserver.CREDENTIALS)
    return moto.event_setup(max_receives=2, visibility_timeout=1)


def settings_for(moto: MotoServer, setup: EventSetup, **worker: object) -> Settings:
    return load_settings(None, environ=env_for(moto, setup, **worker), serving=False)


@contextlib.asynccontextmanager
async def open_worker(settings: Settings) -> AsyncIterator[Worker]:
    pool = RenderPool(2, queue_size=100, queue_timeout=60)
    ingestor, close = await open_ingestor(settings, pool)
    sqs = await open_sqs(settings)
    try:
        processor = EventProcessor(ingestor, settings.s3.originals_bucket, settings.s3.prefix, 32 * 1024 * 1024)
        yield Worker(sqs.client, processor, settings.worker)
    finally:
        await sqs.close()
        await close()
        pool.shutdown()


async def drain(worker: Worker, until: Callable[[], bool], timeout: float = 20.0) -> BatchSummary:
    """Poll batch after batch until ``until()``; the worker's running totals."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"not done after {timeout}s: {worker.totals}"
        await worker.poll_once()
    return worker.totals


def work(moto: MotoServer, setup: EventSetup, settings: Settings | None = None) -> BatchSummary:
    """Run a worker in this process until the queue is empty (nothing visible or in flight)."""

    async def scenario() -> BatchSummary:
        async with open_worker(settings or settings_for(moto, setup)) as worker:
            return await drain(worker, lambda: moto.counts(setup.queue_url) == (0, 0))

    return asyncio.run(scenario())


def metadata(moto: MotoServer, setup: EventSetup, key: str) -> dict[str, Any] | None:
    s3 = moto.client("s3")
    try:
        body = s3.get_object(Bucket=setup.metadata, Key=f"{key}.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    doc: dict[str, Any] = json.loads(body)
    return doc


def take_notification(moto: MotoServer, setup: EventSetup, key: str) -> dict[str, Any]:
    """Receive (and delete) messages until the notification about ``key``; its parsed body."""
    sqs = moto.client("sqs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=setup.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=setup.queue_url, ReceiptHandle=message["ReceiptHandle"])
            body: dict[str, Any] = json.loads(message["Body"])
            records = body.get("Records", [])
            if records and unquote_plus(records[0]["s3"]["object"]["key"]) == key:
                return body
    raise AssertionError(f"no notification for {key!r}")


def test_object_dropped_into_the_bucket_gets_its_metadata(moto: MotoServer, setup: EventSetup) -> None:
    original = images.jpeg(640, 480, orientation=6)
    moto.client("s3").put_object(Bucket=setup.originals, Key="photos/dropped.jpg", Body=original)
    totals = work(moto, setup)
    assert totals.outcomes["ingested"] == 1
    assert totals.test_events == 1  # the set-up's s3:TestEvent, deleted too
    assert totals.kept == 0 and totals.deleted == totals.received == 2
    doc = metadata(moto, setup, "photos/dropped.jpg")
    assert doc is not None
    validate(doc)
    assert doc["source"] == "event"
    assert doc["uploader"] == "s3-event"
    assert doc["key"] == "photos/dropped.jpg"
    assert doc["original"] == {"store": setup.originals, "path": f"s3://{setup.originals}/photos/dropped.jpg"}
    assert (doc["width"], doc["height"], doc["display_width"], doc["display_height"]) == (640, 480, 480, 640)
    assert doc["bytes"] == len(original)
    assert moto.counts(setup.dlq_url) == (0, 0)


def test_s3_test_event_is_deleted(moto: MotoServer, setup: EventSetup) -> None:
    totals = work(moto, setup)
    assert (totals.received, totals.test_events, totals.deleted) == (1, 1, 1)
    assert not totals.outcomes
    assert moto.client("s3").list_objects_v2(Bucket=setup.metadata).get("KeyCount", 0) == 0


def test_removal_deletes_the_metadata_unless_the_key_was_written_again(moto: MotoServer, setup: EventSetup) -> None:
    s3 = moto.client("s3")
    s3.put_object(Bucket=setup.originals, Key="gone.jpg", Body=images.jpeg(200, 150))
    s3.put_object(Bucket=setup.originals, Key="back.jpg", Body=images.jpeg(200, 150))
    work(moto, setup)
    assert metadata(moto, setup, "gone.jpg") is not None

    s3.delete_object(Bucket=setup.originals, Key="gone.jpg")
    # back.jpg is removed and written again before the worker sees either event: the
    # removal is stale and must not delete the new original's metadata.
    s3.delete_object(Bucket=setup.originals, Key="back.jpg")
    newer = images.jpeg(300, 200)
    s3.put_object(Bucket=setup.originals, Key="back.jpg", Body=newer)
    totals = work(moto, setup)
    assert totals.outcomes["removed"] == 1
    assert totals.outcomes["stale"] == 1
    assert metadata(moto, setup, "gone.jpg") is None
    back = metadata(moto, setup, "back.jpg")
    assert back is not None and (back["width"], back["bytes"]) == (300, len(newer))


def test_duplicate_event_is_already_present(moto: MotoServer, setup: EventSetup) -> None:
    moto.client("s3").put_object(Bucket=setup.originals, Key="twice.jpg", Body=images.jpeg(320, 240))
    body = json.dumps(take_notification(moto, setup, "twice.jpg"))
    sqs = moto.client("sqs")
    sqs.send_message(QueueUrl=setup.queue_url, MessageBody=body)
    first = work(moto, setup)
    assert first.outcomes["ingested"] == 1
    doc = metadata(moto, setup, "twice.jpg")
    sqs.send_message(QueueUrl=setup.queue_url, MessageBody=body)  # S3 delivers at least once
    second = work(moto, setup)
    assert second.outcomes == {"present": 1}
    assert second.deleted == 1
    assert metadata(moto, setup, "twice.jpg") == doc  # not rewritten: same uploaded_at


def test_url_encoded_key_with_spaces_and_unicode(moto: MotoServer, setup: EventSetup) -> None:
    key = "staff photos/Dr Müller + Öz ñ.jpg"
    moto.client("s3").put_object(Bucket=setup.originals, Key=key, Body=images.jpeg(120, 80))
    body = take_notification(moto, setup, key)
    raw = body["Records"][0]["s3"]["object"]["key"]
    assert "+" in raw and "%C3%BC" in raw and " " not in raw  # S3's form encoding
    moto.client("sqs").send_message(QueueUrl=setup.queue_url, MessageBody=json.dumps(body))
    totals = work(moto, setup)
    assert totals.outcomes["ingested"] == 1
    doc = metadata(moto, setup, key)
    assert doc is not None and doc["key"] == key
    validate(doc)


def test_poison_messages_end_in_the_dead_letter_queue(moto: MotoServer, setup: EventSetup) -> None:
    moto.client("s3").put_object(Bucket=setup.originals, Key="notes/readme.jpg", Body=b"not an image at all\n" * 20)
    moto.client("sqs").send_message(QueueUrl=setup.queue_url, MessageBody="{not json")
    # visibility_timeout 0: the queue's own (1 s), so each failure is retried a second later.
    settings = settings_for(moto, setup, visibility_timeout=0)

    async def scenario() -> BatchSummary:
        async with open_worker(settings) as worker:
            return await drain(
                worker,
                lambda: moto.counts(setup.dlq_url)[0] == 2 and moto.counts(setup.queue_url) == (0, 0),
            )

    totals = asyncio.run(scenario())
    assert totals.kept == 4  # two messages, each received max_receives = 2 times
    assert totals.dropped == 0
    assert metadata(moto, setup, "notes/readme.jpg") is None
    dead = moto.client("sqs").receive_message(QueueUrl=setup.dlq_url, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted(m["Body"] for m in dead)
    assert bodies[1] == "{not json"
    assert unquote_plus(json.loads(bodies[0])["Records"][0]["s3"]["object"]["key"]) == "notes/readme.jpg"


def test_without_a_redrive_policy_poison_is_dropped_after_max_receives(moto: MotoServer, setup: EventSetup) -> None:
    sqs = moto.client("sqs")
    sqs.set_queue_attributes(QueueUrl=setup.queue_url, Attributes={"RedrivePolicy": ""})
    sqs.send_message(QueueUrl=setup.queue_url, MessageBody="[1, 2, 3]")
    totals = work(moto, setup, settings_for(moto, setup, visibility_timeout=1, max_receives=1))
    assert (totals.kept, totals.dropped) == (1, 1)  # received twice: kept once, then deleted
    assert moto.counts(setup.dlq_url) == (0, 0)


@contextlib.contextmanager
def worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgserver", "worker"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_sigterm_finishes_the_batch_and_exits_0(moto: MotoServer, setup: EventSetup) -> None:
    s3 = moto.client("s3")
    photo = images.jpeg(1600, 1200)
    keys = [f"batch/photo-{i}.jpg" for i in range(6)]
    for key in keys:
        s3.put_object(Bucket=setup.originals, Key=key, Body=photo)
    assert moto.counts(setup.queue_url) == (7, 0)  # six objects and the test event
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    env = _env(**{**env_for(moto, setup), **aws, "IMGSERVER_IMAGING_THREADS": "1"})
    with worker_process(env) as proc:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "received 7 message(s)" in line:
                proc.send_signal(signal.SIGTERM)  # mid-batch: six images still to ingest
                break
        else:
            pytest.fail("worker ended early:\n" + "".join(seen))
        rest = proc.stderr.read()
        assert proc.wait(30) == 0, rest
    # The stop was requested while the batch ran, and the batch still finished.
    assert "SIGTERM: finishing the current batch" in rest, rest
    assert rest.index("SIGTERM: finishing") < rest.index("batch of 7: deleted 7"), rest
    assert "worker stopped" in rest
    assert moto.counts(setup.queue_url) == (0, 0)
    for key in keys:
        doc = metadata(moto, setup, key)
        assert doc is not None and doc["source"] == "event"


def test_lambda_handler_with_a_real_notification(
    moto: MotoServer, setup: EventSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env_for(moto, setup).items():
        monkeypatch.setenv(name, value)
    key = "lambda/Portrait Ä.png"
    moto.client("s3").put_object(Bucket=setup.originals, Key=key, Body=images.png(200, 100, alpha=True))
    notification = take_notification(moto, setup, key)
    event = {"Records": notification["Records"]}  # what S3 passes to a Lambda it invokes
    summary = lambda_handler.handler(event, None)
    assert summary["ingested"] == 1 and summary["records"] == 1 and summary["failed"] == []
    doc = metadata(moto, setup, key)
    assert doc is not None and doc["source"] == "event" and doc["has_alpha"] is True
    validate(doc)
    assert lambda_handler.handler(event, None)["present"] == 1  # idempotent

    # Through an SQS event source mapping: bodies are notifications; failures are reported per message.
    sqs_event = {
        "Records": [
            {"eventSource": "aws:sqs", "messageId": "m-1", "body": json.dumps(notification)},
            {"eventSource": "aws:sqs", "messageId": "m-2", "body": "{not json"},
            {"eventSource": "aws:sqs", "messageId": "m-3", "body": json.dumps({"Event": "s3:TestEvent"})},
        ]
    }
    batch = lambda_handler.handler(sqs_event, None)
    assert batch["batchItemFailures"] == [{"itemIdentifier": "m-2"}]
    assert (batch["present"], batch["test_events"]) == (1, 1)

    moto.client("s3").put_object(Bucket=setup.originals, Key="lambda/bad.jpg", Body=b"text, not pixels")
    bad = take_notification(moto, setup, "lambda/bad.jpg")
    with pytest.raises(lambda_handler.EventsFailed, match="415"):
        lambda_handler.handler({"Records": bad["Records"]}, None)


def test_worker_start_up_failures_are_clear(moto: MotoServer, setup: EventSetup) -> None:
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    base = {**env_for(moto, setup), **aws}
    missing = _env(**{k: v for k, v in base.items() if k != "IMGSERVER_WORKER_QUEUE_URL"})
    done = subprocess.run([sys.executable, "-m", "imgserver", "worker"], cwd=REPO, env=missing,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "worker.queue_url: required" in done.stderr
    wrong = _env(**{**base, "IMGSERVER_WORKER_QUEUE_URL": setup.queue_url + "-nope"})
    done = subprocess.run([sys.executable, "-m", "imgserver", "worker"], cwd=REPO, env=wrong,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "SQS queue" in done.stderr and "Traceback" not in done.stderr
