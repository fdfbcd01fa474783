"""Liveness for load balancers; never touches the render pool."""

from __future__ import annotations

from imgserver.handlers.base import BaseHandler
from imgserver.metrics import exposition


class HealthHandler(BaseHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish("WORKING\n")

    def head(self) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.finish()


class MetricsHandler(BaseHandler):
    """Prometheus exposition of this server (all its processes)."""

    def get(self) -> None:
        body, content_type = exposition()
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


class RootHandler(BaseHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("imgserver: a Thumbor-compatible image server. Try /unsafe/300x200/<image key>\n")
