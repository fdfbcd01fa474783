"""`imgserver serve` as a real process for tests: start on a free port, stop by PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any IMGSERVER_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSERVER_")}
    env.update(extra)
    return env


@contextmanager
def running(
    *args: str, env: dict[str, str], stderr: int | IO[str] = subprocess.PIPE
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start `imgserver serve --port 0 …`; yield (process, base URL); SIGTERM it by PID."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgserver", "serve", "--port", "0", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        assert match, f"no listening line: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """A GET that returns (status, headers, body) for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        error.close()
        return error.code, dict(error.headers), body
