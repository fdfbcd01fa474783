"""``imgserver serve|sign|config|samples|ingest|worker`` (also ``python -m imgserver``).

Exit codes: 0 ok, 1 runtime failure (e.g. libvips too old, port in use), 2 invalid
settings or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from imgserver.affinity import pin, usable_cpus
from imgserver.settings import (
    Settings,
    SettingsError,
    describe,
    effective_threads,
    load_settings,
)

if TYPE_CHECKING:
    from imgserver.balance import ConnectionCounts

log = logging.getLogger("imgserver")


def _settings(
    args: argparse.Namespace, overrides: dict[tuple[str, str], Any] | None = None, serving: bool = True
) -> Settings:
    config = args.config or os.environ.get("IMGSERVER_CONFIG") or None
    return load_settings(config, overrides=overrides, serving=serving)


def _prefork(processes: int, exited: Callable[[int], None] = lambda index: None) -> int | None:
    """Fork ``processes`` children; return the child's index in a child, None in the
    parent once every child has exited. SIGTERM/SIGINT to the parent are forwarded, and a
    child that dies unexpectedly is restarted; ``exited(index)`` runs for every exit."""
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> int | None:
        pid = os.fork()
        if pid == 0:
            return index
        children[pid] = index
        return None

    for index in range(processes):
        if spawn(index) is not None:
            return index

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        index = children.pop(pid)
        exited(index)
        from imgserver.metrics import process_exited

        process_exited(pid)
        if not stopping and os.waitstatus_to_exitcode(status) != 0:
            log.error("worker %d exited with status %d; restarting", index, os.waitstatus_to_exitcode(status))
            time.sleep(0.5)
            if spawn(index) is not None:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                return index
    return None


async def _serve(
    settings: Settings,
    sockets: list[Any],
    early: list[int] | None = None,
    balance: tuple[ConnectionCounts, int] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT. With ``balance`` (the shared counts and this process's
    slot), the sockets are shared with the other serving processes and accepted from in turn."""
    import tornado.httpserver

    from imgserver.app import make_app
    from imgserver.httpserver import BalancedHTTPServer
    from imgserver.wiring import close_state, open_state

    # Signals first: a SIGTERM during start-up must still end in a clean exit.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if early:
        stop.set()
    state = await open_state(settings)
    app = make_app(state)
    options: dict[str, Any] = {
        "xheaders": settings.server.xheaders,
        "idle_connection_timeout": 60,
        "max_body_size": 1024 * 1024,
    }
    if balance is None:
        server = tornado.httpserver.HTTPServer(app, **options)
    else:
        server = BalancedHTTPServer(app, **options)
        server.counts, server.index = balance
    server.add_sockets(sockets)
    await stop.wait()
    # Graceful: stop accepting, let in-flight requests finish (bounded), then close.
    server.stop()
    deadline = loop.time() + settings.server.shutdown_timeout
    while state.in_flight > 0 and loop.time() < deadline:  # noqa: ASYNC110 (a counter, polled)
        await asyncio.sleep(0.05)
    await server.close_all_connections()
    await close_state(state, grace=max(0.0, deadline - loop.time()) + 1.0)


def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[tuple[str, str], Any] = {}
    if args.host is not None:
        overrides[("server", "host")] = args.host
    if args.port is not None:
        overrides[("server", "port")] = args.port
    if args.processes is not None:
        overrides[("server", "processes")] = args.processes
    settings = _settings(args, overrides)
    from imgserver.logs import configure_logging

    configure_logging(settings.log.format, settings.log.level)
    processes = settings.server.processes or usable_cpus()
    if processes > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before any metric exists: every process writes samples here, /metrics sums them.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="imgserver-metrics-")

    version = _libvips_version_apart() if processes > 1 else _libvips_version()
    listeners = _bind(settings.server.host, settings.server.port)
    port = listeners[0].getsockname()[1]
    print(
        f"imgserver listening on http://{settings.server.host}:{port} "
        f"(libvips {version}, {processes} process(es), {effective_threads(settings)} render threads each)",
        flush=True,
    )
    balance: tuple[ConnectionCounts, int] | None = None
    if processes > 1:
        from imgserver.balance import ConnectionCounts

        counts = ConnectionCounts(processes)
        child = _prefork(processes, counts.absent)
        if child is None:
            metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
            if metrics_dir.startswith(tempfile.gettempdir()) and "imgserver-metrics-" in metrics_dir:
                shutil.rmtree(metrics_dir, ignore_errors=True)
            return 0
        balance = (counts, child)
        cpu = pin(child, processes, settings.server.cpu_affinity)  # before any thread starts
        if cpu is not None:
            log.info("serving process %d pinned to CPU %d", child, cpu)
    # A SIGTERM between here and the event loop's own handlers is remembered, not fatal.
    early: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early.append(signum))
    from imgserver.imaging.setup import configure, set_malloc_arenas

    set_malloc_arenas(settings.imaging.malloc_arenas)
    configure(settings.imaging.vips_concurrency, settings.formats.allow_svg)
    asyncio.run(_serve(settings, listeners, early, balance))
    return 0


def _libvips_version() -> str:
    """The installed libvips version; RuntimeError when it is too old."""
    from imgserver.imaging.setup import check_version

    return check_version()


def _libvips_version_apart() -> str:
    """:func:`_libvips_version`, asked in a short-lived child process.

    The supervisor of several serving processes never renders, so it never loads libvips:
    that keeps ~10 MB of resident memory out of it (measured: 35 → 25 MB). It still fails at
    once, before forking the workers, when libvips is missing or too old."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe and exits
        code = 1
        try:
            os.close(read)
            try:
                message, code = _libvips_version(), 0
            except BaseException as exc:  # anything the import or the check raises goes to the parent
                message = str(exc) or type(exc).__name__
            os.write(write, message.encode())
        finally:
            os._exit(code)  # never unwind into the CLI as a second supervisor
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(message or f"the libvips check died (exit status {code})")
    return message


def _bind(host: str, port: int) -> list[Any]:
    """The listening sockets (one per address family of ``host``), shared by every serving
    process: imgserver.balance spreads the connections. The supervisor keeps them open, so
    connections that arrive while a worker restarts go to the others."""
    import tornado.netutil

    return tornado.netutil.bind_sockets(port, host)


def cmd_sign(args: argparse.Namespace) -> int:
    from imgserver.url.signing import signed_path

    key = args.key
    if key is None:
        settings = _settings(args)
        if not settings.security.keys:
            print("no signing key: set security.keys or pass --key", file=sys.stderr)
            return 2
        key = settings.security.keys[0]
    print(signed_path(key, args.path))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(describe(_settings(args)), indent=2))
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from imgserver.samples import write_samples

    for path in write_samples(args.folder):
        print(path)
    return 0


def _ingest_pool(settings: Settings) -> Any:
    from imgserver.imaging.setup import configure
    from imgserver.pool import RenderPool

    configure(settings.imaging.vips_concurrency, settings.formats.allow_svg)
    return RenderPool(effective_threads(settings), queue_size=10_000, queue_timeout=3600)


def cmd_ingest(args: argparse.Namespace) -> int:
    from imgserver.bulk import Summary, import_files
    from imgserver.wiring import open_ingestor

    settings = _settings(args, serving=False)
    pool = _ingest_pool(settings)

    async def run() -> Summary:
        ingestor, close = await open_ingestor(settings, pool)
        try:
            return await import_files(ingestor, args.paths, args.uploader, args.jobs)
        finally:
            await close()

    try:
        summary = asyncio.run(run())
    finally:
        pool.shutdown()
    print(f"done {len(summary.done)}, already present {len(summary.skipped)}, failed {len(summary.failed)}")
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}")
    return 1 if summary.failed else 0


def cmd_worker(args: argparse.Namespace) -> int:
    from imgserver.events import EventProcessor
    from imgserver.wiring import open_ingestor
    from imgserver.worker import run_worker, worker_problems

    settings = _settings(args, serving=False)
    problems = worker_problems(settings)
    if problems:
        raise SettingsError(problems)
    # A SIGTERM before the event loop's own handlers is remembered, not fatal.
    early: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early.append(signum))
    pool = _ingest_pool(settings)

    async def run() -> None:
        stop = asyncio.Event()

        def request_stop(signum: int) -> None:
            log.info("%s: finishing the current batch, then exiting", signal.Signals(signum).name)
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, request_stop, sig)
        if early:
            request_stop(early[0])
        ingestor, close = await open_ingestor(settings, pool)
        try:
            s3 = settings.s3
            processor = EventProcessor(ingestor, s3.originals_bucket, s3.prefix, settings.limits.max_source_bytes)
            await run_worker(settings, processor, stop)
        finally:
            await close()

    try:
        asyncio.run(run())
    finally:
        pool.shutdown()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgserver", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="TOML settings file (default: $IMGSERVER_CONFIG or built-in defaults)")
        return p

    serve = with_config(sub.add_parser("serve", help="run the image server"))
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--processes", type=int, help="serving processes on one port (0 = one per core)")
    serve.set_defaults(func=cmd_serve)

    sign = with_config(sub.add_parser("sign", help="print the signed form of a URL path"))
    sign.add_argument("path", help="e.g. 300x200/smart/photos/doctor.jpg")
    sign.add_argument("--key", help="signing key (default: the first of security.keys)")
    sign.set_defaults(func=cmd_sign)

    config = with_config(sub.add_parser("config", help="print the effective settings (keys masked)"))
    config.set_defaults(func=cmd_config)

    ingest = with_config(sub.add_parser("ingest", help="import files and folders into the stores"))
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--jobs", type=int, default=4, help="files imported at once")
    ingest.add_argument("--uploader", default="bulk-import", help="recorded as the uploader")
    ingest.set_defaults(func=cmd_ingest)

    worker = with_config(sub.add_parser("worker", help="ingest the originals bucket's S3 events from SQS"))
    worker.set_defaults(func=cmd_worker)

    samples = sub.add_parser("samples", help="write the bundled sample images into a folder")
    samples.add_argument("folder")
    samples.set_defaults(func=cmd_samples)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from imgserver.logs import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except SettingsError as exc:
        print(f"imgserver: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:
        print(f"imgserver: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
