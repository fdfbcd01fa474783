"""/metrics (Prometheus) and request ids, in one process and summed over --processes N."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from tests import images
from tests.servers import clean_env as _env
from tests.servers import get, running

pytestmark = pytest.mark.integration


def samples(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


@pytest.mark.gen_test
async def test_metrics_count_requests_phases_and_events(fetch, image_root: Path) -> None:
    before = (await fetch("/metrics")).body.decode()
    for size in (100, 110, 120):
        assert (await fetch(f"/unsafe/{size}x{size}/land.jpg")).code == 200
    assert (await fetch("/unsafe/nosuch.jpg")).code == 404
    response = await fetch("/metrics")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = response.body.decode()

    def delta(name: str, **labels: str) -> float:
        return samples(after, name, **labels) - samples(before, name, **labels)

    assert delta("imgserver_requests_total", route="image", status="200") == 3
    assert delta("imgserver_requests_total", route="image", status="404") == 1
    assert delta("imgserver_events_total", event="renders") == 3
    assert delta("imgserver_events_total", event="source_loads") == 3
    assert delta("imgserver_source_bytes_total") == 3 * (image_root / "land.jpg").stat().st_size
    for phase in ("queue", "load", "render", "encode", "total"):
        assert delta("imgserver_phase_seconds_count", phase=phase) >= 3, phase
    assert "imgserver_render_queue_depth" in after


@pytest.mark.gen_test
async def test_request_id_is_echoed_or_made(fetch) -> None:
    given = await fetch("/healthcheck", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = await fetch("/unsafe/nosuch.jpg", headers={"X-Request-Id": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
    assert made.code == 404  # also on errors


def test_metrics_are_summed_over_processes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    images.write(root, "a.jpg", images.jpeg(320, 240))
    env = _env(IMGSERVER_FILE_ROOT=str(root), IMGSERVER_SECURITY_ALLOW_UNSAFE="true", IMGSERVER_LOG_FORMAT="json")
    with running("--processes", "2", env=env) as (_, base):
        for i in range(12):
            assert get(f"{base}/unsafe/{40 + i}x40/a.jpg")[0] == 200
        totals = set()
        text = ""
        for _ in range(6):  # whichever process answers, the sum is over both
            with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
                text = response.read().decode()
            totals.add(samples(text, "imgserver_requests_total", route="image", status="200"))
        assert totals == {12.0}
        assert samples(text, "imgserver_events_total", event="renders") == 12
