"""Tiny test images, generated on the fly (never committed, never downloaded)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pyvips

KEEP_NONE = pyvips.enums.ForeignKeep.NONE


def scene(width: int, height: int, bands: int = 3) -> pyvips.Image:
    """A gradient with a bright disc right of centre (something for smart crop to find)."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    base = (x * (200.0 / max(width, 1))).bandjoin([y * (200.0 / max(height, 1)), x * 0 + 90])
    image = base.cast("uchar").copy(interpretation="srgb")
    r = max(2, min(width, height) // 8)
    image = image.draw_circle([250, 250, 40], int(width * 0.7), int(height * 0.4), r, fill=True)
    if bands == 4:
        alpha = (x * 0 + 255).cast("uchar")
        alpha = alpha.draw_rect([0], 0, 0, max(1, width // 4), height, fill=True)
        image = image.bandjoin(alpha).copy(interpretation="srgb")
    return image


def jpeg(width: int, height: int, orientation: int | None = None, quality: int = 85) -> bytes:
    image = scene(width, height).copy()
    if orientation is not None:
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        return bytes(image.jpegsave_buffer(Q=quality))
    return bytes(image.jpegsave_buffer(Q=quality, keep=KEEP_NONE))


def png(width: int, height: int, alpha: bool = False) -> bytes:
    return bytes(scene(width, height, 4 if alpha else 3).pngsave_buffer(keep=KEEP_NONE))


def boxed_png(
    width: int, height: int, background: list[float], box: tuple[int, int, int, int], ink: list[float]
) -> bytes:
    """A solid background with one solid box (left, top, width, height): a trim target."""
    image = (pyvips.Image.black(width, height, bands=3) + background).cast("uchar").copy(interpretation="srgb")
    image = image.draw_rect(ink, *box, fill=True)
    return bytes(image.pngsave_buffer(keep=KEEP_NONE))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height, with a token IDAT: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def size_of(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def loader_of(data: bytes) -> str:
    return str(pyvips.Image.new_from_buffer(data, "").get("vips-loader"))


def write(root: Path, name: str, data: bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def animated(width: int, height: int, frames: int, delay: int = 70, loop: int = 0, fmt: str = "gif") -> bytes:
    """An animation whose frames differ (encoders merge identical consecutive frames)."""
    step = max(1, width // (frames + 1))
    pages = [scene(width, height).draw_rect([255, 0, 0], i * step, 0, step, height, fill=True) for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [delay] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", loop)
    if fmt == "webp":
        return bytes(strip.webpsave_buffer())
    return bytes(strip.gifsave_buffer())


def frames_of(data: bytes) -> tuple[int, int, int, list[int], int]:
    """(frame width, frame height, frame count, delays, loop) of an encoded animation."""
    image = pyvips.Image.new_from_buffer(data, "", n=-1)
    page = image.get("page-height") if image.get_typeof("page-height") else image.height
    count = image.height // page
    delays = list(image.get("delay")) if image.get_typeof("delay") else []
    loop = int(image.get("loop")) if image.get_typeof("loop") else 0
    return image.width, page, count, delays, loop


def decode(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def colour_of(image: pyvips.Image) -> pyvips.Image:
    """The colour bands as float (alpha dropped)."""
    n = 1 if image.bands < 3 else 3
    return image.extract_band(0, n=n).cast("float")


def alpha_of(image: pyvips.Image) -> pyvips.Image | None:
    """The alpha band, or None."""
    n = 1 if image.bands < 3 else 3
    return image.extract_band(n) if image.bands > n else None


def striped_gif(width: int, height: int, frames: int, delay: int = 80) -> bytes:
    """An animated GIF whose frame i has a red stripe at x = 20·i (frames must differ: the
    GIF encoder merges identical consecutive ones)."""
    pages = [scene(width, height).draw_rect([255, 0, 0], i * 20, 0, 15, height, fill=True) for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [delay] * frames)
    return bytes(strip.gifsave_buffer())
