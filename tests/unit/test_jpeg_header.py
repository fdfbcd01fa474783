"""The Python JPEG header reader against libvips' own header read: same facts, or it steps
aside (returns None) and libvips decides."""

from __future__ import annotations

import struct

import pytest
import pyvips

from imgserver.errors import ImgserverError
from imgserver.imaging.probe import SourceLimits, probe, probe_with_libvips
from imgserver.plan.sniff import jpeg_header
from tests import images

LIMITS = SourceLimits()
#: Refuses any progressive (multi-scan) source of the sizes here: shows what the reader says.
NO_MULTISCAN = SourceLimits(max_interlaced_pixels=100)


def _photo(width: int = 24, height: int = 16, bands: int = 3) -> pyvips.Image:
    image = images.scene(width, height)
    return image.extract_band(0) if bands == 1 else image


def _jpeg(image: pyvips.Image, orientation: int | None = None, **options: object) -> bytes:
    if orientation is not None:
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(image.jpegsave_buffer(**options))


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _exif(order: str, entries: list[tuple[int, int, int, int]]) -> bytes:
    """An APP1 EXIF segment whose IFD0 holds ``entries`` (tag, type, count, inline value)."""
    fmt = "<" if order == "II" else ">"
    head = (b"II*\x00" if order == "II" else b"MM\x00*") + struct.pack(fmt + "I", 8)
    ifd = struct.pack(fmt + "H", len(entries))
    for tag, kind, count, value in entries:
        inline = struct.pack(fmt + "H", value) + b"\x00\x00" if kind == 3 else struct.pack(fmt + "I", value)
        ifd += struct.pack(fmt + "HHI", tag, kind, count) + inline
    return _segment(0xE1, b"Exif\x00\x00" + head + ifd + b"\x00\x00\x00\x00")


def _with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """``jpeg`` (written without metadata) with ``segments`` right after its SOI."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _outcome(read: object, data: bytes, limits: SourceLimits) -> object:
    try:
        return read(data, limits)  # type: ignore[operator]
    except ImgserverError as exc:
        return (type(exc).__name__, str(exc))


def _same_as_libvips(data: bytes) -> None:
    for limits in (LIMITS, NO_MULTISCAN):
        assert _outcome(probe, data, limits) == _outcome(probe_with_libvips, data, limits)


def _first_scan_of_one_component(jpeg: bytes) -> bytes:
    """``jpeg`` with its first scan header naming only the first component (a sequential
    JPEG whose components come in separate scans; only the header matters here)."""
    at = jpeg.index(b"\xff\xda")
    length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
    scan = jpeg[at + 4 : at + 2 + length]
    count = scan[0]
    one = bytes([1]) + scan[1:3] + scan[1 + 2 * count :]
    return jpeg[:at] + _segment(0xDA, one) + jpeg[at + 2 + length :]


PLAIN = _jpeg(_photo(), keep=pyvips.enums.ForeignKeep.NONE)


def _sof_edited(jpeg: bytes, offset: int, value: int) -> bytes:
    """``jpeg`` with one byte of its SOF0 segment body changed (offset from the body's start;
    6 is the first component's id, 7 its sampling factors)."""
    at = jpeg.index(b"\xff\xc0") + 4 + offset
    if offset == 6:  # duplicate: the second component takes the first one's id
        at += 3
        value = jpeg[at - 3]
    return jpeg[:at] + bytes([value]) + jpeg[at + 1 :]


def _hidden_frame_bomb() -> bytes:
    """A small decoy SOF inside an APP0 that a reader treating FF 00 as a segment would
    see, and a real 9000x9000 progressive frame that libjpeg sees (review finding)."""
    real = _jpeg(pyvips.Image.black(9000, 9000), interlace=True, keep=pyvips.enums.ForeignKeep.NONE)
    at = real.index(b"\xff\xc2")
    length = int.from_bytes(real[at + 2 : at + 4], "big")
    frame = real[at : at + 2 + length]
    decoy = frame[:5] + (8).to_bytes(2, "big") + (16).to_bytes(2, "big") + frame[9:]
    pad = b"\x00" * 4
    hidden = decoy + b"\xff\xe3" + (2 + len(pad) + len(frame)).to_bytes(2, "big") + pad
    app0 = b"\xff\xe0" + (len(hidden) + 2).to_bytes(2, "big") + hidden
    return b"\xff\xd8\xff\x00\x00\x06" + app0 + frame + real[2:at] + real[at + 2 + length :]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(PLAIN, id="baseline"),
        pytest.param(_jpeg(_photo(), interlace=True, keep=pyvips.enums.ForeignKeep.NONE), id="progressive"),
        pytest.param(_first_scan_of_one_component(PLAIN), id="non-interleaved-scans"),
        pytest.param(_jpeg(_photo(bands=1)), id="grey"),
        pytest.param(_jpeg(pyvips.Image.black(8, 8, bands=4).copy(interpretation="cmyk")), id="cmyk"),
        pytest.param(_jpeg(_photo().icc_transform("srgb", input_profile="srgb")), id="icc"),
        pytest.param(_jpeg(_photo(7000, 9)), id="wide"),
        *[pytest.param(_jpeg(_photo(), orientation=o), id=f"libvips-exif-{o}") for o in range(1, 9)],
        *[
            pytest.param(_with_segments(PLAIN, _exif(order, [(0x0112, 3, 1, 6)])), id=f"exif-{order}")
            for order in ("II", "MM")
        ],
        pytest.param(_with_segments(PLAIN, _exif("II", [(0x010F, 3, 1, 1)])), id="exif-without-orientation"),
        pytest.param(
            _with_segments(PLAIN, _segment(0xE2, b"ICC_PROFILE\x00\x02\x02" + b"b" * 20),
                           _segment(0xE2, b"ICC_PROFILE\x00\x01\x02" + b"a" * 20)),
            id="icc-chunks-out-of-order",
        ),
        pytest.param(_with_segments(PLAIN, b"\xff\xff"), id="fill-byte"),
    ],
)
def test_plain_jpegs_are_read_in_python_with_libvips_facts(data: bytes) -> None:
    assert jpeg_header(data) is not None  # the fast path ran
    _same_as_libvips(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_with_segments(PLAIN, _exif("II", [(0x0112, 4, 1, 6)])), id="orientation-as-long"),
        pytest.param(_with_segments(PLAIN, _exif("MM", [(0x0112, 3, 1, 9)])), id="orientation-9"),
        pytest.param(_with_segments(PLAIN, _exif("II", [(0x0112, 3, 1, 3)]), _exif("II", [(0x0112, 3, 1, 6)])),
                     id="two-exif-blocks"),
        pytest.param(_with_segments(PLAIN, _segment(0xE1, b"Exif\x00\x00MM\x00*\x00\x00\xff\xff")), id="bad-ifd"),
        pytest.param(_with_segments(PLAIN, _segment(0xE2, b"ICC_PROFILE\x00\x01\x02" + b"a" * 20)),
                     id="icc-chunk-missing"),
        pytest.param(PLAIN.replace(b"\xff\xc0", b"\xff\xc3", 1), id="lossless-sof"),
        pytest.param(_with_segments(PLAIN, b"\xff\x00\x00\x04\x00\x00"), id="ff00-is-no-segment"),
        pytest.param(_with_segments(PLAIN, _segment(0xC8, b"\x00\x00")), id="reserved-marker"),
        pytest.param(_with_segments(PLAIN, _segment(0xF0, b"\x00\x00")), id="unknown-marker"),
        pytest.param(_with_segments(PLAIN, _segment(0xC4, b"\x05" + bytes(16))), id="bad-huffman-table-id"),
        pytest.param(_with_segments(PLAIN, _segment(0xDD, b"\x00\x00\x00")), id="bad-restart-length"),
        pytest.param(
            _with_segments(PLAIN, _segment(0xE2, b"ICC_PROFILE\x0b\x01\x01" + b"a" * 20)), id="icc-prefix-no-nul"
        ),
        pytest.param(_with_segments(PLAIN, b"\xff" * 40), id="long-fill"),
        pytest.param(_with_segments(PLAIN, _segment(0xFE, b"") * 500), id="too-many-segments"),
        pytest.param(_sof_edited(PLAIN, 7, 0x51), id="sampling-factor-5"),
        pytest.param(_sof_edited(PLAIN, 6, 0x07), id="duplicate-component-id"),
        pytest.param(b"\xff\xd8\xff\xd9", id="empty"),
        pytest.param(b"\xff\xd8" + b"\x00" * 40, id="garbage"),
    ],
)
def test_unusual_jpegs_are_left_to_libvips(data: bytes) -> None:
    assert jpeg_header(data) is None
    _same_as_libvips(data)


def test_a_hidden_frame_cannot_slip_past_the_pixel_limit() -> None:
    data = _hidden_frame_bomb()
    assert jpeg_header(data) is None
    with pytest.raises(ImgserverError, match="81000000 pixels"):
        probe(data, LIMITS)


def test_every_truncation_gives_libvips_facts_or_none() -> None:
    """Cut a JPEG with EXIF and ICC at every byte of its header and a little beyond."""
    data = _jpeg(_photo().icc_transform("srgb", input_profile="srgb"), orientation=8)
    sos = data.index(b"\xff\xda")
    read_in_python = 0
    for cut in range(2, sos + 40):
        prefix = data[:cut]
        read_in_python += jpeg_header(prefix) is not None
        _same_as_libvips(prefix)
    scan_header_end = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    assert read_in_python == sos + 40 - scan_header_end  # every cut that keeps the whole scan header


def test_orientation_is_ignored_when_not_respected() -> None:
    data = _jpeg(_photo(), orientation=6)
    facts = probe(data, LIMITS, respect_orientation=False)
    assert (facts.orientation, facts.width, facts.height) == (1, 24, 16)
    assert facts == probe_with_libvips(data, LIMITS, respect_orientation=False)
