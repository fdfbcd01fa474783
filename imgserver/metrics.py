"""Prometheus metrics (``GET /metrics``) and the per-process event tally.

With ``--processes N`` every serving process writes its samples to a shared folder
(prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``, set by ``imgserver serve``
before the fork) and ``/metrics`` answers the sum over all processes, whichever one is asked.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("imgserver_requests_total", "HTTP requests answered", ["route", "method", "status"])
PHASE_SECONDS = Histogram(
    "imgserver_phase_seconds",
    "Time spent per request phase: queue (waiting for a render thread), load, render, encode, "
    "cache (result-cache read), store (result-cache write), total",
    ["phase"],
    buckets=_LATENCY_BUCKETS,
)
EVENTS = Counter(
    "imgserver_events_total",
    "Work done: source_loads, renders, result_cache_hits/misses/errors/stores/store_failures, "
    "coalesced (requests that joined a render running or just finished)",
    ["event"],
)
SOURCE_BYTES = Counter("imgserver_source_bytes_total", "Bytes of originals loaded")
UPSTREAM_ERRORS = Counter("imgserver_upstream_errors_total", "Faults of the source store (S3, HTTP)", ["kind"])
QUEUE_DEPTH = Gauge(
    "imgserver_render_queue_depth", "Renders waiting for a thread", multiprocess_mode="livesum"
)
IN_FLIGHT = Gauge("imgserver_renders_in_flight", "Renders admitted (running + waiting)", multiprocess_mode="livesum")


# Label children looked up once: ``labels()`` takes a lock and builds a key on every call,
# and a request records about ten samples.
_CHILDREN: dict[tuple[object, ...], Any] = {}


def _child(metric: Counter | Histogram, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered."""
    key = (metric, *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN.setdefault(key, metric.labels(*labels))
    return child


def count(tally: Tally[str], event: str, amount: int = 1) -> None:
    """Bump an event in the process's tally (tests read it) and in Prometheus."""
    tally[event] += amount
    _child(EVENTS, event).inc(amount)


def observe(phase: str, seconds: float) -> None:
    _child(PHASE_SECONDS, phase).observe(seconds)


def count_request(route: str, method: str, status: int) -> None:
    """One answered HTTP request."""
    _child(REQUESTS, route, method, str(status)).inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric (summed over processes in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Drop a dead serving process's live gauges (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
