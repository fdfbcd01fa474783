"""Thumbor filter tokens and the registry of their argument kinds. PURE.

``filters:quality(80):format(webp)`` → ``(FilterCall("quality", (80,)), FilterCall("format",
("webp",)))``. Each filter declares its parameters once, in :data:`REGISTRY`, with Thumbor's
argument kinds (PositiveNumber, Number, DecimalNumber, Boolean, String, or a filter-specific
pattern) plus our range checks. Deliberate differences from Thumbor: an unknown filter or a
malformed argument is a 400 naming the filter (Thumbor silently ignores them), and trailing
text after a call's ``)`` is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise

from imgserver.errors import FilterError
from imgserver.url.colors import parse_color

FilterArg = int | float | bool | str


class Phase(Enum):
    """When Thumbor runs a filter: before loading, right after loading, or after geometry."""

    PRE_LOAD = "pre-load"
    AFTER_LOAD = "after-load"
    POST_TRANSFORM = "post-transform"


@dataclass(frozen=True)
class Kind:
    """An argument kind: a full-match pattern and a converter."""

    name: str
    pattern: re.Pattern[str]
    convert: Callable[[str], FilterArg]


def _kind(name: str, pattern: str, convert: Callable[[str], FilterArg] = str) -> Kind:
    return Kind(name, re.compile(pattern), convert)


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


# Thumbor's BaseFilter kinds (thumbor/filters/__init__.py), bounded in length.
POSITIVE = _kind("a non-negative integer", r"\d{1,9}", int)
POSITIVE_NONZERO = _kind("a positive integer", r"0*[1-9]\d{0,8}", int)
NUMBER = _kind("an integer", r"-?\d{1,9}", int)
DECIMAL = _kind("a number", r"-?(?:\d{1,9}(?:\.\d{0,9})?|\.\d{1,9})", float)
BOOLEAN = _kind("true or false", r"[Tt]rue|[Ff]alse|1|0", lambda v: v in ("true", "True", "1"))
STRING = _kind("a string", r"'[^']+'|[^,']+", _unquote)
def _colour(value: str) -> str:
    parse_color(value)  # raises ValueError: not a colour
    return value.lower()


def _fill_colour(value: str) -> str:
    return value.lower() if value.lower() in ("auto", "blur") else _colour(value)


COLOR = _kind("a colour name, hex or transparent", r"#?\w{1,64}", _colour)
FILL_COLOR = _kind("a colour, auto, blur or transparent", r"#?\w{1,64}", _fill_colour)
FORMAT = _kind("jpeg, jpg, png, webp, gif or avif", r"(?i:jpeg|jpg|png|webp|gif|avif)", str.lower)
MATRIX = _kind("numbers separated by ';'", r"-?\d{1,9}(?:\.\d{0,9})?(?:;-?\d{1,9}(?:\.\d{0,9})?){0,440}")
CURVE = _kind("a list like [(0,0),(255,255)]", r"\[(?:\(\d{1,3},\d{1,3}\),?){0,256}\]")
RADII = _kind("a radius or 'a|b'", r"\d{1,9}(?:\|\d{1,9})?")
POSITION = _kind("an offset, Np, center or repeat", r"-?\d{1,9}p?|center|repeat")
RATIO = _kind("a percentage or none", r"-?\d{1,9}|none")


# Cross-argument checks, run at parse time so a bad URL is refused before any loading.

_POINT = re.compile(r"\((\d+),(\d+)\)")


def parse_curve(text: str) -> list[tuple[int, int]]:
    """``[(0,0),(128,150),(255,255)]`` → control points. Raises FilterError unless there is at
    least one point, every coordinate is 0..255 and x strictly increases."""
    points = [(int(x), int(y)) for x, y in _POINT.findall(text)]
    if not points:
        raise FilterError("filter curve: a curve needs at least one point")
    # Deliberate difference: Thumbor wraps coordinates above 255 and divides by zero on equal or
    # decreasing x; both are refused here.
    if any(not (0 <= x <= 255 and 0 <= y <= 255) for x, y in points):
        raise FilterError("filter curve: coordinates must be in 0..255")
    if any(b[0] <= a[0] for a, b in pairwise(points)):
        raise FilterError("filter curve: x must increase from point to point")
    return points


def parse_matrix(text: str, columns: int) -> list[list[float]]:
    """``'1;2;1;2;4;2;1;2;1'`` with 3 columns → rows of numbers. Thumbor needs an odd
    number of rows and columns; anything else is a FilterError."""
    items = [float(v) for v in text.split(";")]
    if len(items) % columns or len(items) % 2 == 0 or (len(items) // columns) % 2 == 0:
        raise FilterError(
            f"filter convolution: {len(items)} items in {columns} columns is not an odd-sized rectangle"
        )
    return [items[i : i + columns] for i in range(0, len(items), columns)]


@dataclass(frozen=True)
class Param:
    kind: Kind
    optional: bool = False
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class FilterSpec:
    name: str
    params: tuple[Param, ...]
    phase: Phase = Phase.POST_TRANSFORM
    #: Checks the converted arguments together; raises FilterError.
    check: Callable[[tuple[FilterArg, ...]], object] | None = None


@dataclass(frozen=True)
class FilterCall:
    """One parsed filter call with typed arguments (optional ones omitted when absent)."""

    name: str
    args: tuple[FilterArg, ...] = ()

    def __str__(self) -> str:
        def fmt(a: FilterArg) -> str:
            if isinstance(a, bool):
                return "true" if a else "false"
            return str(a)

        return f"{self.name}({','.join(fmt(a) for a in self.args)})"


def _spec(
    name: str,
    *params: Param,
    phase: Phase = Phase.POST_TRANSFORM,
    check: Callable[[tuple[FilterArg, ...]], object] | None = None,
) -> FilterSpec:
    return FilterSpec(name, params, phase, check)


P = Param
# Thumbor 7.8's built-in filters, with argument kinds from each thumbor/filters/<name>.py.
REGISTRY: dict[str, FilterSpec] = {
    s.name: s
    for s in (
        _spec("autojpg", P(BOOLEAN, optional=True)),
        _spec("background_color", P(COLOR)),
        _spec("blur", P(POSITIVE_NONZERO, hi=150), P(DECIMAL, optional=True, lo=0, hi=150)),
        _spec("brightness", P(NUMBER, lo=-100, hi=100)),
        _spec("colorize", P(POSITIVE, hi=100), P(POSITIVE, hi=100), P(POSITIVE, hi=100), P(COLOR)),
        _spec("contrast", P(NUMBER, lo=-100, hi=100)),
        _spec(
            "convolution",
            P(MATRIX),
            P(POSITIVE_NONZERO, hi=21),
            P(BOOLEAN, optional=True),
            check=lambda a: parse_matrix(str(a[0]), int(a[1])),
        ),
        _spec("cover"),
        _spec("curve", P(CURVE), P(CURVE), P(CURVE), P(CURVE), check=lambda a: [parse_curve(str(v)) for v in a]),
        _spec("equalize"),
        _spec("extract_focal", phase=Phase.PRE_LOAD),
        _spec("fill", P(FILL_COLOR), P(BOOLEAN, optional=True)),
        _spec("focal", P(STRING), phase=Phase.PRE_LOAD),
        _spec("format", P(FORMAT)),
        _spec("frame", P(STRING)),
        _spec("grayscale"),
        _spec("max_age", P(POSITIVE)),
        _spec("max_bytes", P(POSITIVE)),
        _spec("no_upscale", phase=Phase.AFTER_LOAD),
        _spec("noise", P(POSITIVE, hi=100), P(POSITIVE, optional=True)),
        _spec("proportion", P(DECIMAL)),
        _spec("quality", P(POSITIVE, hi=100)),
        _spec("rgb", P(NUMBER, lo=-100, hi=100), P(NUMBER, lo=-100, hi=100), P(NUMBER, lo=-100, hi=100)),
        _spec("rotate", P(NUMBER)),
        _spec(
            "round_corner",
            P(RADII),
            P(POSITIVE, hi=255),
            P(POSITIVE, hi=255),
            P(POSITIVE, hi=255),
            P(BOOLEAN, optional=True),
        ),
        _spec("saturation", P(DECIMAL)),
        _spec("sharpen", P(DECIMAL), P(DECIMAL), P(BOOLEAN)),
        _spec("stretch", phase=Phase.PRE_LOAD),
        _spec("strip_exif"),
        _spec("strip_icc"),
        _spec("upscale"),
        _spec(
            "watermark",
            P(STRING),
            P(POSITION),
            P(POSITION),
            P(POSITIVE, hi=100),
            P(RATIO, optional=True),
            P(RATIO, optional=True),
        ),
    )
}

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
MAX_FILTERS = 32


def _split_calls(text: str) -> list[tuple[str, str]]:
    """Split ``a(x):b(y,z)`` into [(a, "x"), (b, "y,z")] with one linear scan.

    Parentheses and brackets nest inside arguments (``curve([(0,0),(255,255)],…)``) and
    single quotes protect commas, as Thumbor's String kind allows."""
    calls: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        m = _NAME.match(text, i)
        if not m or m.end() >= n or text[m.end()] != "(":
            raise FilterError(f"malformed filter near {text[i:i + 20]!r}")
        name, j = m.group(), m.end() + 1
        depth, quoted, start = 0, False, j
        while j < n:
            c = text[j]
            if c == "'":
                quoted = not quoted
            elif not quoted and c in "([":
                depth += 1
            elif not quoted and c in "])":
                if depth == 0:
                    break
                depth -= 1
            j += 1
        if j >= n or text[j] != ")":
            raise FilterError(f"filter {name}: missing ')'")
        calls.append((name, text[start:j]))
        i = j + 1
        if i < n:
            if text[i] != ":":
                raise FilterError(f"filter {name}: unexpected text after ')'")
            i += 1
            if i == n:
                raise FilterError("empty filter after ':'")
        if len(calls) > MAX_FILTERS:
            raise FilterError(f"too many filters (max {MAX_FILTERS})")
    if not calls:
        raise FilterError("empty filters segment")
    return calls


def _split_args(raw: str) -> list[str]:
    """Split on commas outside brackets and quotes; surrounding spaces are dropped."""
    if not raw.strip():
        return []
    args, depth, quoted, start = [], 0, False, 0
    for j, c in enumerate(raw):
        if c == "'":
            quoted = not quoted
        elif not quoted and c in "([":
            depth += 1
        elif not quoted and c in ")]":
            depth -= 1
        elif c == "," and depth == 0 and not quoted:
            args.append(raw[start:j].strip())
            start = j + 1
    args.append(raw[start:].strip())
    return args


def _in_range(value: float, param: Param) -> bool:
    return (param.lo is None or value >= param.lo) and (param.hi is None or value <= param.hi)


def validate_call(name: str, raw_args: list[str]) -> FilterCall:
    """Check one call against the registry and convert its arguments."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise FilterError(f"unknown filter {name!r}")
    required = sum(1 for p in spec.params if not p.optional)
    if not required <= len(raw_args) <= len(spec.params):
        want = str(required) if required == len(spec.params) else f"{required}-{len(spec.params)}"
        raise FilterError(f"filter {name}: expected {want} argument(s), got {len(raw_args)}")
    values: list[FilterArg] = []
    for index, (raw, param) in enumerate(zip(raw_args, spec.params, strict=False), start=1):
        if not param.kind.pattern.fullmatch(raw):
            raise FilterError(f"filter {name}: argument {index} must be {param.kind.name}")
        try:
            value = param.kind.convert(raw)
        except ValueError:
            raise FilterError(f"filter {name}: argument {index} must be {param.kind.name}") from None
        if isinstance(value, int | float) and not isinstance(value, bool) and not _in_range(value, param):
            raise FilterError(f"filter {name}: argument {index} must be in {param.lo or 0}..{param.hi}")
        values.append(value)
    if spec.check is not None:
        spec.check(tuple(values))
    return FilterCall(name, tuple(values))


def parse_filters(text: str) -> tuple[FilterCall, ...]:
    """Parse the text after ``filters:`` (``quality(80):format(webp)``). Raises FilterError."""
    return tuple(validate_call(name, _split_args(raw)) for name, raw in _split_calls(text))
