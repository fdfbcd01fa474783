"""build_plan's geometry against the real Thumbor 7.8.0. PURE: no pixels, no I/O.

The two big tables are literal copies of what Thumbor 7.8.0 produced on 2026-11-23 for a
matrix of URLs on six generated JPEGs (1000x500, 500x1000, 800x600, 300x200, 1920x1080,
100x100), run with RESPECT_ORIENTATION = False, no detectors and no storage:

* ``SIZES``: the pixel size of the image Thumbor actually returned (read back from the bytes),
  for every URL of the matrix except ``smart`` (needs pixels; with no detector configured
  Thumbor behaved as centre alignment) and ``trim`` (needs pixels).
* ``OPERATIONS``: the ``operations`` and ``focal_points`` of Thumbor's ``/meta`` JSON for the
  same URLs (every row of the two first sources, a selection for the four others), copied
  verbatim: ``{"type": "crop", "left": l, "top": t, "right": r, "bottom": b}`` is written
  ``("crop", l, t, r, b)``, a resize ``("resize", w, h)``, a flip ``("flip_horizontally",)``.
  Thumbor writes some resize sizes as floats (``300.0``); they are compared numerically
  with our ints. Thumbor's meta ``source`` size is not the source size (a Thumbor bug) and
  is not used.

Every other expected value below is hand arithmetic shown in a comment. No expectation is
produced by calling build_plan.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from imgserver.errors import OutputTooLarge
from imgserver.plan.build import PlanLimits, Qualities, build_plan
from imgserver.plan.model import Box, Plan, SourceFacts
from imgserver.url.filters import FilterCall
from imgserver.url.grammar import parse_path

pytestmark = pytest.mark.unit

Op = tuple[str | int | float, ...]


def _facts(width: int, height: int, fmt: str = "jpeg", has_alpha: bool = False) -> SourceFacts:
    return SourceFacts(
        format=fmt, width=width, height=height, stored_width=width, stored_height=height, has_alpha=has_alpha
    )


def _path(options: str, image: str = "image.jpg") -> str:
    return "/unsafe/" + (f"{options}/" if options else "") + image


def _plan(options: str, width: int, height: int, **kwargs: Any) -> Plan:
    return build_plan(parse_path(_path(options)), _facts(width, height), **kwargs)


def _op(entry: dict[str, Any]) -> Op:
    """One of our operations() entries in the tables' tuple notation."""
    kind = entry["type"]
    if kind == "crop":
        return (kind, entry["left"], entry["top"], entry["right"], entry["bottom"])
    if kind == "resize":
        return (kind, entry["width"], entry["height"])
    assert set(entry) == {"type"}, entry
    return (kind,)


def _ops(plan: Plan) -> tuple[Op, ...]:
    return tuple(_op(entry) for entry in plan.operations())


# Expected values produced by Thumbor 7.8.0 on 2026-11-23 (its real output image sizes).
SIZES: list[tuple[int, int, str, int, int]] = [
    # (source width, source height, options, Thumbor output width, Thumbor output height)
    # 1000x500 source
    (1000, 500, "", 1000, 500),
    (1000, 500, "300x200", 300, 200),
    (1000, 500, "300x0", 300, 150),
    (1000, 500, "0x200", 400, 200),
    (1000, 500, "x200", 400, 200),
    (1000, 500, "300x", 300, 150),
    (1000, 500, "0x0", 1000, 500),
    (1000, 500, "origxorig", 1000, 500),
    (1000, 500, "origx100", 1000, 100),
    (1000, 500, "100xorig", 100, 500),
    (1000, 500, "fit-in/300x200", 300, 150),
    (1000, 500, "fit-in/3000x2000", 1000, 500),
    (1000, 500, "fit-in/300x0", 300, 150),
    (1000, 500, "fit-in/0x300", 600, 300),
    (1000, 500, "fit-in/0x0", 1000, 500),
    (1000, 500, "fit-in/1x1", 1, 1),
    (1000, 500, "full-fit-in/300x200", 400, 200),
    (1000, 500, "full-fit-in/3000x3000", 6000, 3000),
    (1000, 500, "adaptive-fit-in/200x300", 300, 150),
    (1000, 500, "adaptive-fit-in/300x200", 300, 150),
    (1000, 500, "adaptive-full-fit-in/200x300", 400, 200),
    (1000, 500, "-300x200", 300, 200),
    (1000, 500, "300x-200", 300, 200),
    (1000, 500, "-300x-200", 300, 200),
    (1000, 500, "-0x0", 1000, 500),
    (1000, 500, "fit-in/-300x200", 300, 150),
    (1000, 500, "10x10:410x210", 400, 200),
    (1000, 500, "10x10:410x210/100x0", 100, 50),
    (1000, 500, "10x10:410x210/200x200", 200, 200),
    (1000, 500, "0x0:5000x5000", 1000, 500),
    (1000, 500, "0x0:5000x5000/300x200", 300, 200),
    (1000, 500, "500x10:100x20/300x200", 300, 200),
    (1000, 500, "10x10:20x20", 10, 10),
    (1000, 500, "2000x1000", 2000, 1000),
    (1000, 500, "300x200/left/top", 300, 200),
    (1000, 500, "300x200/right/bottom", 300, 200),
    (1000, 500, "50x50", 50, 50),
    (1000, 500, "1x1", 1, 1),
    (1000, 500, "333x111", 333, 111),
    (1000, 500, "300x300", 300, 300),
    (1000, 500, "200x300", 200, 300),
    (1000, 500, "fit-in/200x300", 200, 100),
    (1000, 500, "full-fit-in/200x300", 600, 300),
    (1000, 500, "300x200/filters:quality(50)", 300, 200),
    (1000, 500, "300x200/filters:format(png)", 300, 200),
    # 500x1000 source
    (500, 1000, "", 500, 1000),
    (500, 1000, "300x200", 300, 200),
    (500, 1000, "300x0", 300, 600),
    (500, 1000, "0x200", 100, 200),
    (500, 1000, "x200", 100, 200),
    (500, 1000, "300x", 300, 600),
    (500, 1000, "0x0", 500, 1000),
    (500, 1000, "origxorig", 500, 1000),
    (500, 1000, "origx100", 500, 100),
    (500, 1000, "100xorig", 100, 1000),
    (500, 1000, "fit-in/300x200", 100, 200),
    (500, 1000, "fit-in/3000x2000", 500, 1000),
    (500, 1000, "fit-in/300x0", 300, 600),
    (500, 1000, "fit-in/0x300", 150, 300),
    (500, 1000, "fit-in/0x0", 500, 1000),
    (500, 1000, "fit-in/1x1", 1, 1),
    (500, 1000, "full-fit-in/300x200", 300, 600),
    (500, 1000, "full-fit-in/3000x3000", 3000, 6000),
    (500, 1000, "adaptive-fit-in/200x300", 150, 300),
    (500, 1000, "adaptive-fit-in/300x200", 150, 300),
    (500, 1000, "adaptive-full-fit-in/200x300", 200, 400),
    (500, 1000, "-300x200", 300, 200),
    (500, 1000, "300x-200", 300, 200),
    (500, 1000, "-300x-200", 300, 200),
    (500, 1000, "-0x0", 500, 1000),
    (500, 1000, "fit-in/-300x200", 100, 200),
    (500, 1000, "10x10:410x210", 400, 200),
    (500, 1000, "10x10:410x210/100x0", 100, 50),
    (500, 1000, "10x10:410x210/200x200", 200, 200),
    (500, 1000, "0x0:5000x5000", 500, 1000),
    (500, 1000, "0x0:5000x5000/300x200", 300, 200),
    (500, 1000, "500x10:100x20/300x200", 300, 200),
    (500, 1000, "10x10:20x20", 10, 10),
    (500, 1000, "2000x1000", 2000, 1000),
    (500, 1000, "300x200/left/top", 300, 200),
    (500, 1000, "300x200/right/bottom", 300, 200),
    (500, 1000, "50x50", 50, 50),
    (500, 1000, "1x1", 1, 1),
    (500, 1000, "333x111", 333, 111),
    (500, 1000, "300x300", 300, 300),
    (500, 1000, "200x300", 200, 300),
    (500, 1000, "fit-in/200x300", 150, 300),
    (500, 1000, "full-fit-in/200x300", 200, 400),
    (500, 1000, "300x200/filters:quality(50)", 300, 200),
    (500, 1000, "300x200/filters:format(png)", 300, 200),
    # 800x600 source
    (800, 600, "", 800, 600),
    (800, 600, "300x200", 300, 200),
    (800, 600, "300x0", 300, 225),
    (800, 600, "0x200", 267, 200),
    (800, 600, "x200", 267, 200),
    (800, 600, "300x", 300, 225),
    (800, 600, "0x0", 800, 600),
    (800, 600, "origxorig", 800, 600),
    (800, 600, "origx100", 800, 100),
    (800, 600, "100xorig", 100, 600),
    (800, 600, "fit-in/300x200", 267, 200),
    (800, 600, "fit-in/3000x2000", 800, 600),
    (800, 600, "fit-in/300x0", 300, 225),
    (800, 600, "fit-in/0x300", 400, 300),
    (800, 600, "fit-in/0x0", 800, 600),
    (800, 600, "fit-in/1x1", 1, 1),
    (800, 600, "full-fit-in/300x200", 300, 225),
    (800, 600, "full-fit-in/3000x3000", 4000, 3000),
    (800, 600, "adaptive-fit-in/200x300", 267, 200),
    (800, 600, "adaptive-fit-in/300x200", 267, 200),
    (800, 600, "adaptive-full-fit-in/200x300", 300, 225),
    (800, 600, "-300x200", 300, 200),
    (800, 600, "300x-200", 300, 200),
    (800, 600, "-300x-200", 300, 200),
    (800, 600, "-0x0", 800, 600),
    (800, 600, "fit-in/-300x200", 267, 200),
    (800, 600, "10x10:410x210", 400, 200),
    (800, 600, "10x10:410x210/100x0", 100, 50),
    (800, 600, "10x10:410x210/200x200", 200, 200),
    (800, 600, "0x0:5000x5000", 800, 600),
    (800, 600, "0x0:5000x5000/300x200", 300, 200),
    (800, 600, "500x10:100x20/300x200", 300, 200),
    (800, 600, "10x10:20x20", 10, 10),
    (800, 600, "2000x1000", 2000, 1000),
    (800, 600, "300x200/left/top", 300, 200),
    (800, 600, "300x200/right/bottom", 300, 200),
    (800, 600, "50x50", 50, 50),
    (800, 600, "1x1", 1, 1),
    (800, 600, "333x111", 333, 111),
    (800, 600, "300x300", 300, 300),
    (800, 600, "200x300", 200, 300),
    (800, 600, "fit-in/200x300", 200, 150),
    (800, 600, "full-fit-in/200x300", 400, 300),
    (800, 600, "300x200/filters:quality(50)", 300, 200),
    (800, 600, "300x200/filters:format(png)", 300, 200),
    # 300x200 source
    (300, 200, "", 300, 200),
    (300, 200, "300x200", 300, 200),
    (300, 200, "300x0", 300, 200),
    (300, 200, "0x200", 300, 200),
    (300, 200, "x200", 300, 200),
    (300, 200, "300x", 300, 200),
    (300, 200, "0x0", 300, 200),
    (300, 200, "origxorig", 300, 200),
    (300, 200, "origx100", 300, 100),
    (300, 200, "100xorig", 100, 200),
    (300, 200, "fit-in/300x200", 300, 200),
    (300, 200, "fit-in/3000x2000", 300, 200),
    (300, 200, "fit-in/300x0", 300, 200),
    (300, 200, "fit-in/0x300", 300, 200),
    (300, 200, "fit-in/0x0", 300, 200),
    (300, 200, "fit-in/1x1", 1, 1),
    (300, 200, "full-fit-in/300x200", 300, 200),
    (300, 200, "full-fit-in/3000x3000", 4500, 3000),
    (300, 200, "adaptive-fit-in/200x300", 300, 200),
    (300, 200, "adaptive-fit-in/300x200", 300, 200),
    (300, 200, "adaptive-full-fit-in/200x300", 300, 200),
    (300, 200, "-300x200", 300, 200),
    (300, 200, "300x-200", 300, 200),
    (300, 200, "-300x-200", 300, 200),
    (300, 200, "-0x0", 300, 200),
    (300, 200, "fit-in/-300x200", 300, 200),
    (300, 200, "10x10:410x210", 290, 190),
    (300, 200, "10x10:410x210/100x0", 100, 66),
    (300, 200, "10x10:410x210/200x200", 200, 200),
    (300, 200, "0x0:5000x5000", 300, 200),
    (300, 200, "0x0:5000x5000/300x200", 300, 200),
    (300, 200, "500x10:100x20/300x200", 300, 200),
    (300, 200, "10x10:20x20", 10, 10),
    (300, 200, "2000x1000", 2000, 1000),
    (300, 200, "300x200/left/top", 300, 200),
    (300, 200, "300x200/right/bottom", 300, 200),
    (300, 200, "50x50", 50, 50),
    (300, 200, "1x1", 1, 1),
    (300, 200, "333x111", 333, 111),
    (300, 200, "300x300", 300, 300),
    (300, 200, "200x300", 200, 300),
    (300, 200, "fit-in/200x300", 200, 133),
    (300, 200, "full-fit-in/200x300", 450, 300),
    (300, 200, "300x200/filters:quality(50)", 300, 200),
    (300, 200, "300x200/filters:format(png)", 300, 200),
    # 1920x1080 source
    (1920, 1080, "", 1920, 1080),
    (1920, 1080, "300x200", 300, 200),
    (1920, 1080, "300x0", 300, 169),
    (1920, 1080, "0x200", 356, 200),
    (1920, 1080, "x200", 356, 200),
    (1920, 1080, "300x", 300, 169),
    (1920, 1080, "0x0", 1920, 1080),
    (1920, 1080, "origxorig", 1920, 1080),
    (1920, 1080, "origx100", 1920, 100),
    (1920, 1080, "100xorig", 100, 1080),
    (1920, 1080, "fit-in/300x200", 300, 169),
    (1920, 1080, "fit-in/3000x2000", 1920, 1080),
    (1920, 1080, "fit-in/300x0", 300, 169),
    (1920, 1080, "fit-in/0x300", 533, 300),
    (1920, 1080, "fit-in/0x0", 1920, 1080),
    (1920, 1080, "fit-in/1x1", 1, 1),
    (1920, 1080, "full-fit-in/300x200", 356, 200),
    (1920, 1080, "full-fit-in/3000x3000", 5333, 3000),
    (1920, 1080, "adaptive-fit-in/200x300", 300, 169),
    (1920, 1080, "adaptive-fit-in/300x200", 300, 169),
    (1920, 1080, "adaptive-full-fit-in/200x300", 356, 200),
    (1920, 1080, "-300x200", 300, 200),
    (1920, 1080, "300x-200", 300, 200),
    (1920, 1080, "-300x-200", 300, 200),
    (1920, 1080, "-0x0", 1920, 1080),
    (1920, 1080, "fit-in/-300x200", 300, 169),
    (1920, 1080, "10x10:410x210", 400, 200),
    (1920, 1080, "10x10:410x210/100x0", 100, 50),
    (1920, 1080, "10x10:410x210/200x200", 200, 200),
    (1920, 1080, "0x0:5000x5000", 1920, 1080),
    (1920, 1080, "0x0:5000x5000/300x200", 300, 200),
    (1920, 1080, "500x10:100x20/300x200", 300, 200),
    (1920, 1080, "10x10:20x20", 10, 10),
    (1920, 1080, "2000x1000", 2000, 1000),
    (1920, 1080, "300x200/left/top", 300, 200),
    (1920, 1080, "300x200/right/bottom", 300, 200),
    (1920, 1080, "50x50", 50, 50),
    (1920, 1080, "1x1", 1, 1),
    (1920, 1080, "333x111", 333, 111),
    (1920, 1080, "300x300", 300, 300),
    (1920, 1080, "200x300", 200, 300),
    (1920, 1080, "fit-in/200x300", 200, 113),
    (1920, 1080, "full-fit-in/200x300", 533, 300),
    (1920, 1080, "300x200/filters:quality(50)", 300, 200),
    (1920, 1080, "300x200/filters:format(png)", 300, 200),
    # 100x100 source
    (100, 100, "", 100, 100),
    (100, 100, "300x200", 300, 200),
    (100, 100, "300x0", 300, 300),
    (100, 100, "0x200", 200, 200),
    (100, 100, "x200", 200, 200),
    (100, 100, "300x", 300, 300),
    (100, 100, "0x0", 100, 100),
    (100, 100, "origxorig", 100, 100),
    (100, 100, "origx100", 100, 100),
    (100, 100, "100xorig", 100, 100),
    (100, 100, "fit-in/300x200", 100, 100),
    (100, 100, "fit-in/3000x2000", 100, 100),
    (100, 100, "fit-in/300x0", 100, 100),
    (100, 100, "fit-in/0x300", 100, 100),
    (100, 100, "fit-in/0x0", 100, 100),
    (100, 100, "fit-in/1x1", 1, 1),
    (100, 100, "full-fit-in/300x200", 300, 300),
    (100, 100, "full-fit-in/3000x3000", 3000, 3000),
    (100, 100, "adaptive-fit-in/200x300", 100, 100),
    (100, 100, "adaptive-fit-in/300x200", 100, 100),
    (100, 100, "adaptive-full-fit-in/200x300", 300, 300),
    (100, 100, "-300x200", 300, 200),
    (100, 100, "300x-200", 300, 200),
    (100, 100, "-300x-200", 300, 200),
    (100, 100, "-0x0", 100, 100),
    (100, 100, "fit-in/-300x200", 100, 100),
    (100, 100, "10x10:410x210", 90, 90),
    (100, 100, "10x10:410x210/100x0", 100, 100),
    (100, 100, "10x10:410x210/200x200", 200, 200),
    (100, 100, "0x0:5000x5000", 100, 100),
    (100, 100, "0x0:5000x5000/300x200", 300, 200),
    (100, 100, "500x10:100x20/300x200", 300, 200),
    (100, 100, "10x10:20x20", 10, 10),
    (100, 100, "2000x1000", 2000, 1000),
    (100, 100, "300x200/left/top", 300, 200),
    (100, 100, "300x200/right/bottom", 300, 200),
    (100, 100, "50x50", 50, 50),
    (100, 100, "1x1", 1, 1),
    (100, 100, "333x111", 333, 111),
    (100, 100, "300x300", 300, 300),
    (100, 100, "200x300", 200, 300),
    (100, 100, "fit-in/200x300", 100, 100),
    (100, 100, "full-fit-in/200x300", 300, 300),
    (100, 100, "300x200/filters:quality(50)", 300, 200),
    (100, 100, "300x200/filters:format(png)", 300, 200),
]

# Thumbor 7.8.0's /meta operations and focal point on 2026-11-23, for the same URLs.
OPERATIONS: list[tuple[int, int, str, tuple[Op, ...], tuple[int, int]]] = [
    # (source width, source height, options, Thumbor's meta operations, Thumbor's focal point)
    # 1000x500 source
    (1000, 500, "", (), (500, 250)),
    (1000, 500, "300x200", (("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0)), (500, 250)),
    (1000, 500, "300x0", (("resize", 300.0, 150.0),), (500, 250)),
    (1000, 500, "0x200", (("resize", 400.0, 200.0),), (500, 250)),
    (1000, 500, "x200", (("resize", 400.0, 200.0),), (500, 250)),
    (1000, 500, "300x", (("resize", 300.0, 150.0),), (500, 250)),
    (1000, 500, "0x0", (), (500, 250)),
    (1000, 500, "origxorig", (), (500, 250)),
    (1000, 500, "origx100", (("crop", 0, 200, 1000, 300),), (500, 250)),
    (1000, 500, "100xorig", (("crop", 450, 0, 550, 500),), (500, 250)),
    (1000, 500, "fit-in/300x200", (("resize", 300.0, 150),), (500, 250)),
    (1000, 500, "fit-in/3000x2000", (), (500, 250)),
    (1000, 500, "fit-in/300x0", (("resize", 300.0, 150),), (500, 250)),
    (1000, 500, "fit-in/0x300", (("resize", 600.0, 300),), (500, 250)),
    (1000, 500, "fit-in/0x0", (), (500, 250)),
    (1000, 500, "fit-in/1x1", (("resize", 1.0, 1),), (500, 250)),
    (1000, 500, "full-fit-in/300x200", (("resize", 400, 200.0),), (500, 250)),
    (1000, 500, "full-fit-in/3000x3000", (("resize", 6000, 3000.0),), (500, 250)),
    (1000, 500, "adaptive-fit-in/200x300", (("resize", 300.0, 150),), (500, 250)),
    (1000, 500, "adaptive-fit-in/300x200", (("resize", 300.0, 150),), (500, 250)),
    (1000, 500, "adaptive-full-fit-in/200x300", (("resize", 400, 200.0),), (500, 250)),
    (1000, 500, "-300x200", (("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0), ("flip_horizontally",)), (500, 250)),
    (1000, 500, "300x-200", (("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0), ("flip_vertically",)), (500, 250)),
    (
        1000,
        500,
        "-300x-200",
        (("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0), ("flip_horizontally",), ("flip_vertically",)),
        (500, 250),
    ),
    (1000, 500, "-0x0", (("flip_horizontally",),), (500, 250)),
    (1000, 500, "fit-in/-300x200", (("resize", 300.0, 150), ("flip_horizontally",)), (500, 250)),
    (1000, 500, "10x10:410x210", (("crop", 10, 10, 410, 210),), (200, 100)),
    (1000, 500, "10x10:410x210/100x0", (("crop", 10, 10, 410, 210), ("resize", 100.0, 50.0)), (200, 100)),
    (1000, 500, "10x10:410x210/200x200", (("crop", 10, 10, 410, 210), ("crop", 100, 0, 300, 200)), (200, 100)),
    (1000, 500, "0x0:5000x5000", (("crop", 0, 0, 1000, 500),), (500, 250)),
    (
        1000,
        500,
        "0x0:5000x5000/300x200",
        (("crop", 0, 0, 1000, 500), ("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0)),
        (500, 250),
    ),
    (1000, 500, "500x10:100x20/300x200", (("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0)), (500, 250)),
    (1000, 500, "10x10:20x20", (("crop", 10, 10, 20, 20),), (5, 5)),
    (1000, 500, "2000x1000", (("resize", 2000.0, 1000.0),), (500, 250)),
    (1000, 500, "300x200/left/top", (("crop", 0, 0, 750, 500), ("resize", 300.0, 200.0)), (0, 0)),
    (1000, 500, "300x200/right/bottom", (("crop", 250, 0, 1000, 500), ("resize", 300.0, 200.0)), (1000, 500)),
    (1000, 500, "50x50", (("crop", 250, 0, 750, 500), ("resize", 50.0, 50.0)), (500, 250)),
    (1000, 500, "1x1", (("crop", 250, 0, 750, 500), ("resize", 1.0, 1.0)), (500, 250)),
    (1000, 500, "333x111", (("crop", 0, 84, 1000, 417), ("resize", 333.0, 111.0)), (500, 250)),
    (1000, 500, "300x300", (("crop", 250, 0, 750, 500), ("resize", 300.0, 300.0)), (500, 250)),
    (1000, 500, "200x300", (("crop", 333, 0, 667, 500), ("resize", 200.0, 300.0)), (500, 250)),
    (1000, 500, "fit-in/200x300", (("resize", 200.0, 100),), (500, 250)),
    (1000, 500, "full-fit-in/200x300", (("resize", 600, 300.0),), (500, 250)),
    (1000, 500, "300x200/filters:quality(50)", (("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0)), (500, 250)),
    (1000, 500, "300x200/filters:format(png)", (("crop", 125, 0, 875, 500), ("resize", 300.0, 200.0)), (500, 250)),
    # 500x1000 source
    (500, 1000, "", (), (250, 500)),
    (500, 1000, "300x200", (("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0)), (250, 500)),
    (500, 1000, "300x0", (("resize", 300.0, 600.0),), (250, 500)),
    (500, 1000, "0x200", (("resize", 100.0, 200.0),), (250, 500)),
    (500, 1000, "x200", (("resize", 100.0, 200.0),), (250, 500)),
    (500, 1000, "300x", (("resize", 300.0, 600.0),), (250, 500)),
    (500, 1000, "0x0", (), (250, 500)),
    (500, 1000, "origxorig", (), (250, 500)),
    (500, 1000, "origx100", (("crop", 0, 450, 500, 550),), (250, 500)),
    (500, 1000, "100xorig", (("crop", 200, 0, 300, 1000),), (250, 500)),
    (500, 1000, "fit-in/300x200", (("resize", 100, 200.0),), (250, 500)),
    (500, 1000, "fit-in/3000x2000", (), (250, 500)),
    (500, 1000, "fit-in/300x0", (("resize", 300.0, 600),), (250, 500)),
    (500, 1000, "fit-in/0x300", (("resize", 150.0, 300),), (250, 500)),
    (500, 1000, "fit-in/0x0", (), (250, 500)),
    (500, 1000, "fit-in/1x1", (("resize", 1, 1.0),), (250, 500)),
    (500, 1000, "full-fit-in/300x200", (("resize", 300.0, 600),), (250, 500)),
    (500, 1000, "full-fit-in/3000x3000", (("resize", 3000.0, 6000),), (250, 500)),
    (500, 1000, "adaptive-fit-in/200x300", (("resize", 150, 300.0),), (250, 500)),
    (500, 1000, "adaptive-fit-in/300x200", (("resize", 150, 300.0),), (250, 500)),
    (500, 1000, "adaptive-full-fit-in/200x300", (("resize", 200.0, 400),), (250, 500)),
    (500, 1000, "-300x200", (("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0), ("flip_horizontally",)), (250, 500)),
    (500, 1000, "300x-200", (("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0), ("flip_vertically",)), (250, 500)),
    (
        500,
        1000,
        "-300x-200",
        (("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0), ("flip_horizontally",), ("flip_vertically",)),
        (250, 500),
    ),
    (500, 1000, "-0x0", (("flip_horizontally",),), (250, 500)),
    (500, 1000, "fit-in/-300x200", (("resize", 100, 200.0), ("flip_horizontally",)), (250, 500)),
    (500, 1000, "10x10:410x210", (("crop", 10, 10, 410, 210),), (200, 100)),
    (500, 1000, "10x10:410x210/100x0", (("crop", 10, 10, 410, 210), ("resize", 100.0, 50.0)), (200, 100)),
    (500, 1000, "10x10:410x210/200x200", (("crop", 10, 10, 410, 210), ("crop", 100, 0, 300, 200)), (200, 100)),
    (500, 1000, "0x0:5000x5000", (("crop", 0, 0, 500, 1000),), (250, 500)),
    (
        500,
        1000,
        "0x0:5000x5000/300x200",
        (("crop", 0, 0, 500, 1000), ("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0)),
        (250, 500),
    ),
    (500, 1000, "500x10:100x20/300x200", (("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0)), (250, 500)),
    (500, 1000, "10x10:20x20", (("crop", 10, 10, 20, 20),), (5, 5)),
    (500, 1000, "2000x1000", (("crop", 0, 375, 500, 625), ("resize", 2000.0, 1000.0)), (250, 500)),
    (500, 1000, "300x200/left/top", (("crop", 0, 0, 500, 333), ("resize", 300.0, 200.0)), (0, 0)),
    (500, 1000, "300x200/right/bottom", (("crop", 0, 667, 500, 1000), ("resize", 300.0, 200.0)), (500, 1000)),
    (500, 1000, "50x50", (("crop", 0, 250, 500, 750), ("resize", 50.0, 50.0)), (250, 500)),
    (500, 1000, "1x1", (("crop", 0, 250, 500, 750), ("resize", 1.0, 1.0)), (250, 500)),
    (500, 1000, "333x111", (("crop", 0, 416, 500, 583), ("resize", 333.0, 111.0)), (250, 500)),
    (500, 1000, "300x300", (("crop", 0, 250, 500, 750), ("resize", 300.0, 300.0)), (250, 500)),
    (500, 1000, "200x300", (("crop", 0, 125, 500, 875), ("resize", 200.0, 300.0)), (250, 500)),
    (500, 1000, "fit-in/200x300", (("resize", 150, 300.0),), (250, 500)),
    (500, 1000, "full-fit-in/200x300", (("resize", 200.0, 400),), (250, 500)),
    (500, 1000, "300x200/filters:quality(50)", (("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0)), (250, 500)),
    (500, 1000, "300x200/filters:format(png)", (("crop", 0, 334, 500, 667), ("resize", 300.0, 200.0)), (250, 500)),
    # 800x600 source
    (800, 600, "300x200", (("crop", 0, 34, 800, 567), ("resize", 300.0, 200.0)), (400, 300)),
    (800, 600, "origx100", (("crop", 0, 250, 800, 350),), (400, 300)),
    (800, 600, "100xorig", (("crop", 350, 0, 450, 600),), (400, 300)),
    (800, 600, "full-fit-in/300x200", (("resize", 300.0, 225),), (400, 300)),
    (800, 600, "adaptive-fit-in/200x300", (("resize", 267, 200.0),), (400, 300)),
    (
        800,
        600,
        "-300x-200",
        (("crop", 0, 34, 800, 567), ("resize", 300.0, 200.0), ("flip_horizontally",), ("flip_vertically",)),
        (400, 300),
    ),
    (800, 600, "fit-in/-300x200", (("resize", 267, 200.0), ("flip_horizontally",)), (400, 300)),
    (800, 600, "10x10:410x210/100x0", (("crop", 10, 10, 410, 210), ("resize", 100.0, 50.0)), (200, 100)),
    (800, 600, "10x10:410x210/200x200", (("crop", 10, 10, 410, 210), ("crop", 100, 0, 300, 200)), (200, 100)),
    (800, 600, "0x0:5000x5000", (("crop", 0, 0, 800, 600),), (400, 300)),
    (
        800,
        600,
        "0x0:5000x5000/300x200",
        (("crop", 0, 0, 800, 600), ("crop", 0, 34, 800, 567), ("resize", 300.0, 200.0)),
        (400, 300),
    ),
    (800, 600, "500x10:100x20/300x200", (("crop", 0, 34, 800, 567), ("resize", 300.0, 200.0)), (400, 300)),
    (800, 600, "300x200/left/top", (("crop", 0, 0, 800, 533), ("resize", 300.0, 200.0)), (0, 0)),
    (800, 600, "300x200/right/bottom", (("crop", 0, 67, 800, 600), ("resize", 300.0, 200.0)), (800, 600)),
    (800, 600, "333x111", (("crop", 0, 166, 800, 433), ("resize", 333.0, 111.0)), (400, 300)),
    (800, 600, "200x300", (("crop", 200, 0, 600, 600), ("resize", 200.0, 300.0)), (400, 300)),
    # 300x200 source
    (300, 200, "300x200", (), (150, 100)),
    (300, 200, "origx100", (("crop", 0, 50, 300, 150),), (150, 100)),
    (300, 200, "100xorig", (("crop", 100, 0, 200, 200),), (150, 100)),
    (300, 200, "full-fit-in/300x200", (("resize", 300.0, 200),), (150, 100)),
    (300, 200, "adaptive-fit-in/200x300", (), (150, 100)),
    (300, 200, "-300x-200", (("flip_horizontally",), ("flip_vertically",)), (150, 100)),
    (300, 200, "fit-in/-300x200", (("flip_horizontally",),), (150, 100)),
    (
        300,
        200,
        "10x10:410x210/100x0",
        (("crop", 10, 10, 300, 200), ("crop", 1, 0, 289, 190), ("resize", 100.0, 66.0)),
        (145, 95),
    ),
    (
        300,
        200,
        "10x10:410x210/200x200",
        (("crop", 10, 10, 300, 200), ("crop", 50, 0, 240, 190), ("resize", 200.0, 200.0)),
        (145, 95),
    ),
    (300, 200, "0x0:5000x5000", (("crop", 0, 0, 300, 200),), (150, 100)),
    (300, 200, "0x0:5000x5000/300x200", (("crop", 0, 0, 300, 200),), (150, 100)),
    (300, 200, "500x10:100x20/300x200", (), (150, 100)),
    (300, 200, "300x200/left/top", (), (0, 0)),
    (300, 200, "300x200/right/bottom", (), (300, 200)),
    (300, 200, "333x111", (("crop", 0, 50, 300, 150), ("resize", 333.0, 111.0)), (150, 100)),
    (300, 200, "200x300", (("crop", 83, 0, 217, 200), ("resize", 200.0, 300.0)), (150, 100)),
    # 1920x1080 source
    (1920, 1080, "300x200", (("crop", 150, 0, 1770, 1080), ("resize", 300.0, 200.0)), (960, 540)),
    (1920, 1080, "origx100", (("crop", 0, 490, 1920, 590),), (960, 540)),
    (1920, 1080, "100xorig", (("crop", 910, 0, 1010, 1080),), (960, 540)),
    (1920, 1080, "full-fit-in/300x200", (("resize", 356, 200.0),), (960, 540)),
    (1920, 1080, "adaptive-fit-in/200x300", (("resize", 300.0, 169),), (960, 540)),
    (
        1920,
        1080,
        "-300x-200",
        (("crop", 150, 0, 1770, 1080), ("resize", 300.0, 200.0), ("flip_horizontally",), ("flip_vertically",)),
        (960, 540),
    ),
    (1920, 1080, "fit-in/-300x200", (("resize", 300.0, 169), ("flip_horizontally",)), (960, 540)),
    (1920, 1080, "10x10:410x210/100x0", (("crop", 10, 10, 410, 210), ("resize", 100.0, 50.0)), (200, 100)),
    (1920, 1080, "10x10:410x210/200x200", (("crop", 10, 10, 410, 210), ("crop", 100, 0, 300, 200)), (200, 100)),
    (1920, 1080, "0x0:5000x5000", (("crop", 0, 0, 1920, 1080),), (960, 540)),
    (
        1920,
        1080,
        "0x0:5000x5000/300x200",
        (("crop", 0, 0, 1920, 1080), ("crop", 150, 0, 1770, 1080), ("resize", 300.0, 200.0)),
        (960, 540),
    ),
    (1920, 1080, "500x10:100x20/300x200", (("crop", 150, 0, 1770, 1080), ("resize", 300.0, 200.0)), (960, 540)),
    (1920, 1080, "300x200/left/top", (("crop", 0, 0, 1620, 1080), ("resize", 300.0, 200.0)), (0, 0)),
    (1920, 1080, "300x200/right/bottom", (("crop", 300, 0, 1920, 1080), ("resize", 300.0, 200.0)), (1920, 1080)),
    (1920, 1080, "333x111", (("crop", 0, 220, 1920, 860), ("resize", 333.0, 111.0)), (960, 540)),
    (1920, 1080, "200x300", (("crop", 600, 0, 1320, 1080), ("resize", 200.0, 300.0)), (960, 540)),
    # 100x100 source
    (100, 100, "300x200", (("crop", 0, 16, 100, 83), ("resize", 300.0, 200.0)), (50, 50)),
    (100, 100, "origx100", (), (50, 50)),
    (100, 100, "100xorig", (), (50, 50)),
    (100, 100, "full-fit-in/300x200", (("resize", 300.0, 300),), (50, 50)),
    (100, 100, "adaptive-fit-in/200x300", (), (50, 50)),
    (
        100,
        100,
        "-300x-200",
        (("crop", 0, 16, 100, 83), ("resize", 300.0, 200.0), ("flip_horizontally",), ("flip_vertically",)),
        (50, 50),
    ),
    (100, 100, "fit-in/-300x200", (("flip_horizontally",),), (50, 50)),
    (100, 100, "10x10:410x210/100x0", (("crop", 10, 10, 100, 100), ("resize", 100.0, 100.0)), (45, 45)),
    (100, 100, "10x10:410x210/200x200", (("crop", 10, 10, 100, 100), ("resize", 200.0, 200.0)), (45, 45)),
    (100, 100, "0x0:5000x5000", (("crop", 0, 0, 100, 100),), (50, 50)),
    (
        100,
        100,
        "0x0:5000x5000/300x200",
        (("crop", 0, 0, 100, 100), ("crop", 0, 16, 100, 83), ("resize", 300.0, 200.0)),
        (50, 50),
    ),
    (100, 100, "500x10:100x20/300x200", (("crop", 0, 16, 100, 83), ("resize", 300.0, 200.0)), (50, 50)),
    (100, 100, "300x200/left/top", (("crop", 0, 0, 100, 67), ("resize", 300.0, 200.0)), (0, 0)),
    (100, 100, "300x200/right/bottom", (("crop", 0, 33, 100, 100), ("resize", 300.0, 200.0)), (100, 100)),
    (100, 100, "333x111", (("crop", 0, 34, 100, 67), ("resize", 333.0, 111.0)), (50, 50)),
    (100, 100, "200x300", (("crop", 16, 0, 83, 100), ("resize", 200.0, 300.0)), (50, 50)),
]


@pytest.mark.parametrize(
    ("src_w", "src_h", "options", "width", "height"),
    SIZES,
    ids=[f"{w}x{h}:{o or '(none)'}" for w, h, o, _, _ in SIZES],
)
def test_output_size_matches_thumbor(src_w: int, src_h: int, options: str, width: int, height: int) -> None:
    plan = _plan(options, src_w, src_h)
    assert (plan.width, plan.height) == (width, height)


@pytest.mark.parametrize(
    ("src_w", "src_h", "options", "operations", "focal"),
    OPERATIONS,
    ids=[f"{w}x{h}:{o or '(none)'}" for w, h, o, _, _ in OPERATIONS],
)
def test_operations_match_thumbor_meta(
    src_w: int, src_h: int, options: str, operations: tuple[Op, ...], focal: tuple[int, int]
) -> None:
    plan = _plan(options, src_w, src_h)
    # Same steps in the same order with numerically equal values (int 300 == float 300.0).
    # Like Thumbor, the manual crop is in source pixels and the auto crop is relative to
    # the manually cropped image.
    assert _ops(plan) == operations
    # Thumbor's focal point is in the coordinates of the image left after the manual crop.
    assert (plan.focal.x, plan.focal.y) == focal


def test_tables_cover_the_matrix() -> None:
    """Guards against a truncated paste: 6 sources x 45 URLs, 154 meta rows."""
    assert len(SIZES) == 270
    assert len({(w, h) for w, h, *_ in SIZES}) == 6
    assert len(OPERATIONS) == 154
    assert len({(w, h, o) for w, h, o, *_ in SIZES}) == len(SIZES)


# --- trim: the box needs pixels, so it is given here as Thumbor's meta reported it --------


@pytest.mark.parametrize(
    ("options", "trim", "size", "operations"),
    [
        # trim.png (400x300, red 200x140 block at 50,40 on white). Thumbor's meta:
        # crop 50,40,250,180 then crop 0,0,60,20 → 60x20. The manual crop is translated into
        # the trimmed image (10-50 → 0, 10-40 → 0, 110-50 = 60, 60-40 = 20) and clamped.
        ("trim/10x10:110x60", Box(50, 40, 250, 180), (60, 20), (("crop", 50, 40, 250, 180), ("crop", 0, 0, 60, 20))),
        # trim_br.png (trim box 100,100,300,200): 10x10:110x60 becomes 0x0:10x0 → empty,
        # ignored → 200x100 (Thumbor: only the trim crop).
        ("trim/10x10:110x60", Box(100, 100, 300, 200), (200, 100), (("crop", 100, 100, 300, 200),)),
        # 200x140 into fit-in 100x100: 100 x round(140*100/200) = 100x70 (Thumbor: resize 100.0, 70).
        ("trim:5/fit-in/100x100", Box(50, 40, 250, 180), (100, 70), (("crop", 50, 40, 250, 180), ("resize", 100, 70))),
        # 200x100 at 100x0: 100 x round(100*100/200) = 100x50 (Thumbor: resize 100.0, 50.0).
        ("trim/100x0", Box(100, 100, 300, 200), (100, 50), (("crop", 100, 100, 300, 200), ("resize", 100, 50))),
    ],
)
def test_trim_box_then_geometry(options: str, trim: Box, size: tuple[int, int], operations: tuple[Op, ...]) -> None:
    plan = build_plan(parse_path(_path(options, "trim.png")), _facts(400, 300, "png"), trim=trim)
    assert (plan.width, plan.height) == size
    assert _ops(plan) == operations


# --- rounding quirks, by hand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "size", "operations"),
    [
        # Proportional side uses Python's round (half to even): 301*500/1000 = 150.5 → 150.
        # Ratios round(1000/500, 2) = 2.0 and round(301/150, 2) = 2.01 differ, so an auto
        # crop: 301/1000 = 0.301 > 150/500 = 0.3 → full width 1000 x round(1000*150/301) =
        # round(498.3) = 498, top = round(250 - 498/2) = 1 → crop 0,1,1000,499.
        ("301x0", (301, 150), (("crop", 0, 1, 1000, 499), ("resize", 301, 150))),
        # 303*500/1000 = 151.5 → 152 (half to even rounds up here). round(303/152, 2) = 1.99;
        # 0.303 < 152/500 = 0.304 → full height, width ceil(303*500/152) = ceil(996.7) = 997,
        # left = round(500 - 997/2) = round(1.5) = 2 → crop 2,0,999,500.
        ("303x0", (303, 152), (("crop", 2, 0, 999, 500), ("resize", 303, 152))),
        # fit-in adds 1e-5 so .5 rounds up: 1000/301 = 3.32 >= 500/1000 = 0.5, so width 301
        # and height round(500*301/1000 + 1e-5) = round(150.50001) = 151.
        ("fit-in/301x1000", (301, 151), (("resize", 301, 151),)),
        # The centre of mass is floor-divided: the 101x50 manual crop has its centre at
        # 50.5 → 50 (Thumbor's FocalPoint also int()s it). 50/101 < 50/50 → full height,
        # width ceil(50*50/50) = 50, left = round(50 - 25) = 25 (unfloored: round(25.5) = 26).
        ("0x0:101x50/50x50", (50, 50), (("crop", 0, 0, 101, 50), ("crop", 25, 0, 75, 50))),
    ],
)
def test_rounding_quirks(options: str, size: tuple[int, int], operations: tuple[Op, ...]) -> None:
    plan = _plan(options, 1000, 500)
    assert (plan.width, plan.height) == size
    assert _ops(plan) == operations


@pytest.mark.parametrize(
    ("options", "size", "operations"),
    [
        # stretch() skips the auto crop (Thumbor: `if not request.stretch: self.auto_crop()`),
        # so the whole 1000x500 is resized to 300x200.
        ("300x200", (300, 200), (("resize", 300, 200),)),
        # fit-in ignores stretch: 1000/300 >= 500/200 → 300 x round(500*300/1000) = 300x150.
        ("fit-in/300x200", (300, 150), (("resize", 300, 150),)),
    ],
)
def test_stretch(options: str, size: tuple[int, int], operations: tuple[Op, ...]) -> None:
    # The URL parser does not accept stretch() yet, so the call is added to the parsed URL.
    parsed = dataclasses.replace(parse_path(_path(options)), filters=(FilterCall("stretch", ()),))
    plan = build_plan(parsed, _facts(1000, 500))
    assert (plan.width, plan.height) == size
    assert _ops(plan) == operations


# --- EXIF orientation: geometry runs on the display size --------------------------------------

# A 640x480 JPEG stored sideways (orientation 6): displayed 480 wide, 640 high.
ROTATED = SourceFacts(format="jpeg", width=480, height=640, stored_width=640, stored_height=480, orientation=6)


@pytest.mark.parametrize(
    ("options", "size", "operations"),
    [
        # No options: the display size (not the stored 640x480).
        ("", (480, 640), ()),
        # 300 x round(300*640/480) = 300x400 (on the stored size it would be 300x225).
        ("300x0", (300, 400), (("resize", 300, 400),)),
        # 480/300 = 1.6 < 640/300 = 2.13, so height 300 and width round(480*300/640) = 225.
        ("fit-in/300x300", (225, 300), (("resize", 225, 300),)),
        # 300/480 = 0.625 > 200/640 = 0.3125: crop full width 480 x round(480*200/300) = 320,
        # centred: top = 640/2 - 320/2 = 160 → crop 0,160,480,480, then resize 300x200.
        ("300x200", (300, 200), (("crop", 0, 160, 480, 480), ("resize", 300, 200))),
    ],
)
def test_exif_orientation_uses_display_size(options: str, size: tuple[int, int], operations: tuple[Op, ...]) -> None:
    plan = build_plan(parse_path(_path(options)), ROTATED)
    assert (plan.width, plan.height) == size
    assert _ops(plan) == operations


# --- output limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        "100000x100000",  # crop to 1:1, then resize to 100000x100000
        # 1000/8000 * -1 = -0.125 < 500/8000 * -1 = -0.0625, so height 8000 and
        # width round(1000*8000/500) = 16000 > 8192.
        "full-fit-in/8000x8000",
        "8193x100",  # one over the default 8192 wide
        "100x8193",  # one over the default 8192 high
    ],
)
def test_output_over_default_limit_is_refused(options: str) -> None:
    with pytest.raises(OutputTooLarge):
        _plan(options, 1000, 500)


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ("fit-in/100000x100000", (1000, 500)),  # fit-in never upscales: the source size
        ("8192x8192", (8192, 8192)),  # exactly at the limit is allowed
        ("adaptive-fit-in/100000x100000", (1000, 500)),
    ],
)
def test_output_within_default_limit(options: str, size: tuple[int, int]) -> None:
    plan = _plan(options, 1000, 500)
    assert (plan.width, plan.height) == size


SMALL_LIMITS = PlanLimits(max_output_width=300, max_output_height=200)


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ("300x200", (300, 200)),
        ("fit-in/300x300", (300, 150)),  # 300 x round(500*300/1000) = 300x150
        ("200x0", (200, 100)),  # 200 x round(200*500/1000)
    ],
)
def test_custom_limits_allow(options: str, size: tuple[int, int]) -> None:
    plan = _plan(options, 1000, 500, limits=SMALL_LIMITS)
    assert (plan.width, plan.height) == size


@pytest.mark.parametrize(
    "options",
    [
        "301x200",
        "300x201",
        "0x200",  # round(200*1000/500) = 400 wide
        "fit-in/400x400",  # 400 x round(500*400/1000) = 400x200
        "full-fit-in/300x200",  # 1000/300*-1 = -3.33 < 500/200*-1 = -2.5 → round(1000*200/500) = 400 x 200
    ],
)
def test_custom_limits_refuse(options: str) -> None:
    with pytest.raises(OutputTooLarge):
        _plan(options, 1000, 500, limits=SMALL_LIMITS)


# --- debug: draws the focal point, skips auto crop, fit, resize and flips ----------------------


@pytest.mark.parametrize(
    ("options", "size", "operations"),
    [
        ("debug/300x200", (1000, 500), ()),
        ("debug/-300x-200", (1000, 500), ()),
        ("debug/fit-in/300x200", (1000, 500), ()),
        ("debug/100000x100000", (1000, 500), ()),  # no geometry, so no size refusal either
        # Thumbor's img_operation_worker applies the manual crop before its debug branch.
        ("debug/10x10:410x210/300x200", (400, 200), (("crop", 10, 10, 410, 210),)),
    ],
)
def test_debug_skips_geometry(options: str, size: tuple[int, int], operations: tuple[Op, ...]) -> None:
    plan = _plan(options, 1000, 500)
    assert plan.debug
    assert (plan.width, plan.height) == size
    assert plan.auto_crop is None
    assert plan.resize is None
    assert not plan.flip_horizontal
    assert not plan.flip_vertical
    assert _ops(plan) == operations


# --- output format and quality -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_format", "has_alpha", "options", "expected"),
    [
        ("jpeg", False, "", "jpeg"),
        ("png", False, "", "png"),
        ("png", True, "", "png"),
        ("tiff", True, "", "png"),  # no TIFF output: alpha needs PNG
        ("tiff", False, "", "jpeg"),
        ("jpeg", False, "filters:format(webp)", "webp"),
        ("jpeg", False, "filters:format(jpg)", "jpeg"),
        ("png", False, "filters:format(JPG)", "jpeg"),
        ("jpeg", False, "filters:format(avif)", "avif"),
        ("jpeg", False, "filters:format(gif)", "gif"),
        # Thumbor 7.8.0 returned image/png for /300x200/filters:format(png)/<jpeg>.
        ("jpeg", False, "300x200/filters:format(png)", "png"),
        ("jpeg", False, "filters:format(png):format(webp)", "webp"),  # the last call wins
    ],
)
def test_output_format(source_format: str, has_alpha: bool, options: str, expected: str) -> None:
    plan = build_plan(parse_path(_path(options)), _facts(1000, 500, source_format, has_alpha))
    assert plan.output.format == expected


MIMES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif", "avif": "image/avif"}


@pytest.mark.parametrize("fmt", sorted(MIMES))
def test_output_mime(fmt: str) -> None:
    plan = _plan(f"filters:format({fmt})", 1000, 500)
    assert plan.output.mime == MIMES[fmt]


QUALITIES = Qualities(jpeg=71, webp=62, avif=43)


@pytest.mark.parametrize(
    ("source_format", "options", "quality"),
    [
        ("jpeg", "", 71),
        ("jpeg", "filters:format(webp)", 62),
        ("jpeg", "filters:format(avif)", 43),
        ("png", "", None),  # lossless: no quality
        ("jpeg", "filters:format(gif)", None),
        ("jpeg", "filters:quality(55)", 55),
        ("jpeg", "filters:quality(55):format(webp)", 55),
        ("jpeg", "300x200/filters:quality(50)", 50),
        ("jpeg", "filters:quality(10):quality(90)", 90),  # the last call wins
    ],
)
def test_output_quality(source_format: str, options: str, quality: int | None) -> None:
    plan = build_plan(parse_path(_path(options)), _facts(1000, 500, source_format), qualities=QUALITIES)
    assert plan.output.quality == quality


def test_default_qualities() -> None:
    assert _plan("", 1000, 500).output.quality == 80
    assert _plan("filters:format(webp)", 1000, 500).output.quality == 80
    assert _plan("filters:format(avif)", 1000, 500).output.quality == 50
