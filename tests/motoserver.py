"""moto's standalone server (``moto_server``, from ``moto[server]``) on 127.0.0.1 with a free
port: S3 and SQS over real HTTP, and S3 bucket notifications delivered to SQS queues, for the
event worker and Lambda tests. Started and stopped by PID only (never by name).

moto does not check IAM permissions; the least-privilege tests use SeaweedFS (s3server.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.s3server import free_ports

REGION = "us-east-1"
CREDENTIALS = ("testing-moto-key", "testing-moto-secret")


def moto_binary() -> str:
    found = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server not found: moto[server] is a test dependency (make setup)")
    return found


@dataclass(frozen=True)
class EventSetup:
    """An originals bucket notifying ``queue_url`` of ObjectCreated/ObjectRemoved events, the
    queue's dead-letter queue, and a metadata bucket."""

    originals: str
    metadata: str
    queue_url: str
    dlq_url: str


class MotoServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS[0],
            aws_secret_access_key=CREDENTIALS[1],
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=2),
        )

    def start(self, timeout: float = 60.0) -> None:
        self._log = open(self.workdir / "moto.log", "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [moto_binary(), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir,
        )
        s3 = self.client("s3")
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}; see {self.workdir / 'moto.log'}")
            try:
                s3.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server not ready after {timeout}s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)  # nothing to flush: moto keeps everything in memory
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def event_setup(self, max_receives: int = 2, visibility_timeout: int = 1) -> EventSetup:
        """Fresh buckets and queues (unique names), wired as in production: the queue has a
        redrive policy to its DLQ, the originals bucket notifies the queue. S3 answers the
        notification set-up with an ``s3:TestEvent`` message on the queue."""
        tag = uuid.uuid4().hex[:10]
        s3, sqs = self.client("s3"), self.client("sqs")
        originals, metadata = f"originals-{tag}", f"metadata-{tag}"
        s3.create_bucket(Bucket=originals)
        s3.create_bucket(Bucket=metadata)
        dlq_url = sqs.create_queue(QueueName=f"events-{tag}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}
        queue_url = sqs.create_queue(
            QueueName=f"events-{tag}",
            Attributes={"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=originals,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
                ]
            },
        )
        return EventSetup(originals, metadata, queue_url, dlq_url)

    def counts(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])
