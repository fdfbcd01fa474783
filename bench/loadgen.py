"""Load generators: wrk (Debian's package) when present, else a small asyncio client.

Both return the same dict: requests, seconds, rps, p50_ms, p99_ms, errors (non-2xx + socket
errors + timeouts), bytes.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from urllib.parse import urlsplit

TIMEOUT_S = 30


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not match:
        return float("nan")
    number, unit = float(match.group(1)), match.group(2)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, connections: int, seconds: float) -> dict[str, float]:
    """One wrk run (one thread: the server under test gets the cores, not the client)."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={TIMEOUT_S}s",
        "--latency",
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + TIMEOUT_S + 30).stdout
    result: dict[str, float] = {"errors": 0.0}
    match = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    if match:
        result["requests"] = float(match.group(1))
        result["seconds"] = _ms(match.group(2)) / 1000.0
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(match.group(1)) if match else 0.0
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        result[key] = _ms(match.group(1)) if match else float("nan")
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if match:
        result["errors"] += sum(float(g) for g in match.groups())
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match:
        result["errors"] += float(match.group(1))
    return result


async def _client(
    host: str, port: int, request: bytes, stop: float, latencies: list[float], counts: dict[str, int]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < stop:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            started = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT_S)
            latencies.append(time.perf_counter() - started)
            counts["bytes"] += len(body)
            if not 200 <= status < 400:
                counts["errors"] += 1
            if b"connection: close" in head.lower():
                writer.close()
                writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            counts["errors"] += 1
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


def run_python(url: str, connections: int, seconds: float) -> dict[str, float]:
    """The fallback generator: ``connections`` keep-alive connections in one asyncio loop."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    latencies: list[float] = []
    counts = {"errors": 0, "bytes": 0}

    async def main() -> float:
        started = time.perf_counter()
        stop = started + seconds
        await asyncio.gather(
            *(
                _client(parts.hostname or "127.0.0.1", parts.port or 80, request, stop, latencies, counts)
                for _ in range(connections)
            )
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()

    def pct(p: float) -> float:
        return 1000.0 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    return {
        "requests": float(len(latencies)),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": float(counts["errors"]),
    }


def run(url: str, connections: int, seconds: float, use_wrk: bool) -> dict[str, float]:
    return run_wrk(url, connections, seconds) if use_wrk else run_python(url, connections, seconds)
