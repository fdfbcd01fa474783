"""``imgserver serve|sign|config|samples`` (also ``python -m imgserver``).

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
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from imgserver.settings import Settings, SettingsError, describe, effective_threads, load_settings

log = logging.getLogger("imgserver")


def _settings(args: argparse.Namespace, overrides: dict[tuple[str, str], Any] | None = None) -> Settings:
    config = args.config or os.environ.get("IMGSERVER_CONFIG") or None
    return load_settings(config, overrides=overrides)


def _prefork(processes: int) -> int | None:
    """Fork ``processes`` children; return the child's index in a child, None in the
    parent once every child has exited. SIGTERM/SIGINT to the parent are forwarded, and a
    child that dies unexpectedly is restarted."""
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
        if not stopping and os.waitstatus_to_exitcode(status) != 0:
            log.error("worker %d exited with status %d; restarting", index, os.waitstatus_to_exitcode(status))
            time.sleep(0.5)
            if spawn(index) is not None:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                return index
    return None


async def _serve(settings: Settings, sockets: list[Any]) -> None:
    import tornado.httpserver

    from imgserver.app import make_app, make_state

    state = make_state(settings)
    app = make_app(state)
    server = tornado.httpserver.HTTPServer(
        app, xheaders=settings.server.xheaders, idle_connection_timeout=60, max_body_size=1024 * 1024
    )
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Graceful: stop accepting, let in-flight requests finish (bounded), then close.
    server.stop()
    deadline = loop.time() + settings.server.shutdown_timeout
    while state.in_flight > 0 and loop.time() < deadline:  # noqa: ASYNC110 (a counter, polled)
        await asyncio.sleep(0.05)
    await server.close_all_connections()
    state.pool.shutdown()
    await state.loader.close()


def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[tuple[str, str], Any] = {}
    if args.host is not None:
        overrides[("server", "host")] = args.host
    if args.port is not None:
        overrides[("server", "port")] = args.port
    if args.processes is not None:
        overrides[("server", "processes")] = args.processes
    settings = _settings(args, overrides)

    from imgserver.imaging.setup import configure, libvips_version, set_malloc_arenas

    version = ".".join(map(str, libvips_version()))
    processes = settings.server.processes or (os.cpu_count() or 1)
    listeners = _bind(settings.server.host, settings.server.port, processes)
    port = listeners[0][0].getsockname()[1]
    print(
        f"imgserver listening on http://{settings.server.host}:{port} "
        f"(libvips {version}, {processes} process(es), {effective_threads(settings)} render threads each)",
        flush=True,
    )
    index = 0
    if processes > 1:
        child = _prefork(processes)
        if child is None:
            return 0
        index = child
        for other, group in enumerate(listeners):
            if other != index:
                for sock in group:
                    sock.close()
    set_malloc_arenas(settings.imaging.malloc_arenas)
    configure(settings.imaging.vips_concurrency, settings.formats.allow_svg)
    asyncio.run(_serve(settings, listeners[index]))
    return 0


def _bind(host: str, port: int, processes: int) -> list[list[Any]]:
    """The listening sockets, one group per serving process.

    Several processes each get their own SO_REUSEPORT socket on the one port, so the kernel
    spreads connections evenly across them. (Sharing one accepting socket lets whichever
    process wakes first take a whole burst of connections: with keep-alive clients one
    process ends up with nearly all of them while the other cores idle.) The parent keeps
    every group open, so a restarted worker gets its socket back with the connections that
    queued on it meanwhile."""
    import tornado.netutil

    if processes <= 1:
        return [tornado.netutil.bind_sockets(port, host)]
    first = tornado.netutil.bind_sockets(port, host, reuse_port=True)
    port = first[0].getsockname()[1]
    return [first] + [tornado.netutil.bind_sockets(port, host, reuse_port=True) for _ in range(processes - 1)]


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

    samples = sub.add_parser("samples", help="write the bundled sample images into a folder")
    samples.add_argument("folder")
    samples.set_defaults(func=cmd_samples)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyvips").setLevel(logging.WARNING)  # libvips' own chatter is debug detail
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
