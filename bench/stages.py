"""Where a small render's time goes: CPU per stage of the rotated + grayscale scenario and
libvips' fixed costs per call, in one process, no HTTP (``make stages``).

Each stage is timed as a cumulative chain (decode, + resize, + rotation buffer, ...), the
chains interleaved over several rounds and the median kept: this machine's speed drifts by
tens of percent over minutes, so only stages timed side by side can be compared.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pyvips  # noqa: E402

from bench.ceiling import _settings, bare_grey, render_op  # noqa: E402
from bench.corpus import write  # noqa: E402
from imgserver.imaging.setup import configure  # noqa: E402

ROTATED = "300x0/filters:quality(70):grayscale()/rotated-640x480.jpg"


def chains(data: bytes) -> dict[str, Callable[[], object]]:
    """The rotated scenario built up a stage at a time, plus libvips' fixed costs."""

    def load() -> pyvips.Image:
        return pyvips.Image.jpegload_source(pyvips.Source.new_from_memory(data), access="sequential")

    def resized() -> pyvips.Image:
        return load().resize(400 / 640, vscale=300 / 480)

    def upright() -> pyvips.Image:
        return resized().copy_memory().rot90()

    tiny = pyvips.Image.black(8, 8, bands=3).copy_memory()
    none = pyvips.enums.ForeignKeep.NONE
    return {
        "decode 640x480": lambda: load().copy_memory(),
        "+ resize to 400x300 (lanczos3)": lambda: resized().copy_memory(),
        "+ rotation buffer (copy_memory + rot90)": lambda: upright().copy_memory(),
        "+ grayscale (linear + bandmean + cast)": lambda: bare_grey(upright()).copy_memory(),
        "+ JPEG save (Q70): the bare pyvips chain": lambda: bare_grey(upright()).jpegsave_buffer(Q=70, keep=none),
        "imgserver render() (probe, plan, filters, encode)": render_op(ROTATED, data, _settings()),
        "fixed: one lazy operation call": lambda: tiny.invert(),
        "fixed: one pipeline evaluation (8x8 copy_memory)": lambda: (tiny + 1).copy_memory(),
        "fixed: JPEG save of an 8x8 image": lambda: tiny.jpegsave_buffer(Q=70, keep=none),
    }


def main() -> None:
    configure(1)
    corpus = HERE / ".corpus"
    write(corpus)
    data = (corpus / "rotated-640x480.jpg").read_bytes()
    runs = chains(data)
    for fn in runs.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(7):
        for name, fn in runs.items():
            count = 20
            start = time.process_time()
            for _ in range(count):
                fn()
            samples[name].append((time.process_time() - start) / count * 1000)
    print(f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, CPU ms per call (median of 7):")
    for name, values in samples.items():
        print(f"  {name:52s} {statistics.median(values):7.2f}")


if __name__ == "__main__":
    main()
