"""Soak: a mixed workload for N minutes, the server's RSS every 10 s — it must level off.

    python -m bench.soak [--minutes 5] [--clients 6]

Mixed sources (JPEG up to 12 MP, RGBA PNG, animated GIF) and operations (crops, fit-in, WebP,
filters, smart), every URL distinct so each request renders. Prints RSS every 10 s, then the
growth over the second half of the run (a leak shows as steady growth there; the allocator
setting used is ``imaging.malloc_arenas``, default 1: one glibc arena per process).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import tornado.httpclient

from bench.overload import REPO, rss_of_tree, start_server

URLS = [
    "/unsafe/{w}x{h}/big.jpg",
    "/unsafe/fit-in/{w}x{w}/big.jpg",
    "/unsafe/{w}x0/filters:format(webp)/hd.jpg",
    "/unsafe/{w}x{h}/smart/hd.jpg",
    "/unsafe/{w}x{h}/filters:grayscale():blur(2)/hd.jpg",
    "/unsafe/fit-in/{w}x{h}/alpha.png",
    "/unsafe/fit-in/{w}x{h}/anim.gif",
    "/unsafe/{w}x{h}/filters:watermark(alpha.png,10,10,50)/hd.jpg",
]


async def main_async(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO))
    from tests import images

    root = Path(tempfile.mkdtemp(prefix="imgserver-soak-"))
    images.write(root, "big.jpg", images.jpeg(4000, 3000))
    images.write(root, "hd.jpg", images.jpeg(1920, 1080))
    images.write(root, "alpha.png", images.png(800, 600, alpha=True))
    images.write(root, "anim.gif", images.animated(300, 200, 8))
    proc, base = start_server(root, threads=2, queue=64, processes=1)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=args.clients)
    end = time.monotonic() + 60 * args.minutes
    counter = 0
    errors = 0

    async def worker() -> None:
        nonlocal counter, errors
        while time.monotonic() < end:
            counter += 1
            template = URLS[counter % len(URLS)]
            url = base + template.format(w=100 + counter % 700, h=80 + counter % 500)
            response = await client.fetch(url, raise_error=False, request_timeout=120)
            errors += response.code != 200

    samples: list[tuple[float, int]] = []

    async def sampler() -> None:
        start = time.monotonic()
        while time.monotonic() < end:
            rss = rss_of_tree(proc.pid)
            samples.append((time.monotonic() - start, rss))
            print(f"{samples[-1][0]:6.0f} s  {rss / 2**20:7.1f} MiB  ({counter} requests)", flush=True)
            await asyncio.sleep(10)

    try:
        await asyncio.gather(sampler(), *(worker() for _ in range(args.clients)))
    finally:
        proc.terminate()
        proc.wait(30)
    half = [rss for t, rss in samples if t >= samples[-1][0] / 2]
    growth = (half[-1] - half[0]) / 2**20 if len(half) > 1 else 0.0
    peak = max(rss for _, rss in samples) / 2**20
    print(f"{counter} requests, {errors} errors; peak {peak:.1f} MiB; growth over the second half {growth:+.1f} MiB")
    ok = errors == 0 and growth < 0.05 * peak + 5
    print("PASS (levelled off)" if ok else "FAIL (still growing, or errors)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=6)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
