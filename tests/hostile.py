"""A hostile image corpus, generated (never downloaded): `python -m tests.hostile FOLDER`.

Every file is something an image server on the internet is fed sooner or later: damaged
files, lies about format or size, decompression bombs, exotic-but-valid pixel formats and
script-carrying SVG.
"""

from __future__ import annotations

import random
import struct
import sys
import zlib
from pathlib import Path

import pyvips

from tests import images


def _flip_bits(data: bytes, count: int, seed: int) -> bytes:
    rng = random.Random(seed)
    buf = bytearray(data)
    for _ in range(count):
        i = rng.randrange(len(buf) // 4, len(buf))  # keep most headers, damage the body
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _gif_header(width: int, height: int) -> bytes:
    """A GIF whose logical screen and one image descriptor claim width x height."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    data = b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one tiny sub-block
    return screen + descriptor + data + b"\x3b"


def _many_frames(count: int) -> bytes:
    """A GIF with ``count`` 2x2 frames, each different from the last."""
    pages = []
    for i in range(count):
        value = float(i % 2 * 255)
        pages.append((pyvips.Image.black(2, 2, bands=3) + [value, 255 - value, 0]).cast("uchar"))
    strip = pyvips.Image.arrayjoin(pages, across=1).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", 2)
    return bytes(strip.gifsave_buffer())


def build(folder: Path) -> dict[str, bytes]:
    """Write the corpus into ``folder``; return name → bytes."""
    jpeg = images.jpeg(400, 300)
    png = images.png(400, 300, alpha=True)
    gif = images.animated(120, 90, 4)
    webp = bytes(images.scene(400, 300).webpsave_buffer())
    scene = images.scene(300, 200)
    cmyk = bytes(scene.icc_transform("cmyk").jpegsave_buffer())
    sixteen = bytes((scene.cast("ushort") * 257).copy(interpretation="rgb16").pngsave_buffer())
    grey_alpha = bytes(scene.colourspace("b-w").bandjoin(255).copy(interpretation="b-w").pngsave_buffer())
    progressive = bytes(images.scene(1000, 800).jpegsave_buffer(interlace=True))
    interlaced_png = bytes(images.scene(1000, 800).pngsave_buffer(interlace=True))
    svg_script = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
    svg_remote = (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" '
        b'height="10"><image xlink:href="http://169.254.169.254/latest/meta-data/" width="10" height="10"/></svg>'
    )
    corpus = {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "truncated.gif": gif[: len(gif) // 2],
        "truncated.webp": webp[: len(webp) // 2],
        "bitflip.jpg": _flip_bits(jpeg, 40, 1),
        "bitflip.png": _flip_bits(png, 40, 2),
        "bitflip.gif": _flip_bits(gif, 40, 3),
        "bitflip.webp": _flip_bits(webp, 40, 4),
        "header-only.jpg": jpeg[:200],
        "zero.jpg": b"",
        "one-byte.png": b"\x89",
        "text.jpg": b"hello, I am not an image\n" * 20,
        "html.png": b"<!doctype html><html><script>alert(1)</script></html>",
        "png-named.jpg": png,  # wrong extension: content decides
        "polyglot.gif": gif + b"<html><script>alert(1)</script></html>",
        "huge-dims.png": images.png_header_only(100_000, 100_000),
        "huge-dims.gif": _gif_header(65_535, 65_535),
        "cmyk.jpg": cmyk,
        "sixteen-bit.png": sixteen,
        "grey-alpha.png": grey_alpha,
        "frames-10k.gif": _many_frames(10_000),
        "progressive.jpg": progressive,
        "interlaced.png": interlaced_png,
        "script.svg": svg_script,
        "remote.svg": svg_remote,
        "zlib-bomb.png": _png_bomb(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in corpus.items():
        (folder / name).write_bytes(data)
    return corpus


def _png_bomb() -> bytes:
    """A 20000x20000 grey PNG whose IDAT is a few kB of compressed zeros (400 MB decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    width = height = 20_000
    raw = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    body = b"".join(raw.compress(row) for _ in range(200)) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for name, data in build(out).items():
        print(f"{len(data):>10}  {out / name}")
