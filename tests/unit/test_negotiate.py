"""Accept parsing and format negotiation (pure)."""

from __future__ import annotations

import pytest

from imgserver.plan.negotiate import NegotiationSettings, accepted_formats, negotiable, parse_accept, variant
from imgserver.url.grammar import parse_path

BOTH = NegotiationSettings(auto_webp=True, auto_avif=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, {}),
        ("", {}),
        ("*/*", {"*/*": 1.0}),
        ("image/webp;q=0.5, image/avif", {"image/webp": 0.5, "image/avif": 1.0}),
        ("IMAGE/WEBP ; Q=0.2", {"image/webp": 0.2}),
        ("image/webp;q=abc", {"image/webp": 0.0}),
        ("image/webp;q=7", {"image/webp": 1.0}),
        ("garbage, , ;;, image/png", {"image/png": 1.0}),
        ("image/webp;level=1;q=0.3", {"image/webp": 0.3}),
    ],
)
def test_parse_accept(header: str | None, expected: dict[str, float]) -> None:
    assert parse_accept(header) == expected


@pytest.mark.parametrize(
    ("header", "settings", "expected"),
    [
        ("image/avif,image/webp,*/*", BOTH, ("avif", "webp")),
        ("image/avif,image/webp,*/*", NegotiationSettings(True, True, ("webp", "avif")), ("webp", "avif")),
        ("image/avif,image/webp,*/*", NegotiationSettings(auto_webp=True), ("webp",)),
        ("image/avif,image/webp,*/*", NegotiationSettings(), ()),
        ("image/webp;q=0,*/*", BOTH, ()),
        ("*/*", BOTH, ()),
        ("image/*", BOTH, ()),
        (None, BOTH, ()),
        ("image/avif;q=0.1", BOTH, ("avif",)),
        ("image/webp," * 2000, BOTH, ("webp",)),
    ],
)
def test_accepted_formats(header: str | None, settings: NegotiationSettings, expected: tuple[str, ...]) -> None:
    assert accepted_formats(header, settings) == expected


def test_negotiable_only_without_explicit_format() -> None:
    assert negotiable(parse_path("/unsafe/10x10/a.jpg"), BOTH)
    assert not negotiable(parse_path("/unsafe/filters:format(png)/a.jpg"), BOTH)
    assert not negotiable(parse_path("/unsafe/10x10/a.jpg"), NegotiationSettings())


def test_variant_is_order_sensitive_text() -> None:
    assert variant(("avif", "webp")) == "avif,webp"
    assert variant(()) == ""
