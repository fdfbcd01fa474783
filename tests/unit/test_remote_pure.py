"""Pure pieces of issue 4: SSRF address table, URL allow-list, format sniffing, cache
names, single-flight, and the new settings' checks."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from imgserver.plan.keys import expected_format, result_path
from imgserver.plan.sniff import sniff_format
from imgserver.settings import SettingsError, load_settings
from imgserver.singleflight import Abandonment, SingleFlight
from imgserver.sources.addresses import is_allowed
from imgserver.sources.http import is_source_allowed, source_url
from imgserver.url.grammar import parse_path
from tests import images

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "allowed", "with_loopback"),
    [
        ("93.184.216.34", True, True),
        ("2606:4700::1111", True, True),
        ("::ffff:93.184.216.34", True, True),
        ("10.1.2.3", False, False),
        ("172.16.0.1", False, False),
        ("192.168.0.1", False, False),
        ("169.254.169.254", False, False),  # cloud metadata
        ("100.64.0.1", False, False),  # CGNAT
        ("224.0.0.251", False, False),
        ("0.0.0.0", False, False),
        ("255.255.255.255", False, False),
        ("240.0.0.1", False, False),  # reserved
        ("127.0.0.1", False, True),
        ("127.8.9.10", False, True),
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("::ffff:10.0.0.1", False, False),
        ("::ffff:169.254.169.254", False, False),
        ("64:ff9b::a00:1", False, False),  # NAT64 of 10.0.0.1
        ("2002:a00:1::1", False, False),  # 6to4 of 10.0.0.1
        ("fe80::1%eth0", False, False),
        ("fc00::1", False, False),
        ("ff02::1", False, False),
        ("::", False, False),
        ("not-an-ip", False, False),
    ],
)
def test_address_table(address: str, allowed: bool, with_loopback: bool) -> None:
    assert is_allowed(address) is allowed
    assert is_allowed(address, allow_loopback=True) is with_loopback


@pytest.mark.parametrize(
    ("url", "patterns", "allowed"),
    [
        ("http://img.example.org/a.jpg", ("img.example.org",), True),
        ("https://IMG.example.org:8443/a.jpg", ("img.example.org",), True),
        ("http://img.example.org:81/a.jpg", ("img.example.org:81",), True),
        ("http://img.example.org:82/a.jpg", ("img.example.org:81",), False),
        ("http://img.example.org.evil.net/a.jpg", ("img.example.org",), False),
        ("http://evil.net/img.example.org/a.jpg", ("img.example.org",), False),
        ("https://cdn.example.org/p/a.jpg", (r"^https://cdn\.example\.org/p/.*$",), True),
        ("https://cdn.example.org.evil.net/p/a.jpg", (r"^https://cdn\.example\.org/p/.*$",), False),
        ("http://user:pw@img.example.org/a.jpg", ("img.example.org",), False),
        ("ftp://img.example.org/a.jpg", ("img.example.org",), False),
        ("http://img.example.org/a.jpg", (), False),
        ("http://[::1/a.jpg", ("img.example.org",), False),
    ],
)
def test_allowed_sources(url: str, patterns: tuple[str, ...], allowed: bool) -> None:
    assert is_source_allowed(url, patterns) is allowed


def test_source_url() -> None:
    assert source_url("img.example.org/a b.jpg", "http") == "http://img.example.org/a%20b.jpg"
    assert source_url("https://img.example.org/ü.jpg", "http") == "https://img.example.org/%C3%BC.jpg"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (images.jpeg(8, 8), "jpeg"),
        (images.png(8, 8), "png"),
        (b"GIF89a" + b"\0" * 10, "gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "webp"),
        (b"II*\0" + b"\0" * 8, "tiff"),
        (b"\0\0\0\x1cftypavif\0\0\0\0", "heif"),
        (b"hello", None),
        (b"", None),
    ],
)
def test_sniff(data: bytes, fmt: str | None) -> None:
    assert sniff_format(data[:64]) == fmt


def test_cache_names() -> None:
    plain = parse_path("/unsafe/300x200/photos/a.jpg")
    webp = parse_path("/unsafe/300x200/filters:format(webp)/photos/a.jpg")
    assert expected_format(plain, (), "jpeg") == "jpeg"
    assert expected_format(plain, ("avif", "webp"), "jpeg") == "avif"  # negotiation pins it
    assert expected_format(webp, ("avif",), "png") == "webp"  # format() beats negotiation
    assert expected_format(plain, (), "tiff") is None  # PNG or JPEG depending on alpha: not cached
    assert expected_format(plain, ("avif",), "gif") is None  # WebP if animated, AVIF if not
    assert expected_format(plain, ("webp",), "gif") == "webp"
    assert expected_format(plain, (), "png", auto_png_to_jpg=True) is None  # depends on alpha
    assert result_path("photos/a.jpg", "ab12", "jpeg") == "photos/a.jpg/ab12.jpg"
    assert result_path("http://h:81/a.jpg", "ab12", "webp") == "http/h:81/a.jpg/ab12.webp"
    for bad in ("", "../a.jpg", "a//b.jpg", "/etc/passwd", "a\\b", "a/./b", "a\0b"):
        assert result_path(bad, "ab12", "jpeg") is None, bad
    assert result_path("a" * 1100, "ab12", "jpeg") is None


def test_single_flight_shares_results_and_errors() -> None:
    async def scenario() -> None:
        flight: SingleFlight[int] = SingleFlight()
        calls = 0
        gate = asyncio.Event()

        async def work(abandoned: Abandonment) -> int:
            nonlocal calls
            calls += 1
            await gate.wait()
            return 42

        waiters = [asyncio.ensure_future(flight.do("k", work)) for _ in range(5)]
        await asyncio.sleep(0)
        assert flight.waiting("k") == 5
        gate.set()
        assert await asyncio.gather(*waiters) == [42] * 5
        assert (calls, flight.started, flight.joined, flight.waiting("k")) == (1, 1, 4, 0)

        async def fail(abandoned: Abandonment) -> int:
            await asyncio.sleep(0)
            raise ValueError("boom")

        results = await asyncio.gather(flight.do("e", fail), flight.do("e", fail), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        assert await flight.do("k", work) == 42 and calls == 2  # a finished flight is not reused

        # A caller that is cancelled does not cancel the work for the others.
        gate.clear()
        first = asyncio.ensure_future(flight.do("c", work))
        second = asyncio.ensure_future(flight.do("c", work))
        await asyncio.sleep(0)
        first.cancel()
        gate.set()
        assert await second == 42

    asyncio.run(scenario())


def test_a_landed_flight_lingers_for_stragglers_but_not_its_failures() -> None:
    """Requests parsed just after a fast render landed share it (linger); errors never do."""

    async def scenario() -> None:
        flight: SingleFlight[int] = SingleFlight(linger=0.05)
        calls = 0

        async def work(abandoned: Abandonment) -> int:
            nonlocal calls
            calls += 1
            return calls

        assert await flight.do("k", work) == 1
        assert flight.joinable("k")
        assert await flight.do("k", work) == 1  # landed moments ago: joined, not rerun
        await asyncio.sleep(0.1)
        assert not flight.joinable("k")
        assert await flight.do("k", work) == 2  # after the linger: a new flight
        assert (flight.started, flight.joined) == (2, 1)

        async def fail(abandoned: Abandonment) -> int:
            nonlocal calls
            calls += 1
            raise ValueError("boom")

        for _ in range(2):
            with pytest.raises(ValueError, match="boom"):
                await flight.do("e", fail)
        assert not flight.joinable("e") and calls == 4  # each failure ran: nothing reused

        picky: SingleFlight[int] = SingleFlight(linger=30, lingers=lambda value: value % 2 == 0)
        assert await picky.do("odd", work) == 5 and not picky.joinable("odd")  # not kept
        assert await picky.do("even", work) == 6 and picky.joinable("even")

    asyncio.run(scenario())


def test_abandonment_needs_every_caller_gone() -> None:
    """A shared render is skipped only when every client of the flight disconnected."""
    first, second = threading.Event(), threading.Event()
    abandonment = Abandonment()
    abandonment.add(first)
    abandonment.add(second)
    assert not abandonment.is_set()
    first.set()
    assert not abandonment.is_set()
    second.set()
    assert abandonment.is_set()
    abandonment.add(None)  # a caller that cannot disconnect keeps it alive
    assert not abandonment.is_set()


def test_remote_settings_are_checked(tmp_path: Path) -> None:
    env = {
        "IMGSERVER_FILE_ROOT": str(tmp_path),
        "IMGSERVER_SECURITY_KEYS": "k",
        "IMGSERVER_LOADER_KIND": "s3",
        "IMGSERVER_RESULT_CACHE_KIND": "s3",
        "IMGSERVER_S3_MAX_ATTEMPTS": "0",
        "IMGSERVER_S3_ADDRESSING_STYLE": "sideways",
        "IMGSERVER_HTTP_LOADER_ALLOWED_SOURCES": "^https://a\\.org/.*,not a host,^(unclosed$",
        "IMGSERVER_HTTP_LOADER_DEFAULT_SCHEME": "gopher",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(None, environ=env)
    text = str(info.value)
    for expected in (
        "s3.originals_bucket: required",
        "s3.results_bucket: required",
        "s3.max_attempts: must be > 0",
        "s3.addressing_style",
        "must end with $",
        "neither a host nor",
        "not a valid regex",
        "http_loader.default_scheme",
    ):
        assert expected in text, text


def test_remote_settings_from_env(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        environ={
            "IMGSERVER_FILE_ROOT": str(tmp_path),
            "IMGSERVER_SECURITY_KEYS": "k",
            "IMGSERVER_LOADER_KIND": "http",
            "IMGSERVER_HTTP_LOADER_ALLOWED_SOURCES": "a.org, b.org:8080",
            "IMGSERVER_HTTP_LOADER_REQUEST_TIMEOUT": "3.5",
            "IMGSERVER_RESULT_CACHE_KIND": "file",
            "IMGSERVER_RESULT_CACHE_TTL": "600",
            "IMGSERVER_RESULT_CACHE_ROOT": str(tmp_path / "results"),
        },
    )
    assert settings.http_loader.allowed_sources == ("a.org", "b.org:8080")
    assert settings.http_loader.request_timeout == 3.5
    assert settings.result_cache.ttl == 600
