"""Result-cache hit vs miss latency and the coalescing counts, against a real SeaweedFS.

    .venv/bin/python -m bench.result_cache

Starts SeaweedFS (tests/s3server.py) on 127.0.0.1, uploads a 1920x1080 JPEG, serves
imgserver (S3 loader + S3 result cache, one process, 2 render threads) on a free port
and measures over real sockets: 20 distinct URLs once (misses), then again (hits); then
20 concurrent identical requests for a fresh URL. Prints medians and counters.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import pyvips
import tornado.httpclient
import tornado.httpserver
import tornado.testing

from imgserver.app import make_app
from imgserver.imaging.setup import configure
from imgserver.settings import load_settings
from imgserver.wiring import close_state, open_state
from tests import images, s3server
from tests.s3server import SeaweedServer


async def measure(endpoint: str, root: Path) -> None:
    settings = load_settings(
        None,
        environ={},
        overrides={
            ("file", "root"): str(root),
            ("security", "allow_unsafe"): True,
            ("imaging", "threads"): 2,
            ("loader", "kind"): "s3",
            ("s3", "endpoint_url"): endpoint,
            ("s3", "originals_bucket"): s3server.ORIGINALS,
            ("s3", "results_bucket"): s3server.RESULTS,
            ("s3", "addressing_style"): "path",
            ("result_cache", "kind"): "s3",
        },
    )
    state = await open_state(settings)
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(make_app(state))
    server.add_socket(sock)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=32)
    base = f"http://127.0.0.1:{port}"

    async def timed(path: str) -> float:
        started = time.perf_counter()
        response = await client.fetch(base + path)
        assert response.code == 200
        return 1000 * (time.perf_counter() - started)

    paths = [f"/unsafe/fit-in/{400 + 20 * i}x{400 + 20 * i}/hd.jpg" for i in range(20)]
    await timed("/unsafe/10x10/hd.jpg")  # warm the connection pools
    misses = [await timed(p) for p in paths]
    while state.background:
        await asyncio.wait(set(state.background))
    hits = [await timed(p) for p in paths]
    print(f"fit-in 400..780 px JPEG outputs, 20 URLs each, {os.cpu_count()} cores")
    print(f"  miss (stat + cache GET 404 + original GET + render): median {statistics.median(misses):.1f} ms")
    print(f"  hit  (stat + cache GET):                            median {statistics.median(hits):.1f} ms")
    print(f"  counters: {dict(state.metrics)}")

    before = dict(state.metrics)
    started = state.flights.started, state.flights.joined
    path = "/unsafe/fit-in/1000x1000/hd.jpg"
    responses = await asyncio.gather(*(client.fetch(base + path) for _ in range(20)))
    assert all(r.code == 200 for r in responses)
    assert len({r.body for r in responses}) == 1
    print("20 concurrent identical requests (no gate):")
    print(f"  source loads {state.metrics['source_loads'] - before.get('source_loads', 0)}, "
          f"renders {state.metrics['renders'] - before.get('renders', 0)}, "
          f"flights started {state.flights.started - started[0]}, joined {state.flights.joined - started[1]}")
    client.close()
    server.stop()
    await close_state(state)


def photo_like(width: int, height: int) -> bytes:
    """The test scene with grain, so the JPEG has a photo's size (not a flat test card's)."""
    scene = images.scene(width, height)
    grain = pyvips.Image.gaussnoise(width, height, sigma=18, mean=0)
    return bytes((scene + grain).cast("uchar").jpegsave_buffer(Q=85))


def main() -> None:
    configure(1)
    with tempfile.TemporaryDirectory() as tmp:
        seaweed = SeaweedServer(Path(tmp))
        seaweed.start()
        try:
            seaweed.create_buckets(s3server.ORIGINALS, s3server.RESULTS)
            original = photo_like(1920, 1080)
            print(f"original: 1920x1080 JPEG, {len(original)} bytes")
            seaweed.put(s3server.ORIGINALS, "hd.jpg", original)
            for name, value in zip(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), s3server.IMGSERVER, strict=True):
                os.environ[name] = value
            os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
            asyncio.run(measure(seaweed.endpoint, Path(tmp)))
        finally:
            seaweed.stop()


if __name__ == "__main__":
    main()
