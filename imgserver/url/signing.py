"""URL signatures exactly as Thumbor and libthumbor compute them. PURE.

signature = urlsafe-base64(HMAC-SHA1(key, path-after-signature)), ``=`` padding kept. The
signed text is the path after ``/<signature>/`` as the client sent it (still
percent-encoded), so libthumbor URLs verify unchanged. Several keys verify (rotation);
the first one signs. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import unquote

from imgserver.errors import Forbidden


def sign(key: str, path: str) -> str:
    """The signature of ``path`` (no leading slash), e.g. ``300x200/smart/a.jpg``."""
    digest = hmac.new(key.encode("utf-8"), path.encode("utf-8"), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def signed_path(key: str, path: str) -> str:
    """``/<signature>/<path>`` for a path given with or without its leading slash."""
    path = path.lstrip("/")
    return f"/{sign(key, path)}/{path}"


def verify(keys: Sequence[str], signature: str, path: str) -> None:
    """Raise Forbidden unless ``signature`` signs ``path`` with one of ``keys``.

    Every key is tried (no early exit) so timing says nothing about which key matched."""
    given = unquote(signature).encode("ascii", "replace")
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(sign(key, path).encode("ascii"), given)
    if not ok:
        raise Forbidden("invalid signature")
