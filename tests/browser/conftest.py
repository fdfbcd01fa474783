"""Browser fixtures: the real server as a process, Debian's Chromium driven by Playwright.

The browser is never downloaded: Playwright launches ``/usr/bin/chromium`` (Debian's package,
installed by ``.ci/browser-setup``, which ``make test`` runs) through ``executable_path``.
When it is missing the tests FAIL with instructions; they never skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import clean_env, running

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("IMGSERVER_CHROMIUM", "/usr/bin/chromium")
TOKEN = "console-test-token"
SIGNING_KEY = "console-test-signing-key"
MAX_UPLOAD = 500_000
# Chromium's own background services would try the network, which is closed here.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Server:
    url: str
    data: Path
    log: Path


@dataclass
class PageLog:
    """What the page did that no test should ever see."""

    foreign_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}, so the browser tests cannot run. "
            "`make test` runs .ci/browser-setup, which installs Debian's chromium with apt-get "
            "(as root or with password-less sudo); it printed why it could not. Install it "
            "(`apt-get install -y chromium`) or point IMGSERVER_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: str):  # type: ignore[no-untyped-def]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: run `make setup` (it is a test extra)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh `imgserver serve` with the upload API on, empty stores, signed URLs only."""
    data = tmp_path / "data"
    (data / "originals").mkdir(parents=True)
    env = clean_env(
        IMGSERVER_UPLOAD_ENABLED="true",
        IMGSERVER_UPLOAD_TOKENS=f"editor:{TOKEN}",
        IMGSERVER_UPLOAD_MAX_BYTES=str(MAX_UPLOAD),
        IMGSERVER_STORAGE_ROOT=str(data),
        IMGSERVER_FILE_ROOT=str(data / "originals"),
        IMGSERVER_SECURITY_KEYS=SIGNING_KEY,
        IMGSERVER_SECURITY_ALLOW_UNSAFE="false",
        IMGSERVER_IMAGING_THREADS="2",
    )
    log = tmp_path / "server.log"
    with log.open("w") as log_file, running(env=env, stderr=log_file) as (_, base):
        yield Server(base, data, log)


def _watch(page, origin: str) -> PageLog:  # type: ignore[no-untyped-def]
    seen = PageLog()

    def on_request(request) -> None:  # type: ignore[no-untyped-def]
        if not request.url.startswith((origin + "/", "data:", "blob:")):
            seen.foreign_requests.append(request.url)

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            seen.csp_violations.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    return seen


def _open(browser, server: Server, **context_options: object):  # type: ignore[no-untyped-def]
    context = browser.new_context(**context_options)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    return context, page, _watch(page, server.url)


@pytest.fixture
def page(browser, server: Server):  # type: ignore[no-untyped-def]
    """A desktop-sized page; after the test: no third-party request, no CSP violation, no
    uncaught script error."""
    context, page, seen = _open(browser, server, viewport={"width": 1200, "height": 900})
    yield page
    context.close()
    assert seen.foreign_requests == []
    assert seen.csp_violations == []
    assert seen.page_errors == []


@pytest.fixture
def phone(browser, server: Server):  # type: ignore[no-untyped-def]
    """A phone-sized touch page (390 x 844 CSS pixels, 3x), with the same checks."""
    context, page, seen = _open(
        browser, server, viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    yield page
    context.close()
    assert seen.foreign_requests == []
    assert seen.csp_violations == []
    assert seen.page_errors == []


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
