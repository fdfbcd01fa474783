"""How close each server's output is to the ideal image for its request: PSNR against one
reference per scenario, the same for both servers.

The reference is the whole source decoded at full size, turned upright, flattened onto grey
(so a transparent pixel counts as what it shows), resized in float with lanczos3 to cover the
output's size and cut from the centre, as every bench scenario asks (a fit-in covers exactly;
300x0 keeps the aspect); animations frame by frame. Compared in luma when either output is
grey. Higher is closer; it measures resize, quantisation and compression together, so it is
what "visually equivalent" is checked with (issue 9: the animated GIF case)."""

from __future__ import annotations

import math

import pyvips

from imgserver.imaging.filters.color import LUMA  # Thumbor's grayscale() weights, in float here
from imgserver.imaging.steps import _split_frames

#: What transparent pixels are flattened onto, in the reference and in every output.
BACKGROUND = 128.0


def _flat(image: pyvips.Image) -> pyvips.Image:
    """sRGB or grey without alpha, in float."""
    if image.hasalpha():
        image = image.flatten(background=[BACKGROUND] * (image.bands - 1))
    return image.cast("float")


def _luma(image: pyvips.Image) -> pyvips.Image:
    return image if image.bands == 1 else image.recomb([list(LUMA)])


def _load(data: bytes) -> list[pyvips.Image]:
    """Every frame of an encoded image, upright, flattened, float."""
    image = pyvips.Image.new_from_buffer(data, "")
    if image.get_typeof("n-pages") and image.get("n-pages") > 1:
        image = pyvips.Image.new_from_buffer(data, "n=-1")  # an animation: every frame
    if image.get_typeof("orientation"):
        image = image.autorot()
    return [_flat(frame) for frame in _split_frames(image)]


def _cover(frame: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """``frame`` resized (lanczos3, float) to cover width x height and cut from the centre."""
    scale = max(width / frame.width, height / frame.height)
    resized = frame.resize(scale, kernel="lanczos3")
    left = max(0, (resized.width - width) // 2)
    top = max(0, (resized.height - height) // 2)
    resized = resized.crop(left, top, min(width, resized.width), min(height, resized.height))
    if (resized.width, resized.height) != (width, height):  # a rounding pixel
        resized = resized.resize(width / resized.width, vscale=height / resized.height, kernel="lanczos3")
    return resized


def psnr(source: bytes, outputs: dict[str, bytes]) -> dict[str, float]:
    """PSNR (dB) of each output against the reference built from ``source`` for the output
    size; inf when identical, nan when an output cannot be decoded or compared."""
    decoded: dict[str, list[pyvips.Image]] = {}
    for name, body in outputs.items():
        try:
            decoded[name] = _load(body)
        except pyvips.Error:
            continue
    grey = any(frames[0].bands == 1 for frames in decoded.values())
    originals = _load(source)
    found: dict[str, float] = {name: math.nan for name in outputs}
    references: dict[tuple[int, int], list[pyvips.Image]] = {}  # per output size: built once
    for name, frames in decoded.items():
        size = (frames[0].width, frames[0].height)
        if size not in references:
            references[size] = [_cover(original, *size).copy_memory() for original in originals]
        total = 0.0
        # Frame by frame, in order; an output with fewer frames than the source (dropped or
        # merged ones) is compared against its last frame for the rest, as it would be seen.
        for index, ref in enumerate(references[size]):
            out = frames[min(index, len(frames) - 1)]
            if grey:
                out, ref = _luma(out), _luma(ref)
            elif out.bands != ref.bands:
                break
            diff = out - ref
            total += (diff * diff).avg()
        else:
            mse = total / len(originals)
            found[name] = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    return found
