"""Overload: drive 4x the measured capacity at the real server and see it shed load cleanly.

    python -m bench.overload [--seconds 30] [--factor 4] [--threads 2] [--queue 16]

1. Starts ``imgserver serve`` (file loader, no result cache) on a generated 1920x1080 JPEG.
2. Measures capacity: closed-loop, ``threads`` x 2 clients for 8 s → req/s.
3. Open loop: requests issued at ``factor`` x capacity for ``seconds`` regardless of answers
   (what a traffic spike does), every URL distinct so neither coalescing nor caches help.
4. Reports status counts (only 200 and 503 are acceptable), p50/p99 of the 200s, the server's
   peak RSS, and a request 1 s after the load stops (must be a prompt 200).
Not a unit test: it takes about a minute and its figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import tornado.httpclient

REPO = Path(__file__).resolve().parents[1]


def rss_of_tree(pid: int) -> int:
    """Resident bytes of ``pid`` and its children (serving processes)."""
    total = 0
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class RssPeak(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, rss_of_tree(self.pid))


def start_server(root: Path, threads: int, queue: int, processes: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSERVER_")}
    env.update(
        IMGSERVER_FILE_ROOT=str(root),
        IMGSERVER_SECURITY_ALLOW_UNSAFE="true",
        IMGSERVER_IMAGING_THREADS=str(threads),
        IMGSERVER_IMAGING_QUEUE_SIZE=str(queue),
        IMGSERVER_IMAGING_QUEUE_TIMEOUT="5",
        IMGSERVER_LOG_LEVEL="warning",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgserver", "serve", "--port", "0", "--processes", str(processes)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    base = line.split("listening on ", 1)[1].split()[0]
    return proc, base


async def closed_loop(base: str, clients: int, seconds: float) -> float:
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=clients)
    done, counter, end = 0, 0, time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done, counter
        while time.monotonic() < end:
            counter += 1
            response = await client.fetch(f"{base}/unsafe/{200 + counter % 400}x0/a.jpg", raise_error=False)
            done += response.code == 200

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.monotonic() - start)


async def open_loop(base: str, rate: float, seconds: float) -> tuple[Counter[int], list[float]]:
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=2000)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    tasks = []

    async def one(i: int) -> None:
        started = time.monotonic()
        response = await client.fetch(f"{base}/unsafe/{100 + i % 900}x{50 + i // 900 % 400}/a.jpg",
                                      raise_error=False, request_timeout=60, connect_timeout=30)
        statuses[response.code] += 1
        if response.code == 200:
            latencies.append(time.monotonic() - started)

    start = time.monotonic()
    i = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while i < due:
            tasks.append(asyncio.ensure_future(one(i)))
            i += 1
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    return statuses, latencies


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(q * len(values)))]


async def main_async(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO))
    from tests import images

    root = Path(tempfile.mkdtemp(prefix="imgserver-overload-"))
    images.write(root, "a.jpg", images.jpeg(1920, 1080))
    proc, base = start_server(root, args.threads, args.queue, args.processes)
    try:
        await asyncio.sleep(1)
        capacity = await closed_loop(base, args.threads * 2, 8)
        rate = args.factor * capacity
        print(f"capacity {capacity:.1f} req/s; driving {rate:.1f} req/s for {args.seconds:.0f} s", flush=True)
        monitor = RssPeak(proc.pid)
        monitor.start()
        statuses, latencies = await open_loop(base, rate, args.seconds)
        monitor.stop.set()
        await asyncio.sleep(1)
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        started = time.monotonic()
        after = await client.fetch(f"{base}/unsafe/300x200/a.jpg", raise_error=False)
        after_ms = 1000 * (time.monotonic() - started)
        print(f"status counts: {dict(sorted(statuses.items()))}")
        print(f"200s: p50 {pct(latencies, 0.5):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms"
              f" (median {1000 * statistics.median(latencies) if latencies else float('nan'):.0f} ms)")
        print(f"peak RSS of the server: {monitor.peak / 2**20:.0f} MiB")
        print(f"1 s after the load: {after.code} in {after_ms:.0f} ms")
        unexpected = {code: n for code, n in statuses.items() if code not in (200, 503)}
        ok = not unexpected and after.code == 200
        print("PASS" if ok else f"FAIL: unexpected statuses {unexpected}")
        return 0 if ok else 1
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--factor", type=float, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queue", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
