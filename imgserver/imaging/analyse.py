"""Full analysis of an original for its metadata document. SYNC; runs in the render pool.

Unlike the header probe used for serving, ingest decodes every pixel with libvips failing on
errors: an original that cannot be decoded completely is refused at upload time, not
discovered later as a half-grey thumbnail.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct

import pyvips

from imgserver.errors import Unprocessable
from imgserver.imaging.probe import SourceLimits, probe, source_of
from imgserver.metadata import Analysis
from imgserver.plan.model import FORMAT_MIME_TYPES

_EXIF_VALUE = re.compile(r"^(?P<raw>.*) \((?P<text>.*), (?P<type>[\w ]+), \d+ components, \d+ bytes\)$", re.DOTALL)
_BITS = {"uchar": 8, "char": 8, "ushort": 16, "short": 16, "uint": 32, "int": 32, "float": 32, "double": 64}
_B83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _exif_text(image: pyvips.Image, name: str) -> str | None:
    if image.get_typeof(name) == 0:
        return None
    value = str(image.get(name))
    m = _EXIF_VALUE.match(value)
    text = (m.group("raw") if m else value).strip()
    return text or None


def _rationals(raw: str) -> list[float]:
    out = []
    for part in raw.split():
        num, _, den = part.partition("/")
        try:
            out.append(float(num) / float(den or 1))
        except (ValueError, ZeroDivisionError):
            return []
    return out


def _gps(image: pyvips.Image) -> tuple[float, float] | None:
    coords = []
    for axis in ("Latitude", "Longitude"):
        raw = _exif_text(image, f"exif-ifd3-GPS{axis}")
        ref = _exif_text(image, f"exif-ifd3-GPS{axis}Ref") or ""
        parts = _rationals(raw or "")
        if len(parts) != 3:
            return None
        value = parts[0] + parts[1] / 60 + parts[2] / 3600
        coords.append(-value if ref.upper() in ("S", "W") else value)
    return round(coords[0], 6), round(coords[1], 6)


def icc_description(profile: bytes) -> str | None:
    """The ``desc`` tag of an ICC profile (v2 ``desc`` or v4 ``mluc``), or None."""
    try:
        (count,) = struct.unpack_from(">I", profile, 128)
        for i in range(min(count, 100)):
            sig, offset, _size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
            if sig != b"desc":
                continue
            kind = profile[offset : offset + 4]
            if kind == b"desc":
                (length,) = struct.unpack_from(">I", profile, offset + 8)
                return profile[offset + 12 : offset + 12 + length].split(b"\0")[0].decode("latin-1") or None
            if kind == b"mluc":
                (records,) = struct.unpack_from(">I", profile, offset + 8)
                if records:
                    rec_len, rec_off = struct.unpack_from(">II", profile, offset + 16 + 4)
                    text = profile[offset + rec_off : offset + rec_off + rec_len]
                    return text.decode("utf-16-be").strip("\0") or None
            return None
    except (struct.error, UnicodeDecodeError):
        return None
    return None


def _hex(rgb: list[float]) -> str:
    r, g, b = (max(0, min(255, round(c))) for c in (rgb + rgb + rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _srgb_to_linear(value: float) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _linear_to_srgb(value: float) -> int:
    v = max(0.0, min(1.0, value))
    return round((v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055) * 255)


def _b83(value: int, length: int) -> str:
    return "".join(_B83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def blurhash(pixels: list[list[tuple[int, int, int]]], x_comp: int = 4, y_comp: int = 3) -> str:
    """BlurHash (woltapp/blurhash) of a small RGB pixel grid."""
    height, width = len(pixels), len(pixels[0])
    linear = [[tuple(_srgb_to_linear(c) for c in px) for px in row] for row in pixels]
    factors = []
    for j in range(y_comp):
        for i in range(x_comp):
            norm = 1.0 if i == j == 0 else 2.0
            acc = [0.0, 0.0, 0.0]
            for y in range(height):
                basis_y = math.cos(math.pi * j * y / height)
                for x in range(width):
                    basis = norm * math.cos(math.pi * i * x / width) * basis_y
                    px = linear[y][x]
                    acc[0] += basis * px[0]
                    acc[1] += basis * px[1]
                    acc[2] += basis * px[2]
            scale = 1.0 / (width * height)
            factors.append([a * scale for a in acc])
    dc, ac = factors[0], factors[1:]
    out = _b83((x_comp - 1) + (y_comp - 1) * 9, 1)
    max_value = max((abs(c) for f in ac for c in f), default=0.0)
    quant_max = max(0, min(82, math.floor(max_value * 166 - 0.5))) if ac else 0
    out += _b83(quant_max, 1)
    real_max = (quant_max + 1) / 166 if ac else 1.0
    out += _b83((_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]), 4)
    for f in ac:
        q = [max(0, min(18, math.floor(math.copysign(abs(c / real_max) ** 0.5, c) * 9 + 9.5))) for c in f]
        out += _b83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return out


def analyse(data: bytes, limits: SourceLimits) -> Analysis:
    """Probe, fully decode (failing on any error) and describe ``data``.

    Raises UnsupportedSource (415) or Unprocessable (422)."""
    facts = probe(data, limits, respect_orientation=True)
    try:
        image = pyvips.Image.new_from_source(source_of(data), "fail_on=error", access="sequential")
        if facts.frames > 1:
            # Every frame must decode, not only the first one the small copy is made from.
            pyvips.Image.new_from_source(source_of(data), "fail_on=error,n=-1", access="sequential").avg()
        # A small, display-oriented sRGB copy for colours and placeholders. Without
        # shrink-on-load it reduces every pixel of the (first) frame, so this one pass is
        # also the full-decode validation.
        small = image.thumbnail_image(32, height=32, output_profile="srgb").copy_memory()
    except pyvips.Error:
        raise Unprocessable("image cannot be decoded completely") from None
    if small.bands > 3:
        small = small.flatten(background=[255.0, 255.0, 255.0])
    if small.bands == 1:
        small = small.colourspace("srgb")
    small = small.cast("uchar")
    average = [small[b].avg() for b in range(3)]
    raw = bytes(small.write_to_memory())
    w = small.width
    pixels = [
        [(raw[i], raw[i + 1], raw[i + 2]) for i in range(3 * w * y, 3 * w * (y + 1), 3)] for y in range(small.height)
    ]
    buckets: dict[tuple[int, int, int], int] = {}
    for row in pixels:
        for r, g, b in row:
            bucket = (r >> 4, g >> 4, b >> 4)
            buckets[bucket] = buckets.get(bucket, 0) + 1
    dominant = max(buckets, key=lambda k: buckets[k])
    lqip = bytes(small.thumbnail_image(16).webpsave_buffer(Q=40, keep=pyvips.enums.ForeignKeep.NONE))

    exif: dict[str, str] = {}
    for key, field_name in (
        ("make", "exif-ifd0-Make"),
        ("model", "exif-ifd0-Model"),
        ("taken_at", "exif-ifd2-DateTimeOriginal"),
        ("lens", "exif-ifd2-LensModel"),
        ("exposure", "exif-ifd2-ExposureTime"),
    ):
        value = _exif_text(image, field_name)
        if value:
            exif[key] = value
    if "taken_at" in exif:
        stamp = exif["taken_at"]
        if re.fullmatch(r"\d{4}:\d\d:\d\d \d\d:\d\d:\d\d", stamp):
            exif["taken_at"] = stamp[:10].replace(":", "-") + "T" + stamp[11:]
    dpi = None
    if image.xres > 0 and image.yres > 0 and not (image.xres == 1.0 and image.get_typeof("resolution-unit") == 0):
        dpi = (round(image.xres * 25.4, 2), round(image.yres * 25.4, 2))
    icc = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    return Analysis(
        facts=facts,
        byte_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        mime=FORMAT_MIME_TYPES.get(facts.format, "application/octet-stream"),
        bands=image.bands,
        interpretation=str(image.interpretation),
        bit_depth=_BITS.get(str(image.format), 8),
        icc_description=icc_description(bytes(icc)) if isinstance(icc, bytes) else None,
        dpi=dpi,
        exif=exif,
        gps=_gps(image),
        average_color=_hex(average),
        dominant_color=_hex([(c << 4) + 8 for c in dominant]),
        blurhash=blurhash(pixels),
        lqip="data:image/webp;base64," + base64.b64encode(lqip).decode("ascii"),
    )
