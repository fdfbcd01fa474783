"""The one place errors become HTTP answers."""

from __future__ import annotations

import email.utils
import http.client
import itertools
import logging
import os
import re
import threading
import time
from types import TracebackType
from typing import Any

import tornado.web
from tornado import httputil

from imgserver.errors import ClientGone, ImgserverError, Overloaded, Unauthorized, UpstreamError, UpstreamTimeout
from imgserver.metrics import UPSTREAM_ERRORS
from imgserver.state import AppState

log = logging.getLogger("imgserver")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _RequestIds:
    """Fresh request ids: 16 random hex digits per process, then a 16-digit counter.

    Unique like a uuid4, without a ``getrandom`` call per request on the event loop (that
    call releases the GIL, and getting it back can wait behind a render thread)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # forked serving processes differ

    def reset(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_IDS = _RequestIds()


class _HttpDates:
    """HTTP dates, formatted once per distinct second: Tornado formats ``Date`` afresh for
    every response (about 3% of a result-cache hit's event-loop time)."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""
        self._last: dict[int, str] = {}

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._text = second, email.utils.formatdate(second, usegmt=True)
        return self._text

    def of(self, timestamp: float) -> str:
        """``Last-Modified`` of a source (a handful of hot sources: keep the last 256)."""
        second = int(timestamp)
        text = self._last.get(second)
        if text is None:
            if len(self._last) >= 256:
                self._last.clear()
            text = self._last[second] = email.utils.formatdate(second, usegmt=True)
        return text


HTTP_DATES = _HttpDates()


class BaseHandler(tornado.web.RequestHandler):
    """Adds typed access to the app state and plain-text, traceback-free errors."""

    @property
    def state(self) -> AppState:
        state: AppState = self.application.settings["state"]
        return state

    _counted = False
    _client_gone: threading.Event | None = None
    _request_id: str | None = None

    def prepare(self) -> None:
        self.state.in_flight += 1
        self._counted = True

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.state.in_flight -= 1

    def on_connection_close(self) -> None:
        self.client_gone.set()
        self.on_finish()

    @property
    def client_gone(self) -> threading.Event:
        """Set when the client disconnects: queued renders for it are skipped."""
        if self._client_gone is None:
            self._client_gone = threading.Event()
        return self._client_gone

    @property
    def request_id(self) -> str:
        """The client's ``X-Request-Id`` when it is sane, else a fresh one; echoed back."""
        if self._request_id is None:
            given = self.request.headers.get("X-Request-Id", "")
            self._request_id = given if _REQUEST_ID.fullmatch(given) else _IDS.new()
        return self._request_id

    def clear(self) -> None:
        """Tornado's reset, with ``Date`` formatted once per second (Tornado formats it per
        response). Mirrors ``RequestHandler.clear``; a unit test checks it sets the same fields."""
        self._headers = httputil.HTTPHeaders(
            {"Server": "imgserver", "Content-Type": "text/html; charset=UTF-8", "Date": HTTP_DATES.now()}
        )
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = http.client.responses[200]

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Request-Id", self.request_id)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info: tuple[type[BaseException], BaseException, TracebackType] | None = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, ClientGone) or self.request.connection is None or self.client_gone.is_set():
            self.set_status(499, "Client Closed Request")
            self.finish()  # nobody is listening; Tornado discards the bytes
            return
        if isinstance(error, ImgserverError):
            message = error.public_message
            status = error.status
        elif isinstance(error, tornado.web.HTTPError):
            status = error.status_code
            message = error.reason or self._reason
        else:
            status = status_code
            message = "internal error" if status >= 500 else self._reason
        if status == 500 and error is not None and not isinstance(error, ImgserverError):
            log.error("unhandled error on %s %s", self.request.method, self.request.path, exc_info=exc_info)
        self.set_status(status)
        self.clear_header("ETag")
        self.clear_header("Last-Modified")
        self.clear_header("Cache-Control")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if status < 500 and self.state.settings.http.error_max_age > 0:
            self.set_header("Cache-Control", f"public, max-age={self.state.settings.http.error_max_age}")
        if isinstance(error, Overloaded):
            self.set_header("Retry-After", str(error.retry_after))
        if isinstance(error, UpstreamError | UpstreamTimeout):
            UPSTREAM_ERRORS.labels("timeout" if isinstance(error, UpstreamTimeout) else "error").inc()
        if isinstance(error, Unauthorized):
            self.set_header("WWW-Authenticate", 'Bearer realm="imgserver"')
        if self.request.method != "HEAD":
            self.finish(message + "\n")
        else:
            self.finish()

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Expected errors are logged once, by the access log line; bugs by write_error.
        if isinstance(value, ImgserverError | tornado.web.HTTPError):
            if isinstance(value, ImgserverError):
                self._error_reason = value.message
            return
        super().log_exception(typ, value, tb)
