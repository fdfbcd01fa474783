"""`imgserver` as a user runs it: real processes, real sockets, signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import images

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSERVER_")}
    env.update(extra)
    return env


@contextmanager
def running(*args: str, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start `imgserver serve …` on a free port; yield (process, base URL); stop it by PID."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgserver", "serve", "--port", "0", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
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
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        error.close()
        return error.code, dict(error.headers), body


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_invalid_settings_list_every_problem_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = "eighty"\n[nosuchsection]\nx = 1\n[limits]\nmax_frames = -1\n')
    result = subprocess.run(
        [sys.executable, "-m", "imgserver", "serve", "--config", str(config)],
        cwd=REPO,
        env=_env(
            IMGSERVER_SECURITY_ALLOW_UNSAFE="maybe",
            IMGSERVER_FILE_ROOT=str(tmp_path / "missing"),
            IMGSERVER_IMAGING_NOSUCH="1",
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    err = result.stderr
    for expected in (
        "server.port: expected an integer",
        "unknown section [nosuchsection]",
        "limits.max_frames: must be > 0",
        "IMGSERVER_SECURITY_ALLOW_UNSAFE: expected true or false",
        "file.root:",
        "IMGSERVER_IMAGING_NOSUCH: unknown setting",
    ):
        assert expected in err, err
    assert "Traceback" not in err


def test_readme_example_urls_and_sign_command(tmp_path: Path) -> None:
    """`make run` serves the samples with config/imgserver.toml: every README URL answers."""
    samples = tmp_path / "samples"
    subprocess.run([sys.executable, "-m", "imgserver", "samples", str(samples)], check=True, cwd=REPO, timeout=60)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    urls = sorted(set(re.findall(r"http://127\.0\.0\.1:8888(/[^\s`\"<>]+)", readme)))
    assert len(urls) >= 5, urls
    env = _env(IMGSERVER_FILE_ROOT=str(samples))
    signed = subprocess.run(
        [sys.executable, "-m", "imgserver", "sign", "--config", "config/imgserver.toml", "200x0/photos/doctor.jpg"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    with running("--config", "config/imgserver.toml", env=env) as (_, base):
        for path in urls:
            status, headers, body = get(base + path)
            assert status == 200, (path, body[:200])
            if path == "/healthcheck":
                assert body == b"WORKING\n"
            elif "/meta/" in path:
                assert headers["Content-Type"] == "application/json", path
            else:
                assert headers["Content-Type"].startswith("image/"), path
                assert images.size_of(body)[0] > 0
        status, headers, body = get(base + signed)
        assert status == 200 and images.size_of(body)[0] == 200
        tampered = signed.replace("200x0", "201x0")
        assert get(base + tampered)[0] == 403


def test_production_config_refuses_unsafe_and_serves_signed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    images.write(root, "a.jpg", images.jpeg(320, 240))
    env = _env(
        IMGSERVER_FILE_ROOT=str(root),
        IMGSERVER_SECURITY_KEYS="new-key,old-key",
        IMGSERVER_SERVER_HOST="127.0.0.1",
        IMGSERVER_SERVER_PROCESSES="1",
        IMGSERVER_LOADER_KIND="file",  # the example reads S3; this test is about signing
        IMGSERVER_RESULT_CACHE_KIND="none",
    )
    with running("--config", "config/production.example.toml", env=env) as (_, base):
        assert get(base + "/unsafe/100x100/a.jpg")[0] == 403
        from imgserver.url.signing import signed_path

        for key in ("new-key", "old-key"):  # rotation: both keys verify
            status, _, body = get(base + signed_path(key, "100x100/a.jpg"))
            assert status == 200 and images.size_of(body) == (100, 100)
        assert get(base + signed_path("not-a-key", "100x100/a.jpg"))[0] == 403


def test_processes_fork_on_one_port_and_sigterm_stops_all(tmp_path: Path) -> None:
    root = tmp_path / "root"
    images.write(root, "a.jpg", images.jpeg(320, 240))
    env = _env(IMGSERVER_FILE_ROOT=str(root), IMGSERVER_SECURITY_ALLOW_UNSAFE="true")
    with running("--processes", "2", env=env) as (proc, base):
        for _ in range(10):
            status, _, body = get(base + "/unsafe/50x50/a.jpg")
            assert status == 200 and images.size_of(body) == (50, 50)
        children = children_of(proc.pid)
        assert len(children) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
            time.sleep(0.1)
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
