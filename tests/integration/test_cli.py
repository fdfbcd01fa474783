"""`imgserver` as a user runs it: real processes, real sockets, signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import images
from tests.servers import clean_env, get, running

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
_env = clean_env


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
    readme = readme.split("## Example URLs", 1)[1].split("\n## ", 1)[0]
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
        # The supervisor never renders, so it never loads libvips (its workers do).
        assert "libvips" not in Path(f"/proc/{proc.pid}/maps").read_text()
        assert all("libvips" in Path(f"/proc/{pid}/maps").read_text() for pid in children)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
            time.sleep(0.1)
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    """Graceful shutdown: stop accepting, finish what is running, exit 0."""
    import threading

    root = tmp_path / "root"
    images.write(root, "big.jpg", images.jpeg(4000, 3000, quality=70))
    env = _env(IMGSERVER_FILE_ROOT=str(root), IMGSERVER_SECURITY_ALLOW_UNSAFE="true")
    result: dict[str, object] = {}
    with running(env=env) as (proc, base):
        # A slow render (a 12 MP PNG encode takes seconds), started before the signal.
        def slow() -> None:
            result["answer"] = get(base + "/unsafe/3999x2999/filters:format(png)/big.jpg")

        worker = threading.Thread(target=slow)
        worker.start()
        # Ordering, not timing: wait until the server reports the render in its pool.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _rendering(base):
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        assert worker.is_alive(), "the render finished before the signal: the test proves nothing"
        worker.join(60)
        assert proc.wait(30) == 0
    status, _, body = result["answer"]  # type: ignore[misc]
    assert status == 200
    assert images.size_of(body) == (3999, 2999)


def _rendering(base: str) -> bool:
    """The server's /metrics shows a render admitted to its pool."""
    _, _, body = get(base + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("imgserver_renders_in_flight "):
            return float(line.split()[1]) >= 1
    return False


def test_bulk_ingest_summary_and_rerun(tmp_path: Path) -> None:
    """`imgserver ingest` imports folders; a re-run skips what is complete and finishes the rest."""
    import json

    import jsonschema

    from imgserver.metadata import schema

    source = tmp_path / "import"
    images.write(source, "team/a.jpg", images.jpeg(320, 240))
    images.write(source, "team/b.png", images.png(200, 100, alpha=True))
    images.write(source, "team/.hidden/c.jpg", images.jpeg(50, 50))
    store = tmp_path / "data"
    env = _env(
        IMGSERVER_FILE_ROOT=str(tmp_path),
        IMGSERVER_SECURITY_ALLOW_UNSAFE="true",
        IMGSERVER_STORAGE_ROOT=str(store),
    )

    def ingest(*paths: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "imgserver", "ingest", "--jobs", "2", *paths],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )

    first = ingest(str(source / "team"))
    assert first.returncode == 0, first.stderr
    assert "done 2, already present 0, failed 0" in first.stdout
    docs = sorted((store / "metadata" / "").rglob("*.json"))
    assert len(docs) == 2
    for doc in docs:
        jsonschema.validate(json.loads(doc.read_text()), schema())
    # Interrupted run: one more file appeared, one metadata document got lost.
    images.write(source, "team/d.jpg", images.jpeg(100, 100))
    images.write(source, "team/notes.txt", b"not an image")
    docs[0].unlink()
    second = ingest(str(source / "team"))
    assert second.returncode == 1  # notes.txt is not an image
    assert "done 2, already present 1, failed 1" in second.stdout
    assert "notes.txt" in second.stdout
    assert "not a supported image" in second.stdout
    assert len(list((store / "metadata").rglob("*.json"))) == 3
    assert not any("hidden" in str(p) for p in (store / "originals").rglob("*"))


def test_the_supervisor_checks_libvips_in_a_child_and_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The version check runs in a short-lived child; its verdict (and message) reaches the
    supervisor, which raises before forking any worker."""
    from imgserver import cli

    assert cli._libvips_version_apart() == cli._libvips_version()

    def too_old() -> str:
        raise RuntimeError("libvips >= 99.0.0 is required, found 8.18.7")

    monkeypatch.setattr(cli, "_libvips_version", too_old)
    with pytest.raises(RuntimeError, match=r"99\.0\.0 is required"):
        cli._libvips_version_apart()
