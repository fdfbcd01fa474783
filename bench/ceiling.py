"""The in-process ceiling: the same operation as a scenario, called in a loop with no HTTP,
no event loop and no thread pool, in N processes at once (threads are not the ceiling: the
GIL holds part of every small call). The processes are pinned to CPUs by the same rule as
imgserver's serving processes (``server.cpu_affinity = auto``): unpinned, the scheduler at
times parks two of them on one core, and the ceiling read up to 15% low in single runs.

Two implementations are timed and the faster one is the ceiling:

- ``vips``: the shortest pyvips code for the operation (one ``thumbnail_buffer``, the same
  luma for ``grayscale()``, and one save with the same encoder settings imgserver uses);
- ``render``: imgserver's own ``render()`` (probe + plan + pipeline + encode), called directly.

    python bench/ceiling.py SCENARIO PATH CORPUS DURATION PROCESSES   → prints JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyvips

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from imgserver.affinity import pin  # noqa: E402
from imgserver.imaging.filters.color import LUMA  # noqa: E402
from imgserver.imaging.setup import configure  # noqa: E402
from imgserver.settings import load_settings  # noqa: E402
from imgserver.state import render_settings  # noqa: E402
from imgserver.url.grammar import parse_options  # noqa: E402

NONE = pyvips.enums.ForeignKeep.NONE


def _settings() -> Any:
    return render_settings(
        load_settings(None, environ={}, overrides={("security", "allow_unsafe"): True, ("file", "root"): "."})
    )


def bare_grey(image: pyvips.Image) -> pyvips.Image:
    """grayscale() in bare pyvips: Pillow's luma as a weighted band mean, as imgserver does."""
    return image.linear([3 * w for w in LUMA], [0.5] * 3).bandmean().cast("uchar")


def vips_op(path: str, data: bytes, encode: Any) -> Any:
    """The bare pyvips version of a Thumbor URL path used by the scenarios (no general
    parsing: it knows only the shapes in scenarios.py)."""
    parts = path.split("/")
    fit = parts[0] == "fit-in"
    if fit:
        parts = parts[1:]
    width, height = (int(v) for v in parts[0].split("x"))
    filters = parts[1][len("filters:") :] if parts[1].startswith("filters:") else ""
    quality = None
    fmt = None
    gray = False
    for call in filters.split(":") if filters else []:
        name, _, args = call.partition("(")
        args = args.rstrip(")")
        if name == "quality":
            quality = int(args)
        elif name == "format":
            fmt = args
        elif name == "grayscale":
            gray = True
    animated = path.endswith(".gif")
    option_string = "n=-1" if animated else ""

    def run() -> bytes:
        source = pyvips.Source.new_from_memory(data)  # no copy of the file, as imgserver loads
        if fit:
            image = pyvips.Image.thumbnail_source(source, width, height=height, option_string=option_string)
        elif height == 0:
            image = pyvips.Image.thumbnail_source(source, width, height=10_000_000, option_string=option_string)
        else:
            image = pyvips.Image.thumbnail_source(
                source, width, height=height, crop="centre", option_string=option_string
            )
        if gray:
            # Thumbor's grayscale() is Pillow's "L" (ITU-R 601-2 weights on the sRGB values), as
            # imgserver computes it; colourspace("b-w") would be cheaper but is another image
            # (luminance from linear light: up to 70 levels away), so not the same operation.
            image = bare_grey(image)
        out = fmt or {".jpg": "jpeg", ".png": "png", ".webp": "webp", ".gif": "gif"}[Path(path).suffix]
        if out == "jpeg":
            return bytes(
                image.jpegsave_buffer(
                    Q=quality or 80,
                    optimize_coding=getattr(encode, "jpeg_optimize", True),
                    interlace=encode.jpeg_progressive,
                    keep=NONE,
                )
            )
        if out == "png":
            png_filter = getattr(encode, "png_filter", None)
            if png_filter is None:
                return bytes(image.pngsave_buffer(compression=encode.png_compression, keep=NONE))
            return bytes(image.pngsave_buffer(compression=encode.png_compression, filter=png_filter, keep=NONE))
        if out == "webp":
            return bytes(image.webpsave_buffer(Q=quality or 80, keep=NONE))
        # The same encoder settings as the server under test (older checkouts lack some).
        names = ("effort", "dither", "bitdepth")
        gif = {name: getattr(encode, f"gif_{name}") for name in names if hasattr(encode, f"gif_{name}")}
        return bytes(image.gifsave_buffer(keep=NONE, **gif))

    return run


def render_op(path: str, data: bytes, settings: Any) -> Any:
    from imgserver.imaging.steps import render

    parsed = parse_options(None, path)

    def run() -> bytes:
        return render(data, parsed, settings).body

    return run


def worker(mode: str, path: str, corpus: str, start: float, stop: float, index: int, processes: int) -> None:
    pin(index, processes, "auto")  # before libvips starts its threads: they inherit the mask
    configure(1)
    settings = _settings()
    key = unquote(path.rsplit("/", 1)[1])
    data = (Path(corpus) / key).read_bytes()
    run = vips_op(path, data, settings.encode) if mode == "vips" else render_op(path, data, settings)
    run()  # warm: first-call costs (loader init, type lookups) are not per-request costs
    while time.time() < start:
        time.sleep(0.001)
    count = 0
    cpu = time.process_time()  # the whole process: libvips' worker threads too
    while time.time() < stop:
        run()
        count += 1
    print(json.dumps({"ops": count, "seconds": time.time() - start, "cpu": time.process_time() - cpu}))


def measure(mode: str, path: str, corpus: str, duration: float, processes: int) -> tuple[float, float]:
    """Operations per second of ``processes`` processes looping ``mode`` for ``duration``, and
    their CPU milliseconds per operation."""
    start = time.time() + 1.5  # after every worker has imported and warmed up
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                mode,
                path,
                corpus,
                str(start),
                str(start + duration),
                str(index),
                str(processes),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(processes)
    ]
    total = cpu = 0.0
    ops = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=duration + 120)
        result = json.loads(out.strip().splitlines()[-1])
        total += result["ops"] / max(result["seconds"], 1e-9)
        cpu += result["cpu"]
        ops += result["ops"]
    return total, 1000 * cpu / max(ops, 1)


def ceiling(path: str, corpus: str, duration: float, processes: int) -> dict[str, tuple[float, float]]:
    """Per mode: (operations per second, CPU ms per operation)."""
    return {mode: measure(mode, path, corpus, duration, processes) for mode in ("vips", "render")}


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        os.environ.setdefault("VIPS_CONCURRENCY", "1")
        _, _, mode, path, corpus, start, stop, index, processes = sys.argv
        worker(mode, path, corpus, float(start), float(stop), int(index), int(processes))
    else:
        _, scenario_path, corpus_dir, seconds, count = sys.argv
        print(json.dumps(ceiling(scenario_path, corpus_dir, float(seconds), int(count))))
