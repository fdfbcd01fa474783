"""The serving processes' HTTP server: Tornado's, accepting from the shared sockets in turn.

See imgserver.balance for why and for the rule.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import tornado.httpserver
import tornado.iostream
from tornado.ioloop import IOLoop

from imgserver.balance import ConnectionCounts, my_turn

#: Seconds a process waits before looking again at a connection that is not its turn.
RETRY = 0.005
#: Seconds after which a process takes a waiting connection anyway (the process whose turn it
#: is may be busy or stuck): balance is a preference, never a reason to leave a client waiting.
MAX_DEFER = 0.05


class BalancedHTTPServer(tornado.httpserver.HTTPServer):
    """An HTTPServer that reports its open connections to ``counts`` and accepts from its
    sockets only in its turn (see the module docstring)."""

    # Tornado's HTTPServer is configured through initialize(); these two are set right after.
    counts: ConnectionCounts
    index: int

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple[Any, ...]) -> None:
        super().handle_stream(stream, address)
        self._report()

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        self._report()

    def _report(self) -> None:
        if not self._stopped:  # a stopping process takes no more connections: it stays absent
            self.counts.set(self.index, len(self._connections))

    def stop(self) -> None:
        """Stop accepting; from now on the other processes never wait for this one."""
        super().stop()
        self.counts.absent(self.index)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        self._report()  # present from now on (the slot starts absent)
        for sock in sockets:
            acceptor = _TurnAcceptor(sock, self._handle_connection, self.counts, self.index)
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = acceptor.remove  # what TCPServer.stop() calls


class _TurnAcceptor:
    """Tornado's accept handler, one connection per turn."""

    def __init__(
        self,
        sock: socket.socket,
        callback: Callable[[socket.socket, Any], None],
        counts: ConnectionCounts,
        index: int,
    ) -> None:
        self.sock, self.callback, self.counts, self.index = sock, callback, counts, index
        self.loop = IOLoop.current()
        self.removed = self.watching = False
        #: When this process first passed over the connection now waiting (0: none is).
        self.since = 0.0
        self._pending = select.poll()
        self._pending.register(sock.fileno(), select.POLLIN)
        self.watch()

    def watch(self) -> None:
        if not self.removed and not self.watching:
            self.loop.add_handler(self.sock, self.ready, IOLoop.READ)
            self.watching = True

    def unwatch(self) -> None:
        if self.watching:
            self.loop.remove_handler(self.sock)
            self.watching = False

    def later(self) -> None:
        """Stay out of the way (the socket is level-triggered) until the next look."""
        self.unwatch()
        self.loop.call_later(RETRY, self.look_again)

    def look_again(self) -> None:
        if not self._pending.poll(0):
            self.since = 0.0  # another process took it: the next connection is a new wait
        self.watch()

    def ready(self, _fd: object, _events: int) -> None:
        now = time.monotonic()
        if not my_turn(self.counts.snapshot(), self.index):
            self.since = self.since or now
            if now - self.since < MAX_DEFER:
                self.later()
                return
        try:
            connection, address = self.sock.accept()
        except BlockingIOError:  # another process took it
            self.since = 0.0
            return
        except ConnectionAbortedError:  # the client gave up while queued
            return
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self.later()  # out of descriptors or memory: do not spin on the ready socket
                return
            raise
        self.since = 0.0
        self.callback(connection, address)

    def remove(self) -> None:
        self.unwatch()
        self.removed = True
