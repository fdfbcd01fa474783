"""Side-by-side benchmark: imgserver against Thumbor 7.8 on one machine, in one run.

    make bench                                  # everything (corpus, Thumbor venv, wrk, runs)
    .venv/bin/python bench/run.py --help        # rounds, durations, scenario subset…

Both servers run on 127.0.0.1 only, are started by this script and stopped by their own PIDs.
Thumbor runs at its strongest on this kind of machine: one single-process Thumbor per core,
each handed its own SO_REUSEPORT listening socket on one port through ``--fd``. imgserver runs
with one process per core (``--processes 0``), the file loader and no result cache. Scenarios
are driven alternately (Thumbor first in even rounds, imgserver first in odd rounds); the table
shows medians over rounds. Results go to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import unquote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import ceiling  # noqa: E402
import corpus  # noqa: E402
import loadgen  # noqa: E402
import quality  # noqa: E402
import targets  # noqa: E402
from scenarios import SCENARIOS, Scenario  # noqa: E402

from imgserver.affinity import usable_cpus  # noqa: E402  (ceiling put the repo on sys.path)

THUMBOR_VERSION = "7.8.0"
THUMBOR_VENV = HERE / ".thumbor-venv"
RESULTS = HERE / "results"
CORPUS = HERE / ".corpus"
#: Alternating (uncached, cached) runs behind the result-cache row.
CACHE_PAIRS = 3
HOST = "127.0.0.1"
STARTED = time.time()
#: When `make bench` started (the Makefile passes it), so the time covers its setup too.
MAKE_STARTED = float(os.environ.get("BENCH_T0") or STARTED)


def say(message: str) -> None:
    print(f"[bench {time.time() - STARTED:6.1f}s] {message}", flush=True)


# --------------------------------------------------------------------------- tools


def ensure_thumbor() -> Path:
    """Thumbor 7.8 in its own virtualenv (installed once; git-ignored)."""
    exe = THUMBOR_VENV / "bin" / "thumbor"
    stamp = THUMBOR_VENV / f".thumbor-{THUMBOR_VERSION}"
    if exe.exists() and stamp.exists():
        return exe
    say(f"installing Thumbor {THUMBOR_VERSION} into {THUMBOR_VENV.relative_to(ROOT)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(THUMBOR_VENV)], check=True)
    pip = [str(THUMBOR_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, f"thumbor=={THUMBOR_VERSION}"], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        raise RuntimeError(f"pip could not install thumbor=={THUMBOR_VERSION}")
    stamp.write_text("ok\n")
    return exe


def pillow_version() -> str:
    """The Pillow that pip resolved for Thumbor (its speed and memory move with it)."""
    python = THUMBOR_VENV / "bin" / "python"
    if not python.exists():
        return "?"
    done = subprocess.run([str(python), "-c", "import PIL; print(PIL.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def ensure_wrk() -> bool:
    """wrk from Debian's packages when we may install it; else the Python generator."""
    if loadgen.wrk_path():
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing wrk (apt-get install -y wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update"], **quiet)  # type: ignore[call-overload]
            subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet)  # type: ignore[call-overload]
    if loadgen.wrk_path():
        return True
    say("wrk not available: using the Python load generator")
    return False


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def reuseport_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class Server:
    """A server under test: its processes (started here), its port, its RSS."""

    def __init__(self, name: str, port: int, procs: list[subprocess.Popen[bytes]]) -> None:
        self.name = name
        self.port = port
        self.procs = procs

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}/unsafe/{path}"

    def pids(self) -> list[int]:
        """Our processes and their descendants (imgserver's pre-forked workers)."""
        roots = {p.pid for p in self.procs if p.poll() is None}
        found = set(roots)
        frontier = list(roots)
        while frontier:
            pid = frontier.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    kids = (task / "children").read_text().split()
                except OSError:
                    continue
                for kid in map(int, kids):
                    if kid not in found:
                        found.add(kid)
                        frontier.append(kid)
        return sorted(found)

    def memory_mb(self) -> tuple[float, float]:
        """(RSS, PSS) summed over the server's processes. RSS counts pages shared between
        forked processes once per process; PSS divides them among their sharers."""
        rss = pss = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except OSError:
                continue
        return rss / 1024.0, pss / 1024.0

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Until the server has finished what an earlier run left queued (a backlog would
        steal the cores from the next measurement)."""
        deadline = time.time() + timeout
        before = self.cpu_seconds()
        while time.time() < deadline:
            time.sleep(0.3)
            now = self.cpu_seconds()
            if now - before < 0.03:
                return
            before = now

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(p.poll() is not None for p in server.procs):
            raise RuntimeError(f"{server.name} exited during start-up (see bench/results/{server.name}.log)")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{server.port}/healthcheck", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer /healthcheck in {timeout:.0f} s")


THUMBOR_CONF = """\
# Written by bench/run.py: Thumbor 7.8 serving the benchmark corpus, no storage, no result
# storage, EXIF orientation applied (as imgserver does by default), default encoder settings.
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {root!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
ALLOW_UNSAFE_URL = True
RESPECT_ORIENTATION = True
NON_BLOCKING_SOCKETS = True
USE_GIFSICLE_ENGINE = {gifsicle}
"""


def start_thumbor(exe: Path, root: Path, processes: int, gifsicle: bool) -> Server:
    conf = RESULTS / "thumbor.conf"
    conf.write_text(THUMBOR_CONF.format(root=str(root), gifsicle=gifsicle))
    port = free_port()
    log = (RESULTS / "thumbor.log").open("ab")
    procs = []
    for _ in range(processes):
        sock = reuseport_socket(port)
        procs.append(
            subprocess.Popen(
                [str(exe), "--fd", str(sock.fileno()), "-c", str(conf), "-l", "error"],
                pass_fds=(sock.fileno(),),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        )
        sock.close()  # the child holds it now
    server = Server("thumbor", port, procs)
    wait_ready(server)
    return server


def start_imgserver(root: Path, processes: int, **extra_env: str) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "IMGSERVER_FILE_ROOT": str(root),
        "IMGSERVER_SECURITY_ALLOW_UNSAFE": "true",
        **extra_env,
    }
    env.pop("IMGSERVER_CONFIG", None)
    log = (RESULTS / "imgserver.log").open("ab")
    exe = Path(sys.executable).parent / "imgserver"
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", HOST, "--port", str(port), "--processes", str(processes)],
        env=env,
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    server = Server("imgserver", port, [proc])
    wait_ready(server)
    return server


class RssMonitor:
    """Samples a server's total RSS (all its processes) while a run is going."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0.0
        self.peak_pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.25)

    def _sample(self) -> None:
        rss, pss = self.server.memory_mb()
        self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)

    def __enter__(self) -> RssMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# --------------------------------------------------------------------------- checks


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def describe_image(body: bytes) -> dict[str, Any]:
    import pyvips

    try:
        image = pyvips.Image.new_from_buffer(body, "")
    except pyvips.Error:
        return {"ok": False}
    pages = int(image.get("n-pages")) if image.get_typeof("n-pages") else 1
    loader = str(image.get("vips-loader")).replace("load_buffer", "")
    return {
        "ok": True,
        "width": image.width,
        "height": image.height,
        "frames": pages,
        "bands": image.bands,
        "format": loader,
        "interpretation": image.interpretation,
    }


def is_grey(body: bytes) -> bool:
    """One band, or three bands that (nearly) agree everywhere."""
    import pyvips

    image = pyvips.Image.new_from_buffer(body, "")
    if image.bands < 3:
        return True
    r, g, b = image[0].cast("float"), image[1].cast("float"), image[2].cast("float")
    return bool(max((r - g).abs().max(), (g - b).abs().max()) <= 8)


def resolve_paths(imgserver: Server, scenarios: list[Scenario]) -> dict[str, dict[str, Any]]:
    """The URL each render scenario uses; a 400 on our branch falls back to ``fallback``."""
    chosen: dict[str, dict[str, Any]] = {}
    for sc in scenarios:
        if sc.kind is not None:
            continue
        status, body, _ = fetch(imgserver.url(sc.path))
        if sc.fallback and (status == 400 or (status == 200 and "grayscale()" in sc.path and not is_grey(body))):
            why = "answers 400" if status == 400 else "ignores grayscale() (colour output)"
            say(f"{sc.name}: imgserver {why} for {sc.path!r}; running {sc.fallback!r} on both servers")
            chosen[sc.name] = {"path": sc.fallback, "note": "run without grayscale(): not on this branch yet"}
        else:
            chosen[sc.name] = {"path": sc.path, "note": ""}
    return chosen


# --------------------------------------------------------------------------- special scenarios


def special_available(imgserver: Server, kind: str) -> str | None:
    """None when the feature exists on this build, else why the row is skipped.

    Plug-in point: the result cache and request coalescing are built on another branch. When
    ``imgserver config`` shows a ``result_cache`` section (and /metrics counts renders for
    coalescing), these rows are measured."""
    exe = Path(sys.executable).parent / "imgserver"
    env = {**os.environ, "IMGSERVER_SECURITY_ALLOW_UNSAFE": "true", "IMGSERVER_FILE_ROOT": str(CORPUS)}
    out = subprocess.run([str(exe), "config"], capture_output=True, text=True, env=env).stdout
    try:
        sections = json.loads(out)
    except ValueError:
        sections = {}
    if "result_cache" not in sections:
        return "not available yet (result cache and coalescing are on another branch)"
    if kind == "coalesce":
        status, body, _ = fetch(f"http://{HOST}:{imgserver.port}/metrics")
        if status != 200 or b"render" not in body:
            return "not available yet (needs a render counter in /metrics)"
    return None


def renders_of(server: Server) -> float:
    """imgserver's render counter (summed over its processes) from /metrics."""
    _status, body, _ = fetch(f"http://{HOST}:{server.port}/metrics")
    total = 0.0
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("imgserver_events_total{") and 'event="renders"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def measure_special(sc: Scenario, path: str, duration: float, use_wrk: bool) -> tuple[str, dict[str, float]]:
    """The result-cache and coalescing rows, each on a server of its own: the row's text and
    its numbers (for the targets)."""
    if sc.kind == "cache":
        cache_root = Path(tempfile.mkdtemp(prefix="imgserver-bench-cache-"))
        server = start_imgserver(
            CORPUS,
            0,
            IMGSERVER_RESULT_CACHE_KIND="file",
            IMGSERVER_RESULT_CACHE_ROOT=str(cache_root),
            IMGSERVER_IMAGING_COALESCE_LINGER="0",  # hits must come from the cache, not a lingering render
        )
        try:
            plain = start_imgserver(CORPUS, 0, IMGSERVER_IMAGING_COALESCE="false")
            try:
                fetch(plain.url(path))
                for _ in range(3):
                    fetch(server.url(path))  # miss, then stored; every process sees the same folder
                time.sleep(0.5)
                # Alternating pairs, medians: one 4-s sample of each moved the ratio by 2x
                # between runs on this machine.
                uncached_runs, hit_runs = [], []
                for _ in range(CACHE_PAIRS):
                    uncached_runs.append(loadgen.run(plain.url(path), 8, duration, use_wrk))
                    hit_runs.append(loadgen.run(server.url(path), 8, duration, use_wrk))
            finally:
                plain.stop()
        finally:
            server.stop()
            shutil.rmtree(cache_root, ignore_errors=True)
        uncached_rps = statistics.median(r["rps"] for r in uncached_runs)
        hits = {key: statistics.median(r[key] for r in hit_runs) for key in ("rps", "p50_ms")}
        errors = sum(r["errors"] for r in hit_runs)
        ratio = hits["rps"] / max(uncached_rps, 1e-9)
        text = (
            f"hits {hits['rps']:.0f} req/s (p50 {hits['p50_ms']:.1f} ms) vs the same URL uncached "
            f"{uncached_rps:.0f} req/s: **{ratio:.1f}×** (medians of {CACHE_PAIRS} alternating runs), "
            f"errors {errors:.0f}"
        )
        return text, {"ratio": ratio, "errors": errors}
    # Coalescing is per process: one serving process, 32 identical cold requests at once.
    server = start_imgserver(CORPUS, 1)
    try:
        cold = path.replace("300x200", "301x199")
        before = renders_of(server)
        results: list[int] = []
        start = threading.Barrier(32)  # all 32 are sent at once, so they overlap the one render

        def one() -> None:
            start.wait()
            results.append(fetch(server.url(cold))[0])

        threads = [threading.Thread(target=one) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        renders = renders_of(server) - before
    finally:
        server.stop()
    text = f"{results.count(200)}/32 answered 200 with **{renders:.0f} render(s)** (one serving process)"
    return text, {"renders": renders, "ok": results.count(200)}


# --------------------------------------------------------------------------- chart


def bar_chart(rows: list[dict[str, Any]], out: Path, title: str) -> None:
    """Horizontal bars of imgserver/Thumbor req/s at c=8, drawn with libvips (no matplotlib)."""
    import pyvips

    rows = [r for r in rows if r.get("ratio") and not math.isnan(r["ratio"])]
    width, bar_h, gap, left, top = 900, 26, 12, 260, 50
    height = top + len(rows) * (bar_h + gap) + 40
    scale_max = max([3.0] + [r["ratio"] for r in rows]) * 1.1
    image = pyvips.Image.black(width, height, bands=3).new_from_image([255, 255, 255]).copy(interpretation="srgb")

    def text(x: int, y: int, s: str, size: int = 10) -> None:
        nonlocal image
        mask = pyvips.Image.text(s, dpi=9 * size, font="sans")
        w, h = min(mask.width, width - x), min(mask.height, height - y)
        if w <= 0 or h <= 0:
            return
        alpha = mask.crop(0, 0, w, h) / 255.0
        region = image.crop(x, y, w, h)
        image = image.insert((region * (1 - alpha) + alpha * 30).cast("uchar"), x, y)

    text(10, 10, title, 12)
    plot_w = width - left - 60
    for i, row in enumerate(rows):
        y = top + i * (bar_h + gap)
        text(10, y + 5, row["scenario"], 10)
        w = max(1, int(plot_w * row["ratio"] / scale_max))
        colour = [46, 139, 87] if row["ratio"] >= 1.1 else [200, 60, 50]
        image = image.draw_rect(colour, left, y, w, bar_h, fill=True)
        text(left + w + 6, y + 5, f"{row['ratio']:.2f}x", 10)
    for mark in (1.0, 1.5, 3.0):
        if mark <= scale_max:
            x = left + int(plot_w * mark / scale_max)
            image = image.draw_line([120, 120, 120], x, top - 8, x, height - 30)
            text(x - 8, height - 26, f"{mark:g}x", 9)
    image.write_to_file(str(out))


# --------------------------------------------------------------------------- main


def median(values: list[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {system}, Python {platform.python_version()}"


def time_ceiling(
    rnd: int, sc: Scenario, paths: dict[str, dict[str, Any]], servers: list[Server], cores: int, seconds: float
) -> dict[str, tuple[float, float]]:
    """The in-process ceiling for one scenario, with both servers idle: per mode, (operations
    per second, CPU ms per operation)."""
    for other in servers:
        other.wait_idle()
    found = ceiling.ceiling(paths[sc.name]["path"], str(CORPUS), seconds, cores)
    say(
        f"round {rnd + 1} {sc.name} ceiling: "
        + ", ".join(f"{k} {v[0]:.1f}/s ({v[1]:.1f} ms CPU/op)" for k, v in found.items())
    )
    return found


def _stop_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the servers


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load run")
    parser.add_argument("--concurrency", default="8,32")
    parser.add_argument("--scenarios", default="", help="comma-separated names (default: all)")
    parser.add_argument("--ceiling-seconds", type=float, default=3.0)
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--thumbor-gifsicle", action="store_true", help="Thumbor's gifsicle engine for GIFs")
    parser.add_argument("--python-loadgen", action="store_true", help="do not use wrk")
    parser.add_argument("--only", choices=("both", "imgserver", "thumbor"), default="both")
    parser.add_argument("--readme", action="store_true", help="also put the table and chart into README.md")
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in ("thumbor.log", "imgserver.log"):
        (RESULTS / name).write_bytes(b"")
    wanted = {s for s in args.scenarios.split(",") if s}
    scenarios = [s for s in SCENARIOS if not wanted or s.name in wanted]
    levels = [int(c) for c in args.concurrency.split(",")]
    cores = usable_cpus()  # what imgserver's --processes 0 starts: Thumbor and the ceiling get as many

    say("corpus")
    corpus.write(CORPUS)
    use_wrk = not args.python_loadgen and ensure_wrk()
    thumbor_exe = ensure_thumbor() if args.only != "imgserver" else None

    servers: list[Server] = []
    try:
        # Every request renders (no result cache, no coalescing of wrk's repeated URL): the table
        # compares rendering; the cache-hit and coalesce rows measure those two separately.
        imgserver = start_imgserver(CORPUS, 0, IMGSERVER_IMAGING_COALESCE="false")
        servers.append(imgserver)
        say(f"imgserver on port {imgserver.port}: pids {imgserver.pids()}")
        if thumbor_exe is not None:
            thumbor = start_thumbor(thumbor_exe, CORPUS, cores, args.thumbor_gifsicle)
            servers.append(thumbor)
            say(f"thumbor x{cores} (SO_REUSEPORT, --fd) on port {thumbor.port}: pids {thumbor.pids()}")
        paths = resolve_paths(imgserver, scenarios)
        measured = [s for s in servers if args.only in ("both", s.name)]

        # One request per server and scenario: status, size, format, bytes.
        outputs: dict[str, dict[str, Any]] = {}
        for sc in scenarios:
            if sc.kind is not None:
                continue
            outputs[sc.name] = {}
            bodies: dict[str, bytes] = {}
            for server in measured:
                status, body, _headers = fetch(server.url(paths[sc.name]["path"]))
                info = describe_image(body) if status == 200 else {"ok": False}
                outputs[sc.name][server.name] = {"status": status, "bytes": len(body), **info}
                (RESULTS / f"{sc.name}.{server.name}.{info.get('format', 'bin')}").write_bytes(body)
                if status == 200:
                    bodies[server.name] = body
            source = (CORPUS / unquote(paths[sc.name]["path"].rsplit("/", 1)[1])).read_bytes()
            for name, db in quality.psnr(source, bodies).items():
                outputs[sc.name][name]["psnr"] = db
            say(
                f"{sc.name}: "
                + "; ".join(
                    f"{n} {o['status']} {o.get('width')}x{o.get('height')} {o.get('format')} {o['bytes']} B "
                    f"PSNR {o.get('psnr', math.nan):.1f} dB"
                    for n, o in outputs[sc.name].items()
                )
            )

        runs: dict[tuple[str, int, str], list[dict[str, float]]] = {}
        ceilings: dict[str, dict[str, list[float]]] = {}
        shares: dict[str, list[tuple[float, float]]] = {}
        for rnd in range(args.rounds):
            order = measured if rnd % 2 == 0 else list(reversed(measured))
            for sc in scenarios:
                if sc.kind is not None:
                    continue
                for level in levels:
                    # The ceiling is timed next to imgserver's c=8 run, on the side away from
                    # Thumbor's (before it when imgserver goes first, after it otherwise), so the
                    # two servers' runs stay back to back: this machine's speed drifts by up to
                    # 30% within minutes, and a ceiling timed a minute later moved the share by
                    # as much (78-98% for the same code).
                    timed = not args.no_ceiling and level == levels[0] and imgserver in order
                    found: dict[str, tuple[float, float]] = {}
                    if timed and order[0] is imgserver:
                        found = time_ceiling(rnd, sc, paths, servers, cores, args.ceiling_seconds)
                    for server in order:
                        url = server.url(paths[sc.name]["path"])
                        for other in servers:
                            other.wait_idle()
                        for _ in range(2):
                            fetch(url)  # warm-up
                        cpu_before = server.cpu_seconds()
                        with RssMonitor(server) as rss:
                            result = loadgen.run(url, level, args.duration, use_wrk)
                        result["rss_mb"] = rss.peak
                        result["pss_mb"] = rss.peak_pss
                        # CPU per request: independent of how much of the machine the server got.
                        result["cpu_ms"] = (
                            1000 * (server.cpu_seconds() - cpu_before) / max(result.get("requests", 0), 1)
                        )
                        runs.setdefault((sc.name, level, server.name), []).append(result)
                        say(
                            f"round {rnd + 1} {sc.name} c={level} {server.name}: {result['rps']:.1f} req/s "
                            f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                            f"errors {result['errors']:.0f} rss {rss.peak:.0f} MB pss {rss.peak_pss:.0f} MB "
                            f"cpu {result['cpu_ms']:.1f} ms/req"
                        )
                    if timed and order[0] is not imgserver:
                        found = time_ceiling(rnd, sc, paths, servers, cores, args.ceiling_seconds)
                    for mode, (rate, _) in found.items():
                        ceilings.setdefault(sc.name, {}).setdefault(mode, []).append(rate)
                    best_rate, best_cpu = max(found.values(), default=(0.0, 0.0))
                    if best_rate > 0:
                        mine = runs[(sc.name, level, imgserver.name)][-1]
                        share = (mine["rps"] / best_rate, best_cpu / max(mine["cpu_ms"], 1e-9))
                        shares.setdefault(sc.name, []).append(share)
                        say(f"round {rnd + 1} {sc.name} share of the ceiling {100 * share[0]:.0f}%")

        special: dict[str, str] = {}
        special_numbers: dict[str, dict[str, float]] = {}
        for sc in scenarios:
            if sc.kind is not None:
                reason = special_available(imgserver, sc.kind)
                if reason is None:
                    reason, special_numbers[sc.kind] = measure_special(sc, sc.path, args.duration, use_wrk)
                special[sc.name] = reason
                say(f"{sc.name}: {special[sc.name]}")
    finally:
        for server in servers:
            server.stop()
        for server in servers:
            say(f"stopped {server.name} (pids {[p.pid for p in server.procs]})")

    medians = {name: {mode: median(values) for mode, values in found.items()} for name, found in ceilings.items()}
    report = summarise(
        scenarios, levels, paths, outputs, runs, medians, shares, special, special_numbers, args, use_wrk
    )
    say(f"done in {time.time() - STARTED:.0f} s; results in {RESULTS.relative_to(ROOT)}/")
    print(report)
    if args.readme:
        update_readme(report)
    return 0


README_BEGIN, README_END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_readme(report: str) -> None:
    """Replace the README's generated block with this run's table; copy the chart beside it."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        say("README.md has no bench markers; not updated")
        return
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(
        f"{head}{README_BEGIN}\n{report}\n\n![imgserver / Thumbor req/s](bench/chart.png)\n{README_END}{tail}"
    )
    if (RESULTS / "ratios.png").exists():
        shutil.copyfile(RESULTS / "ratios.png", HERE / "chart.png")
    say("README.md and bench/chart.png updated")


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def summarise(
    scenarios: list[Scenario],
    levels: list[int],
    paths: dict[str, dict[str, Any]],
    outputs: dict[str, dict[str, Any]],
    runs: dict[tuple[str, int, str], list[dict[str, float]]],
    ceilings: dict[str, dict[str, float]],
    shares: dict[str, list[tuple[float, float]]],
    special: dict[str, str],
    special_numbers: dict[str, dict[str, float]],
    args: argparse.Namespace,
    use_wrk: bool,
) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        f"Measured {today} on {machine()}; Thumbor {THUMBOR_VERSION} (Pillow {pillow_version()}) "
        f"as {usable_cpus()} single-process "
        f"instances on one SO_REUSEPORT port, imgserver with one process per core; "
        f"{'wrk (1 thread, 30 s timeout)' if use_wrk else 'Python load generator'}, "
        f"{args.rounds} alternating rounds of {args.duration:g} s per server, scenario and concurrency; medians.",
        "",
        "| scenario | c | Thumbor req/s | imgserver req/s | ratio | p50 ms T / i | p99 ms T / i | errors T / i "
        "| output bytes T / i | PSNR dB T / i | peak RSS (PSS) MB T / i | CPU ms/req T / i | share of ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows: list[dict[str, Any]] = []
    ratios8: list[float] = []
    for sc in scenarios:
        if sc.kind is not None:
            lines.append(f"| {sc.name} |{' – |' * 11} {special.get(sc.name, '')} |")
            rows.append({"scenario": sc.name, "status": special.get(sc.name, "")})
            continue
        note = paths[sc.name]["note"]
        for level in levels:
            t = runs.get((sc.name, level, "thumbor"), [])
            i = runs.get((sc.name, level, "imgserver"), [])

            def med(rs: list[dict[str, float]], key: str) -> float:
                return median([r.get(key, float("nan")) for r in rs])

            t_rps, i_rps = med(t, "rps"), med(i, "rps")
            ratio = i_rps / t_rps if t and t_rps else float("nan")
            ceil = max(ceilings.get(sc.name, {}).values(), default=float("nan"))
            paired = shares.get(sc.name, []) if level == levels[0] else []
            # The median of per-round shares, each against the ceiling timed next to its run.
            share = median([p[0] for p in paired]) if paired else float("nan")
            cpu_share = median([p[1] for p in paired]) if paired else float("nan")
            out_t = outputs[sc.name].get("thumbor", {}).get("bytes", float("nan"))
            out_i = outputs[sc.name].get("imgserver", {}).get("bytes", float("nan"))
            db_t = outputs[sc.name].get("thumbor", {}).get("psnr", float("nan"))
            db_i = outputs[sc.name].get("imgserver", {}).get("psnr", float("nan"))
            row = {
                "scenario": sc.name,
                "path": paths[sc.name]["path"],
                "note": note,
                "c": level,
                "thumbor_rps": t_rps,
                "imgserver_rps": i_rps,
                "ratio": ratio,
                "p50": (med(t, "p50_ms"), med(i, "p50_ms")),
                "p99": (med(t, "p99_ms"), med(i, "p99_ms")),
                "errors": (sum(r["errors"] for r in t), sum(r["errors"] for r in i)),
                "bytes": (out_t, out_i),
                "psnr": (db_t, db_i),
                "rss_peak": (
                    max((r["rss_mb"] for r in t), default=float("nan")),
                    max((r["rss_mb"] for r in i), default=float("nan")),
                ),
                "rss_rounds": ([r["rss_mb"] for r in t], [r["rss_mb"] for r in i]),
                "pss_peak": (
                    max((r["pss_mb"] for r in t), default=float("nan")),
                    max((r["pss_mb"] for r in i), default=float("nan")),
                ),
                "ceiling": ceilings.get(sc.name, {}),
                "share": share,
                "share_rounds": [p[0] for p in paired],
                "cpu_share": cpu_share,
                "rps_rounds": ([r["rps"] for r in t], [r["rps"] for r in i]),
                "cpu_ms": (med(t, "cpu_ms"), med(i, "cpu_ms")),
            }
            rows.append(row)
            if level == levels[0] and not math.isnan(ratio):
                ratios8.append(ratio)
            label = sc.name + (" ¹" if note else "")
            lines.append(
                f"| {label} | {level} | {fmt(t_rps)} | {fmt(i_rps)} | **{fmt(ratio, 2)}×** "
                f"| {fmt(row['p50'][0])} / {fmt(row['p50'][1])} | {fmt(row['p99'][0])} / {fmt(row['p99'][1])} "
                f"| {row['errors'][0]:.0f} / {row['errors'][1]:.0f} | {out_t} / {out_i} "
                f"| {fmt(db_t)} / {fmt(db_i)} "
                f"| {fmt(row['rss_peak'][0], 0)} ({fmt(row['pss_peak'][0], 0)}) "
                f"/ {fmt(row['rss_peak'][1], 0)} ({fmt(row['pss_peak'][1], 0)}) "
                f"| {fmt(row['cpu_ms'][0])} / {fmt(row['cpu_ms'][1])} "
                f"| {'' if math.isnan(share) else f'{100 * share:.0f}% of {ceil:.1f}/s (CPU {100 * cpu_share:.0f}%)'} |"
            )
    geo = math.exp(statistics.fmean(math.log(r) for r in ratios8)) if ratios8 else float("nan")
    cpu_ratios = [
        r["cpu_ms"][0] / r["cpu_ms"][1]
        for r in rows
        if r.get("c") == levels[0] and r["cpu_ms"][1] > 0 and not math.isnan(r["cpu_ms"][0] / r["cpu_ms"][1])
    ]
    cpu_geo = math.exp(statistics.fmean(math.log(r) for r in cpu_ratios)) if cpu_ratios else float("nan")
    lines += [
        "",
        f"Geometric mean of the c={levels[0]} ratios: **{fmt(geo, 2)}×** (req/s); "
        f"**{fmt(cpu_geo, 2)}×** in CPU per request (Thumbor ms / imgserver ms, independent of load from "
        "other jobs on the machine).",
    ]
    rss_rounds: dict[str, list[float]] = {}
    for server in ("thumbor", "imgserver"):
        per_round = [
            max((rs[r]["rss_mb"] for (_, _, name), rs in runs.items() if name == server and len(rs) > r), default=0.0)
            for r in range(args.rounds)
        ]
        if any(per_round):
            rss_rounds[server] = per_round
            lines.append(f"Peak RSS per round, {server}: " + ", ".join(f"{v:.0f} MB" for v in per_round) + ".")
    if any(paths[s]["note"] for s in paths):
        lines.append(
            "¹ "
            + "; ".join(sorted({p["note"] for p in paths.values() if p["note"]}))
            + " (both servers ran the same URL)."
        )
    lines.append(
        "Ceiling: the same operation called in a loop in one process per core, each pinned to its own CPU as "
        "imgserver's serving processes are, no HTTP (the faster of bare "
        f"pyvips and imgserver's own render()), timed next to imgserver's c={levels[0]} run in each round; "
        f"share = the median over rounds of imgserver req/s at c={levels[0]} / that round's ceiling (the /s "
        "shown is the ceiling's median); CPU = the ceiling's CPU ms per operation / imgserver's per request. "
        "PSNR: each output against one reference per scenario, the same for both servers (the source "
        "decoded whole and resized in float with lanczos3; bench/quality.py): higher is closer."
    )
    checks = targets.check(
        rows,
        levels,
        geo,
        rss_rounds,
        special_numbers.get("cache"),
        special_numbers.get("coalesce"),
        (time.time() - MAKE_STARTED) / 60,
    )
    lines += ["", "Issue 9's targets, in this run (bench/targets.py):", "", targets.markdown(checks)]
    table = "\n".join(lines)
    (RESULTS / "results.md").write_text(table + "\n")
    (RESULTS / "results.json").write_text(
        json.dumps(
            {
                "date": datetime.date.today().isoformat(),
                "machine": machine(),
                "rows": rows,
                "geometric_mean": geo,
                "outputs": outputs,
                "paths": paths,
            },
            indent=1,
            default=str,
        )
    )
    try:
        bar_chart(
            [r for r in rows if r.get("c") == levels[0]],
            RESULTS / "ratios.png",
            f"imgserver / Thumbor {THUMBOR_VERSION} req/s at c={levels[0]} ({datetime.date.today().isoformat()})",
        )
    except Exception as exc:
        say(f"chart not drawn: {exc}")
    return table


if __name__ == "__main__":
    sys.exit(main())
