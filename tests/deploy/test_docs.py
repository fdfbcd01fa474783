"""docs/deploy.md: the signing snippets a site's backend would copy produce imgserver's
signatures, and the README points at the guide."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgserver.url.signing import signed_path

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"
KEY = "a-backend-signing-key"
CDN = "https://d111111abcdef8.cloudfront.net"


def snippet(name: str) -> str:
    """The fenced code block right after ``<!-- tested: NAME ... -->`` in the guide."""
    match = re.search(
        rf"<!-- tested: {re.escape(name)}\b[^>]*-->\n```\w+\n(.*?)\n```", GUIDE.read_text(encoding="utf-8"), re.DOTALL
    )
    assert match, f"docs/deploy.md has no tested snippet {name}"
    return match.group(1)


def expected() -> str:
    return CDN + signed_path(KEY, "300x200/smart/photos/doctor.jpg")


def run_snippet(cmd: list[str]) -> str:
    env = {**os.environ, "IMGSERVER_SIGNING_KEY": KEY}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_python_snippet_signs_like_imgserver() -> None:
    assert run_snippet([sys.executable, "-c", snippet("sign-python")]) == expected()


def test_node_snippet_signs_like_imgserver() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node snippet is checked by eye only")
    assert run_snippet([node, "-e", snippet("sign-node")]) == expected()


def test_readme_links_the_deployment_guide() -> None:
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
