"""Write the benchmark corpus: deterministic, photo-like sources (never committed).

    python bench/corpus.py FOLDER

Each image is built from seeded libvips noise (smooth colour fields + mid and fine texture), so
JPEG and WebP encoders see photo-like entropy, and the same bytes come out on every run with the
same libvips. Idempotent: existing files with the expected size are kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyvips

#: name → (description, width, height). The names are part of the scenario URLs.
CORPUS = {
    "rotated-640x480.jpg": "JPEG 640x480 stored, EXIF orientation 6 (shown 480x640)",
    "photo-1920x1080.jpg": "JPEG 1920x1080",
    "photo-4000x3000.jpg": "JPEG 4000x3000 (12 MP)",
    "photo-6000x4000.jpg": "JPEG 6000x4000 (24 MP)",
    "alpha-1200x800.png": "PNG 1200x800 RGBA",
    "photo-1600x1200.webp": "WebP 1600x1200",
    "anim-400x300.gif": "GIF 400x300, 10 frames",
}


def photo(width: int, height: int, seed: int, bands: int = 3) -> pyvips.Image:
    """A photo-like sRGB image: shared luminance (large smooth regions, mid detail, grain)
    with gentle per-channel colour casts, plus a few hard edges."""

    def field(cells: int, sigma: float, mean: float, salt: int, kernel: str = "cubic") -> pyvips.Image:
        small = pyvips.Image.gaussnoise(
            max(2, width // cells), max(2, height // cells), sigma=sigma, mean=mean, seed=seed * 97 + salt
        )
        big = small.resize(width / small.width, vscale=height / small.height, kernel=kernel)
        return big.embed(0, 0, width, height, extend="copy")

    luminance = (
        field(96, 50, 120, 1)
        + field(8, 12, 0, 2, "linear")
        + pyvips.Image.gaussnoise(width, height, sigma=3, mean=0, seed=seed * 97 + 3)
    )
    casts = [field(128, 18, tint, 10 + band) for band, tint in enumerate((12.0, 0.0, -10.0)[:bands])]
    image = (casts[0] + luminance).bandjoin([c + luminance for c in casts[1:]]) if bands > 1 else luminance
    image = image.cast("uchar").copy(interpretation="srgb")
    image = image.draw_rect([30.0, 40.0, 60.0][:bands], width // 10, height // 3, width // 5, height // 2, fill=True)
    image = image.draw_circle(
        [230.0, 200.0, 170.0][:bands], width * 2 // 3, height // 2, min(width, height) // 6, fill=True
    )
    return image


def jpeg(width: int, height: int, seed: int, orientation: int = 1) -> bytes:
    image = photo(width, height, seed)
    if orientation != 1:
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        return bytes(image.jpegsave_buffer(Q=90))  # keeps EXIF (orientation) as a camera would
    return bytes(image.jpegsave_buffer(Q=90, keep=pyvips.enums.ForeignKeep.NONE))


def rgba_png(width: int, height: int, seed: int) -> bytes:
    rgb = photo(width, height, seed)
    xy = pyvips.Image.xyz(width, height)
    # A soft-edged ellipse of opaque pixels on a transparent ground (a cut-out product shot).
    dx = (xy[0] - width / 2) / (width / 2.2)
    dy = (xy[1] - height / 2) / (height / 2.2)
    alpha = ((1.0 - (dx * dx + dy * dy)) * 600).cast("uchar", shift=False)
    alpha = (alpha > 255).ifthenelse(255, alpha).cast("uchar")
    return bytes(
        rgb.bandjoin(alpha)
        .copy(interpretation="srgb")
        .pngsave_buffer(compression=6, keep=pyvips.enums.ForeignKeep.NONE)
    )


def webp(width: int, height: int, seed: int) -> bytes:
    return bytes(photo(width, height, seed).webpsave_buffer(Q=85, keep=pyvips.enums.ForeignKeep.NONE))


def animated_gif(width: int, height: int, frames: int, seed: int) -> bytes:
    background = photo(width, height, seed)
    pages = []
    for index in range(frames):
        frame = background.copy()
        x = (index * width) // frames
        frame = frame.draw_circle([250.0, 60.0, 40.0], x + width // 10, height // 2, height // 6, fill=True)
        frame = frame.draw_rect(
            [20.0, 120.0, 230.0], width - x - width // 5, height // 8, width // 6, height // 6, fill=True
        )
        pages.append(frame)
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [80] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return bytes(strip.gifsave_buffer(keep=pyvips.enums.ForeignKeep.NONE))


def build() -> dict[str, bytes]:
    return {
        "rotated-640x480.jpg": jpeg(640, 480, 1, orientation=6),
        "photo-1920x1080.jpg": jpeg(1920, 1080, 2),
        "photo-4000x3000.jpg": jpeg(4000, 3000, 3),
        "photo-6000x4000.jpg": jpeg(6000, 4000, 4),
        "alpha-1200x800.png": rgba_png(1200, 800, 5),
        "photo-1600x1200.webp": webp(1600, 1200, 6),
        "anim-400x300.gif": animated_gif(400, 300, 10, 7),
    }


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / ".complete"
    if stamp.exists() and all((folder / name).exists() for name in CORPUS):
        return [folder / name for name in CORPUS]
    written = []
    for name, data in build().items():
        (folder / name).write_bytes(data)
        written.append(folder / name)
    stamp.write_text("ok\n")
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/.corpus")
    for path in write(out):
        print(f"{path} {path.stat().st_size} bytes")
