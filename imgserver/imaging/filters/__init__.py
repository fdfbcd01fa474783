"""Thumbor's pixel filters on libvips. Importing this package registers all of them."""

from imgserver.imaging.filters import color, marks, shape  # noqa: F401  (registers the filters)
from imgserver.imaging.filters.registry import (
    PIXEL_FILTERS,
    PLANNED,
    FilterContext,
    apply_filters,
    pixel_filter,
)

__all__ = ["PIXEL_FILTERS", "PLANNED", "FilterContext", "apply_filters", "pixel_filter"]
