"""Every Thumbor filter the URL grammar accepts has exactly one implementation."""

from __future__ import annotations

from imgserver.imaging.filters import PIXEL_FILTERS, PLANNED
from imgserver.url.filters import REGISTRY


def test_every_filter_is_implemented_once() -> None:
    pixel, planned = set(PIXEL_FILTERS), set(PLANNED)
    assert not pixel & planned
    missing = set(REGISTRY) - pixel - planned
    assert not missing, f"filters accepted by URLs but not implemented: {sorted(missing)}"
    assert (pixel | planned) <= set(REGISTRY)
