"""Signatures: byte-for-byte libthumbor compatibility, verification, rotation, tampering."""

from __future__ import annotations

import random
import string
from typing import Any
from urllib.parse import quote

import pytest
from libthumbor import CryptoURL

from imgserver.errors import Forbidden
from imgserver.url.grammar import parse_path, split_signature
from imgserver.url.signing import sign, signed_path, verify

pytestmark = pytest.mark.unit


def libthumbor_url(key: str, **options: Any) -> tuple[str, str]:
    """(signature, path after it) of a URL made by the real libthumbor client."""
    url = CryptoURL(key=key).generate(**options)
    assert url.startswith("/")
    signature, sep, rest = url[1:].partition("/")
    assert sep
    assert rest
    return signature, rest


# Known answer, computed by libthumbor (CryptoURL(key="k")).
KNOWN_PATH = "300x200/smart/photos/doctor.jpg"
KNOWN_SIG = "HBx_x5TPAbaIsEqtos2mEw61D30="

OPTION_SETS = [
    pytest.param({"width": 300, "height": 200, "smart": True, "image_url": "photos/doctor.jpg"}, id="size-smart"),
    pytest.param({"image_url": "a.jpg"}, id="key-only"),
    pytest.param({"meta": True, "width": 300, "height": 200, "image_url": "a.jpg"}, id="meta"),
    pytest.param({"fit_in": True, "width": 640, "height": 480, "filters": ["format(webp)"],
                  "image_url": "photos/doctor.jpg"}, id="fit-in-filter"),
    pytest.param({"trim": ("bottom-right", 10), "crop": ((1, 2), (30, 40)), "full_fit_in": True, "width": 20,
                  "height": 10, "flip": True, "halign": "left", "valign": "top",
                  "filters": ["quality(80)", "format(png)"], "image_url": "x/y.png"}, id="many-options"),
    pytest.param({"width": 300, "image_url": quote("photos/clinic rotated.jpg")}, id="encoded-space"),
    pytest.param({"width": 300, "image_url": quote("fotos/café ß 日本.jpg")}, id="encoded-unicode"),
    pytest.param({"width": 300, "image_url": "fotos/café.jpg"}, id="raw-unicode"),
    pytest.param({"width": 300, "image_url": "http://example.com/img/a.jpg"}, id="http-key"),
    pytest.param({"width": 300, "image_url": quote("https://example.com/a b.jpg", safe="")}, id="encoded-url-key"),
]
KEYS = ["k", "MY_SECURE_KEY", "a much longer secret key with spaces and symbols !@#$%^&*()", "x" * 100]


@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("key", KEYS)
def test_libthumbor_urls_verify(key: str, options: dict[str, Any]) -> None:
    signature, rest = libthumbor_url(key, **options)
    verify([key], signature, rest)  # does not raise
    assert sign(key, rest) == signature
    # and through the grammar: the signed path is the raw rest of the URL
    parsed = parse_path(f"/{signature}/{rest}")
    assert parsed.signature == signature
    assert parsed.signed_path == rest
    verify([key], parsed.signature, parsed.signed_path)


def test_known_answer() -> None:
    assert sign("k", KNOWN_PATH) == KNOWN_SIG
    assert signed_path("k", KNOWN_PATH) == f"/{KNOWN_SIG}/{KNOWN_PATH}"
    assert signed_path("k", "/" + KNOWN_PATH) == f"/{KNOWN_SIG}/{KNOWN_PATH}"


def test_signature_shape() -> None:
    sig = sign("k", "a.jpg")
    assert len(sig) == 28
    assert sig.endswith("=")
    assert set(sig) <= set(string.ascii_letters + string.digits + "-_=")


def test_signed_path_matches_libthumbor() -> None:
    url = CryptoURL(key="secret").generate(width=300, height=200, smart=True, image_url="photos/doctor.jpg")
    assert signed_path("secret", "300x200/smart/photos/doctor.jpg") == url


def _random_options(rng: random.Random) -> dict[str, Any]:
    alphabet = string.ascii_letters + string.digits + "-_.~ /()',;=+!éß日🐱"
    image = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))).strip("/") or "a.jpg"
    options: dict[str, Any] = {"image_url": quote(image) if rng.random() < 0.5 else image}
    if rng.random() < 0.6:
        options["width"] = rng.randint(1, 4000)
        options["height"] = rng.randint(0, 4000)
    if "width" in options and rng.random() < 0.3:
        options[rng.choice(["fit_in", "full_fit_in", "adaptive_fit_in"])] = True
    for flag in ("smart", "meta", "flip", "flop"):
        if rng.random() < 0.25:
            options[flag] = True
    if rng.random() < 0.3:
        options["halign"] = rng.choice(["left", "center", "right"])
    if rng.random() < 0.3:
        options["valign"] = rng.choice(["top", "middle", "bottom"])
    if rng.random() < 0.2:
        options["trim"] = rng.choice([True, ("top-left", rng.randint(1, 442)), ("bottom-right", None)])
    if rng.random() < 0.2:
        options["crop"] = ((rng.randint(0, 99), rng.randint(0, 99)), (rng.randint(100, 999), rng.randint(100, 999)))
    if rng.random() < 0.3:
        options["filters"] = [f"quality({rng.randint(0, 100)})", "format(webp)"][: rng.randint(1, 2)]
    return options


def _random_cases(count: int) -> list[Any]:
    rng = random.Random(20240611)
    cases = []
    for i in range(count):
        key = "".join(rng.choice(string.printable.strip()) for _ in range(rng.randint(1, 64)))
        cases.append(pytest.param(key, _random_options(rng), id=f"random-{i}"))
    return cases


@pytest.mark.parametrize(("key", "options"), _random_cases(30))
def test_sign_matches_libthumbor_byte_for_byte(key: str, options: dict[str, Any]) -> None:
    signature, rest = libthumbor_url(key, **options)
    assert sign(key, rest).encode("ascii") == signature.encode("ascii")
    verify(["unrelated", key], signature, rest)


# --- refusals ---------------------------------------------------------------------------------

def _flip_char(text: str, index: int) -> str:
    c = text[index]
    return text[:index] + ("B" if c == "A" else "A") + text[index + 1:]


def test_tampered_path() -> None:
    signature, rest = libthumbor_url("k", width=300, height=200, image_url="photos/doctor.jpg")
    for tampered in (
        rest.replace("300x200", "301x200"),
        rest + "x",
        rest[:-1],
        "/" + rest,
        rest.replace("photos/", "photos//"),
        "unsafe/" + rest,
    ):
        with pytest.raises(Forbidden):
            verify(["k"], signature, tampered)


def test_decoded_path_does_not_verify() -> None:
    """The signed text is the path as sent (percent-encoded), not the decoded key."""
    signature, rest = libthumbor_url("k", width=300, image_url=quote("clinic rotated.jpg"))
    assert "%20" in rest
    with pytest.raises(Forbidden):
        verify(["k"], signature, rest.replace("%20", " "))


@pytest.mark.parametrize("index", [0, 5, 13, 26])
def test_tampered_signature(index: int) -> None:
    signature, rest = libthumbor_url("k", width=300, height=200, image_url="a.jpg")
    with pytest.raises(Forbidden):
        verify(["k"], _flip_char(signature, index), rest)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s.rstrip("="), id="missing-padding"),
        pytest.param(lambda s: s + "=", id="extra-padding"),
        pytest.param(lambda s: s.swapcase(), id="swapped-case"),
        pytest.param(lambda s: s[:-2] + "=", id="truncated"),
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: s.replace("-", "+").replace("_", "/"), id="standard-base64-alphabet"),
        pytest.param(lambda s: "é" * 28, id="non-ascii"),
        pytest.param(lambda s: "unsafe", id="unsafe-word"),
        pytest.param(lambda s: " " + s, id="leading-space"),
    ],
)
def test_mangled_signature(mangle: Any) -> None:
    # KNOWN_SIG contains '_', so the standard-alphabet variant really differs
    signature, rest = libthumbor_url("k", width=300, height=200, smart=True, image_url="photos/doctor.jpg")
    assert signature == KNOWN_SIG
    mangled = mangle(signature)
    assert mangled != signature
    with pytest.raises(Forbidden):
        verify(["k"], mangled, rest)


@pytest.mark.parametrize("keys", [["wrong"], ["K"], ["k "], [""], []], ids=["wrong", "case", "space", "empty", "none"])
def test_wrong_key(keys: list[str]) -> None:
    signature, rest = libthumbor_url("k", width=300, height=200, image_url="a.jpg")
    with pytest.raises(Forbidden):
        verify(keys, signature, rest)


def test_key_rotation() -> None:
    old_sig, rest = libthumbor_url("old-key", width=300, height=200, image_url="a.jpg")
    new_sig, rest2 = libthumbor_url("new-key", width=300, height=200, image_url="a.jpg")
    assert rest == rest2
    assert old_sig != new_sig
    keys = ["new-key", "old-key"]
    verify(keys, old_sig, rest)
    verify(keys, new_sig, rest)
    verify(list(reversed(keys)), old_sig, rest)
    with pytest.raises(Forbidden):
        verify(["new-key"], old_sig, rest)
    with pytest.raises(Forbidden):
        verify(["other", "third"], new_sig, rest)
    # the first key signs
    assert signed_path(keys[0], rest) == f"/{new_sig}/{rest}"


def test_percent_encoded_signature_verifies() -> None:
    signature, rest = libthumbor_url("k", width=300, height=200, image_url="a.jpg")
    assert signature.endswith("=")
    encoded = signature.replace("=", "%3D")
    verify(["k"], encoded, rest)
    verify(["k"], signature.replace("=", "%3d"), rest)
    parsed = parse_path(f"/{encoded}/{rest}")
    assert parsed.signature == signature
    verify(["k"], parsed.signature, parsed.signed_path)
    assert split_signature(f"/{encoded}/{rest}") == (signature, rest)


def test_percent_encoded_tampered_signature_is_refused() -> None:
    signature, rest = libthumbor_url("k", width=300, height=200, image_url="a.jpg")
    with pytest.raises(Forbidden):
        verify(["k"], _flip_char(signature, 3).replace("=", "%3D"), rest)
