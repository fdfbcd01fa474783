"""Keep-alive connections spread evenly over the serving processes (imgserver.balance,
imgserver.httpserver): real processes and sockets, then the in-process safety valve."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import tornado.web

from imgserver.balance import ABSENT, ConnectionCounts
from imgserver.httpserver import MAX_DEFER, RETRY, BalancedHTTPServer
from tests.integration.test_cli import children_of
from tests.servers import clean_env, running

pytestmark = pytest.mark.integration

REQUEST = b"GET /healthcheck HTTP/1.1\r\nHost: t\r\n\r\n"


def _connections_by_process(pids: list[int], port: int) -> dict[int, int]:
    """Established connections to ``port`` held by each pid (from /proc)."""
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            established.add(fields[9])
    held = {}
    for pid in pids:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        held[pid] = len(inodes & established)
    return held


def _open(port: int, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections opened at once (as wrk does), each answered once."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for sock in socks:
        sock.sendall(REQUEST)
    for sock in socks:
        assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "no answer"
    return socks


def _wait_for(predicate, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _ready(pid: int, port: int, others: list[int]) -> bool:
    """Whether worker ``pid`` accepts yet. Probe connections are held until one lands on it
    or every other worker holds one more than before: by the turn rule the next one is then
    ``pid``'s if it is listening (the others pass it over), so the answer does not depend on
    which idle worker wins the race to accept (with pinned workers, the same one every time).
    The probes are closed, and their holders seen to let go, before returning."""
    before = _connections_by_process(others + [pid], port)
    probes: list[socket.socket] = []
    try:
        for _ in range(len(others) + 1):
            probes += _open(port, 1)
            if _connections_by_process([pid], port)[pid] > before[pid]:
                return True
        return False
    finally:
        for probe in probes:
            probe.close()
        assert _wait_for(lambda: _connections_by_process(others + [pid], port) == before)


def test_keepalive_connections_spread_evenly_and_a_dead_workers_share_moves(tmp_path: Path) -> None:
    env = clean_env(IMGSERVER_FILE_ROOT=str(tmp_path), IMGSERVER_SECURITY_ALLOW_UNSAFE="true")
    held_open: list[socket.socket] = []
    with running("--processes", "2", env=env) as (proc, base):
        try:
            port = int(base.rsplit(":", 1)[1])
            assert _wait_for(lambda: len(children_of(proc.pid)) == 2)
            one, two = children_of(proc.pid)
            # Both workers listening (until then the first one up takes everything).
            assert _wait_for(lambda: _ready(one, port, [two]) and _ready(two, port, [one]))
            # SO_REUSEPORT hashing split eight connections 2/6, 3/5 or 1/7 in most tries here.
            for _ in range(3):
                socks = _open(port, 8)
                held_open += socks
                held = _connections_by_process([one, two], port)
                assert sorted(held.values()) == [4, 4], held
                for sock in socks:
                    sock.close()
                assert _wait_for(lambda: sum(_connections_by_process([one, two], port).values()) == 0)

            # A worker killed outright: new connections go to the live one at once...
            os.kill(one, signal.SIGKILL)
            assert _wait_for(lambda: one not in children_of(proc.pid))
            started = time.monotonic()
            held_open += _open(port, 4)
            assert time.monotonic() - started < 2.0  # not held back waiting for the restart
            assert _connections_by_process([two], port) == {two: 4}
            # ...and its replacement, once up, takes the next ones until the two are even.
            assert _wait_for(lambda: len(children_of(proc.pid)) == 2)
            replacement = next(pid for pid in children_of(proc.pid) if pid != two)
            assert _wait_for(lambda: _ready(replacement, port, [two]), 20)
            held_open += _open(port, 4)
            assert _connections_by_process([two, replacement], port) == {two: 4, replacement: 4}
        finally:
            for sock in held_open:
                sock.close()


class _Ok(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


def _server(counts: ConnectionCounts) -> tuple[BalancedHTTPServer, socket.socket]:
    """Process 0 of ``counts``, serving /healthcheck on a fresh 127.0.0.1 socket."""
    server = BalancedHTTPServer(tornado.web.Application([("/healthcheck", _Ok)]))
    server.counts, server.index = counts, 0
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    server.add_sockets([listener])
    return server, listener


async def _answered(port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    assert (await asyncio.wait_for(reader.read(1024), 5)).startswith(b"HTTP/1.1 200")
    return writer


@pytest.mark.gen_test
async def test_a_connection_that_is_not_this_processs_turn_is_still_taken_after_max_defer() -> None:
    """The safety valve: another process that should accept (fewer connections) never does;
    this one takes the connection after MAX_DEFER, not never and not at once; and a wait that
    ended because the other process took the connection does not count towards the next."""
    counts = ConnectionCounts(2)
    counts.set(1, 0)  # a live process with no connections
    server, listener = _server(counts)
    port = listener.getsockname()[1]
    loop = asyncio.get_running_loop()
    writers = []
    try:
        # First connection: 0 vs 0, a tie, taken at once. This process now holds one.
        writers.append(await _answered(port))
        assert counts.snapshot() == [1, 0]
        # Second: the other process's turn (0 < 1), and here it takes it (this test accepts
        # it from the shared socket) while this process waits.
        started = loop.time()
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        await asyncio.sleep(RETRY * 2)  # this process has seen it and passed over it
        taken = None
        while taken is None and loop.time() - started < MAX_DEFER * 0.8:
            try:
                taken, _ = listener.accept()
            except BlockingIOError:
                await asyncio.sleep(0.001)
        assert taken is not None, "this process took a connection that was not its turn"
        taken.close()
        client.close()
        await asyncio.sleep(MAX_DEFER * 4)
        # Third: nobody else takes it, so this process does, after a full MAX_DEFER of its own.
        started = loop.time()
        writers.append(await _answered(port))
        assert loop.time() - started >= MAX_DEFER * 0.9
        assert counts.snapshot() == [2, 0]
    finally:
        for writer in writers:
            writer.close()
        server.stop()


@pytest.mark.gen_test
async def test_a_stopped_server_is_absent_and_stays_absent_as_its_connections_close() -> None:
    """A worker shutting down on its own must not look like the least loaded one (the others
    would hold every new connection for MAX_DEFER until it exits)."""
    counts = ConnectionCounts(2)
    counts.set(1, 3)
    server, listener = _server(counts)
    writer = await _answered(listener.getsockname()[1])
    assert counts.snapshot() == [1, 3]
    server.stop()
    assert counts.snapshot() == [ABSENT, 3]
    writer.close()
    await server.close_all_connections()
    assert counts.snapshot() == [ABSENT, 3]
