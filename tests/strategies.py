"""Hypothesis strategies for URL fuzzing: random text, percent-encoding, grammar-aware paths."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import strategies as st

OPTION_SEGMENTS = [
    "unsafe", "debug", "meta", "trim", "trim:top-left", "trim:bottom-right:10", "trim:99999",
    "10x10:200x150", "0x0:0x0", "99999999x1:2x3", "fit-in", "full-fit-in", "adaptive-fit-in",
    "adaptive-full-fit-in", "300x200", "-300x-200", "x", "-x-", "origxorig", "0x0", "99999999x99999999",
    "left", "center", "right", "top", "middle", "bottom", "smart", "", "filters:", "filters:quality(80)",
    "filters:format(webp)", "filters:quality(80):format(png)", "filters:blur(2):grayscale()",
    "filters:watermark(a.jpg,10,10,50)", "filters:fill(auto)", "filters:round_corner(20|10,0,0,0)",
    "filters:curve([(0,0),(255,255)],[(0,0)],[(0,0)],[(0,0)])", "filters:convolution(1;2;1;2;4;2;1;2;1,3,true)",
]
KEYS = ["a.jpg", "missing.jpg", "../a.jpg", "%2e%2e/a.jpg", "..%2fa.jpg", "%00", "a.jpg%00.png", "sub/../a.jpg"]


def _parens() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(["", "1", "-2", "1.5", "abc", "ff0000", "true", "'q,t'", "[(0,0)]", "%29", "%28"])
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a: f"({a})", inner),
            st.builds(lambda a: f"({a}", inner),  # unbalanced
            st.builds(lambda a: f"{a})", inner),
            st.builds(lambda a, b: f"{a},{b}", inner, inner),
            st.builds(lambda a, b: f"[{a}]{b}", inner, inner),
        ),
        max_leaves=12,
    )


def filter_strings() -> st.SearchStrategy[str]:
    name = st.sampled_from(["quality", "format", "blur", "fill", "watermark", "curve", "rotate", "x", "", "a" * 70])
    call = st.builds(lambda n, a: f"{n}{a}", name, _parens())
    return st.lists(call, min_size=1, max_size=6).map(lambda calls: "filters:" + ":".join(calls))


def percent_encoded() -> st.SearchStrategy[str]:
    return st.binary(max_size=24).map(lambda raw: "".join(f"%{byte:02X}" for byte in raw))


def numbers() -> st.SearchStrategy[str]:
    big = st.integers(min_value=0, max_value=10**30).map(str)
    sign = st.sampled_from(["", "-"])
    return st.builds(lambda a, b, fa, fb: f"{fa}{a}x{fb}{b}", big, big, sign, sign)


def grammar_paths() -> st.SearchStrategy[str]:
    segment = st.one_of(
        st.sampled_from(OPTION_SEGMENTS),
        filter_strings(),
        percent_encoded(),
        numbers(),
        st.text(max_size=12),
    )
    head = st.sampled_from(["unsafe", "unsafe", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "x"])
    return st.builds(
        lambda h, segs, key: "/" + "/".join([h, *segs, key]),
        head,
        st.lists(segment, max_size=8),
        st.sampled_from(KEYS) | st.text(max_size=20),
    )


def any_paths() -> st.SearchStrategy[str]:
    return st.one_of(grammar_paths(), st.text(max_size=300).map(lambda t: "/" + t))


def on_the_wire(path: str) -> str:
    """What an HTTP client can send: non-ASCII and controls percent-encoded, the rest as is."""
    return quote(path, safe="/%:()!$&'*+,;=@[]~-._|")
