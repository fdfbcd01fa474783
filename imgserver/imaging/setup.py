"""libvips process settings and the version check, applied once per serving process."""

from __future__ import annotations

import pyvips
from pyvips.voperation import concurrency_set

MIN_LIBVIPS = (8, 18, 1)

# Only these loaders may run; everything else (SVG, PDF, Magick, Matlab, CSV, raw…) is
# blocked, so a hostile upload cannot reach a script-carrying or exotic decoder.
ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadHeif",
    "VipsForeignLoadTiff",
)


def libvips_version() -> tuple[int, int, int]:
    return (pyvips.version(0), pyvips.version(1), pyvips.version(2))


def configure(concurrency: int, allow_svg: bool = False) -> str:
    """Apply the libvips rules of design.md §4; return the version string.

    ``allow_svg`` unblocks libvips' SVG loader (the probe still refuses SVG unless the
    settings allow it, and refuses scripts and external references even then).
    Raises RuntimeError when the installed libvips is older than MIN_LIBVIPS."""
    version = libvips_version()
    if version < MIN_LIBVIPS:
        wanted = ".".join(map(str, MIN_LIBVIPS))
        raise RuntimeError(f"libvips >= {wanted} is required, found {'.'.join(map(str, version))}")
    # libvips: no operation cache (every request is new data) and low per-op threading;
    # parallelism comes from concurrent requests in the render pool.
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)
    concurrency_set(concurrency)
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in ALLOWED_LOADERS:
        pyvips.operation_block_set(loader, False)
    pyvips.operation_block_set("VipsForeignLoadSvg", not allow_svg)
    return ".".join(map(str, version))
