"""The bundled sample images, generated (deterministically) instead of committed as binaries."""

from __future__ import annotations

from pathlib import Path

import pyvips


def _scene(width: int, height: int) -> pyvips.Image:
    """A photo-like test scene: a sky-to-floor gradient, a subject off-centre, some detail."""
    y = pyvips.Image.xyz(width, height)[1] / height
    sky = (y * [-120, -60, -20] + [200, 220, 250]).cast("uchar")
    image = sky.copy(interpretation="srgb")
    # A "subject" (head and shoulders) right of centre, so smart crops have something to find.
    cx, cy = int(width * 0.62), int(height * 0.45)
    r = max(4, height // 7)
    image = image.draw_circle([60, 110, 170], cx, cy + int(r * 2.6), int(r * 1.9), fill=True)
    image = image.draw_circle([235, 190, 160], cx, cy, r, fill=True)
    image = image.draw_circle([40, 30, 25], cx, cy - r // 2, int(r * 0.9), fill=True)
    image = image.draw_circle([235, 190, 160], cx, cy + r // 6, int(r * 0.85), fill=True)
    image = image.draw_rect([245, 245, 245], cx - r // 3, cy + int(r * 1.3), r * 2 // 3, r, fill=True)
    image = image.draw_rect([200, 40, 50], cx - r // 8, cy + int(r * 1.5), r // 4, r // 2, fill=True)
    # Texture, so encoders and sharpness have something to work on.
    noise = pyvips.Image.gaussnoise(width, height, sigma=3, mean=0)
    return (image + noise).cast("uchar").copy(interpretation="srgb")


def write_samples(folder: str | Path) -> list[Path]:
    """Write the sample set into ``folder`` (idempotent); returns the files written."""
    root = Path(folder)
    (root / "photos").mkdir(parents=True, exist_ok=True)
    (root / "logos").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(path: Path, data: bytes) -> None:
        path.write_bytes(data)
        written.append(path)

    doctor = _scene(1600, 1067).jpegsave_buffer(Q=80, keep=pyvips.enums.ForeignKeep.NONE)
    save(root / "photos" / "doctor.jpg", bytes(doctor))
    # Stored landscape, shown portrait 900x1200: EXIF orientation 6 (turn 90° clockwise to show).
    stored = _scene(900, 1200).rot270().copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", 6)
    save(root / "photos" / "clinic rotated.jpg", bytes(stored.jpegsave_buffer(Q=80)))

    size = 400
    logo = pyvips.Image.black(size, size, bands=4).copy(interpretation="srgb")
    red = [200.0, 30.0, 45.0, 255.0]
    logo = logo.draw_rect(red, size * 3 // 8, size // 8, size // 4, size * 3 // 4, fill=True)
    logo = logo.draw_rect(red, size // 8, size * 3 // 8, size * 3 // 4, size // 4, fill=True)
    save(root / "logos" / "cross.png", bytes(logo.pngsave_buffer(compression=9)))
    return written
