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

#: What transparent pixels are flattened onto, in the reference and in every output.
BACKGROUND = 128.0
#: Thumbor's grayscale() is Pillow's "L": ITU-R 601-2 luma on the sRGB values.
LUMA = (0.299, 0.587, 0.114)


def _flat(image: pyvips.Image) -> pyvips.Image:
    """sRGB or grey without alpha, in float."""
    if image.hasalpha():
        image = image.flatten(background=[BACKGROUND] * (image.bands - 1))
    return image.cast("float")


def _luma(image: pyvips.Image) -> pyvips.Image:
    return image if image.bands == 1 else image.recomb([list(LUMA)])


def _frames(image: pyvips.Image) -> list[pyvips.Image]:
    """An image's frames (one for a still), each as its own image."""
    page = image.get("page-height") if image.get_typeof("page-height") else image.height
    if not isinstance(page, int) or page <= 0 or image.height % page:
        page = image.height
    return [image.crop(0, top, image.width, page) for top in range(0, image.height, page)]


def _load(data: bytes) -> list[pyvips.Image]:
    """Every frame of an encoded image, upright, flattened, float."""
    image = pyvips.Image.new_from_buffer(data, "n=-1" if _animated(data) else "")
    if image.get_typeof("orientation"):
        image = image.autorot()
    return [_flat(frame) for frame in _frames(image)]


def _animated(data: bytes) -> bool:
    return data[:4] == b"GIF8" or (data[:4] == b"RIFF" and data[8:12] == b"WEBP" and b"ANIM" in data[:256])


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
    for name, frames in decoded.items():
        width, height = frames[0].width, frames[0].height
        total = 0.0
        # Frame by frame, in order; an output with fewer frames than the source (dropped or
        # merged ones) is compared against its last frame for the rest, as it would be seen.
        for index, original in enumerate(originals):
            out = frames[min(index, len(frames) - 1)]
            ref = _cover(original, width, height)
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
