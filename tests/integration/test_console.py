"""GET /console over a socket: the static files, their security headers, and the batch form of
POST /api/sign the gallery uses. (The console itself is driven in Chromium in tests/browser.)"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from imgserver.handlers.console import WEB_ROOT
from imgserver.settings import Settings
from imgserver.url.signing import signed_path
from tests.integration.conftest import TEST_KEY, make_settings

pytestmark = pytest.mark.integration

ALICE = {"Authorization": "Bearer alice-secret-1"}
CSP_DIRECTIVES = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "originals").mkdir()
    return make_settings(
        tmp_path / "originals",
        upload__enabled=True,
        upload__tokens=["alice:alice-secret-1"],
        storage__root=str(tmp_path),
    )


def assert_secure(headers) -> None:  # type: ignore[no-untyped-def]
    policy = [part.strip() for part in headers["Content-Security-Policy"].split(";")]
    for directive in CSP_DIRECTIVES:
        assert directive in policy
    assert not any("unsafe-inline" in part or "unsafe-eval" in part for part in policy)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


class _Markup(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.assets: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            self._in_script = True
            if not values.get("src"):
                self.problems.append("inline <script>")
        for attribute in ("src", "href"):
            value = values.get(attribute) or ""
            if value.startswith("/console/"):
                self.assets.append(value)
            elif value.startswith(("http:", "https:", "//")):
                self.problems.append(f"third-party {value}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline script text")


@pytest.mark.gen_test
async def test_console_page_and_assets(fetch) -> None:
    for path in ("/console", "/console/", "/console/index.html"):
        page = await fetch(path)
        assert page.code == 200, path
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert page.headers["Cache-Control"] == "no-cache"
        assert_secure(page.headers)
    markup = _Markup()
    markup.feed(page.body.decode())
    assert markup.problems == []
    assert {"/console/app.js", "/console/console.css", "/console/icon.svg"} <= set(markup.assets)

    again = await fetch("/console", headers={"If-None-Match": page.headers["ETag"]})
    assert again.code == 304

    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    shipped = sorted(p for p in WEB_ROOT.iterdir() if p.suffix in types)
    assert len([p for p in shipped if p.suffix == ".js"]) >= 5
    for file in shipped:
        answer = await fetch(f"/console/{file.name}")
        assert answer.code == 200, file.name
        assert answer.headers["Content-Type"] == types[file.suffix]
        assert answer.body == file.read_bytes()
        assert_secure(answer.headers)
        text = file.read_text()
        if file.suffix == ".js":
            # Text goes into the page as text; nothing is evaluated.
            unsafe = r"\.(inner|outer)HTML\s*=|insertAdjacentHTML\(|document\.write\(|\beval\(|new Function\("
            assert not re.search(unsafe, text), file.name
        if file.suffix in (".js", ".css"):
            assert not re.search(r"(?<![\\\w])(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), f"{file.name} names a host"
    head = await fetch("/console/app.js", method="HEAD")
    assert head.code == 200
    assert int(head.headers["Content-Length"]) == (WEB_ROOT / "app.js").stat().st_size


@pytest.mark.parametrize(
    "path",
    ["/console/nope.js", "/console/..%2Fapp.py", "/console/%2e%2e%2fsetup.cfg", "/console/App.js", "/console/x/app.js"],
)
@pytest.mark.gen_test
async def test_unknown_console_paths_are_404(fetch, path: str) -> None:
    answer = await fetch(path)
    assert answer.code in (403, 404), (path, answer.code)  # 403: a non-console path is an image URL
    if path.startswith("/console/") and "/" not in path[len("/console/") :]:
        assert answer.code == 404
        assert_secure(answer.headers)


@pytest.mark.gen_test
async def test_console_is_off_without_the_upload_api(http_client, base_url, state) -> None:  # type: ignore[no-untyped-def]
    state.settings = make_settings(Path(state.settings.file.root))  # upload.enabled = false
    for path in ("/console", "/console/app.js"):
        answer = await http_client.fetch(base_url + path, raise_error=False)
        assert answer.code == 404, path


@pytest.mark.gen_test
async def test_sign_many_paths_at_once(fetch) -> None:
    paths = ["fit-in/400x300/a.jpg", "/300x200/smart/b/c.png", "meta/600x0/d.jpg"]
    answer = await fetch("/api/sign", method="POST", body=json.dumps({"paths": paths}), headers=ALICE)
    assert answer.code == 200
    assert json.loads(answer.body) == {"urls": [signed_path(TEST_KEY, p.lstrip("/")) for p in paths]}
    for body, words in (
        ({"paths": []}, "1..200"),
        ({"paths": ["x.jpg"] * 201}, "1..200"),
        ({"paths": "x.jpg"}, "1..200"),
        ({"paths": ["ok.jpg", ""]}, "1..4096"),
        ([], "send JSON"),
    ):
        refused = await fetch("/api/sign", method="POST", body=json.dumps(body), headers=ALICE)
        assert refused.code == 400, body
        assert words in refused.body.decode()
    assert (await fetch("/api/sign", method="POST", body=json.dumps({"paths": paths}))).code == 401
