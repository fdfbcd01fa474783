"""Fuzzing the pure grammar: any text either parses or is a 400 — never another error."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from imgserver.errors import BadRequest
from imgserver.plan.preload import extract_focal
from imgserver.url.grammar import parse_path
from tests.strategies import any_paths, filter_strings


@settings(max_examples=800, deadline=None, derandomize=True)
@given(any_paths())
def test_parse_path_only_fails_with_400(path: str) -> None:
    try:
        parsed = parse_path(path)
    except BadRequest:
        return
    assert parsed.image


@settings(max_examples=500, deadline=None, derandomize=True)
@given(filter_strings())
def test_filter_strings(text: str) -> None:
    try:
        parse_path(f"/unsafe/{text}/a.jpg")
    except BadRequest:
        pass


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=200))
def test_extract_focal_never_raises(key: str) -> None:
    extract_focal(key)


def test_10kb_hostile_filter_strings_parse_fast() -> None:
    for text in (
        "filters:" + "(" * 10_000,
        "filters:quality(" + "1," * 5_000 + ")",
        "filters:" + "blur(1):" * 1_200 + "blur(1)",
        "filters:curve(" + "[" * 5_000 + "]" * 5_000 + ")",
        "filters:watermark('" + "a" * 10_000,
    ):
        started = time.perf_counter()
        try:
            parse_path(f"/unsafe/{text}/a.jpg")
        except BadRequest:
            pass
        assert time.perf_counter() - started < 0.5, text[:40]
