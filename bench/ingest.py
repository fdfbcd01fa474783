"""Time ``Ingestor.ingest`` on a 12 MP JPEG (4000x3000) with photo-like content, file stores.

    .venv/bin/python -m bench.ingest [--runs N]

The image is generated (never downloaded): a sky-to-ground gradient, value noise summed over
octaves per channel (blobs down to sensor-like grain), a few hard-edged shapes, saved as a
quality-90 JPEG with camera-like EXIF, so its size is that of a real 12 MP photo (a few MB).
Each run ingests it under a new name (full work: decode every pixel, colours, blurhash, LQIP,
write original + document); the median is printed, then the two "already present" paths.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import pyvips

from imgserver.imaging.probe import SourceLimits
from imgserver.imaging.setup import configure
from imgserver.ingest import Ingestor, IngestRules
from imgserver.pool import RenderPool
from imgserver.storage.objects import FileObjectStore

WIDTH, HEIGHT = 4000, 3000


def _octaves(width: int, height: int) -> pyvips.Image:
    """Value noise summed over octaves (coarse blobs to fine grain): natural-looking texture."""
    total = None
    for cell, amplitude in ((400, 60.0), (100, 30.0), (25, 16.0), (6, 10.0), (1, 5.0)):
        w, h = -(-width // cell) + 1, -(-height // cell) + 1
        layer = pyvips.Image.gaussnoise(w, h, sigma=amplitude, mean=0)
        if cell > 1:
            layer = layer.resize(cell, kernel="cubic").crop(0, 0, width, height)
        else:
            layer = layer.crop(0, 0, width, height)
        total = layer if total is None else total + layer
    assert total is not None
    return total


def photo_like(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    xyz = pyvips.Image.xyz(width, height)
    y = xyz[1]
    # A sky-to-ground gradient, textured differently per channel, shapes with hard edges.
    base = (y * (-80.0 / height) + 170).bandjoin([y * (-50.0 / height) + 140, y * (-120.0 / height) + 180])
    # Channels share most of their texture (as in a photo: light varies more than hue).
    luma = _octaves(width, height)
    texture = (luma + _octaves(width, height) * 0.4).bandjoin(
        [luma + _octaves(width, height) * 0.4, luma + _octaves(width, height) * 0.4]
    )
    image = (base + texture).cast("uchar").copy(interpretation="srgb")
    image = image.draw_rect([30, 60, 20], width // 10, height // 2, width // 4, height // 3, fill=True)
    image = image.draw_circle([240, 220, 180], int(width * 0.7), int(height * 0.35), height // 7, fill=True)
    image = image.copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", "Canon")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Model", "Canon EOS 450D")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd2-DateTimeOriginal", "2024:05:01 12:00:00")
    return bytes(image.jpegsave_buffer(Q=90))


async def measure(runs: int) -> None:
    configure(concurrency=1)
    data = photo_like()
    print(f"JPEG {WIDTH}x{HEIGHT}, {len(data) / 1e6:.1f} MB")
    pool = RenderPool(2, queue_size=10, queue_timeout=600)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        limits = SourceLimits(max_pixels=50_000_000, max_interlaced_pixels=25_000_000, max_frames=300)
        ingestor = Ingestor(FileObjectStore(root / "o"), FileObjectStore(root / "m"), pool, IngestRules(limits))
        await ingestor.ingest(data, "warm-up.jpg", "bench", "api")  # libvips start-up, page cache
        times = []
        for i in range(runs):
            start = time.perf_counter()
            result = await ingestor.ingest(data, f"photo-{i}.jpg", "bench", "api")
            times.append(time.perf_counter() - start)
            assert result.created
        start = time.perf_counter()
        again = await ingestor.ingest(data, "photo-0.jpg", "bench", "api")
        present = time.perf_counter() - start
        assert not again.created
        start = time.perf_counter()
        event = await ingestor.ingest(data, again.key, "bench", "event", key=again.key)
        present_event = time.perf_counter() - start
        assert not event.created
    pool.shutdown()
    print(f"ingest (new): median {1000 * statistics.median(times):.0f} ms over {runs} runs "
          f"(min {1000 * min(times):.0f}, max {1000 * max(times):.0f})")
    print(f"ingest (already present, upload: validated first): {1000 * present:.0f} ms")
    print(f"ingest (already present, event with its key: hash only): {1000 * present_event:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(measure(parser.parse_args().runs))


if __name__ == "__main__":
    main()
