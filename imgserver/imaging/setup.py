"""libvips process settings and the version check, applied once per serving process."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import time

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


_M_ARENA_MAX = -8  # glibc's mallopt parameter number


_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        name = ctypes.util.find_library("c")
        try:
            _libc = ctypes.CDLL(name) if name else None
        except OSError:
            _libc = None
    return _libc


def trim_memory() -> None:
    """Give the heap's free pages back to the OS (glibc's malloc_trim), so resident memory
    after a large render falls back instead of staying at its high-water mark."""
    libc = _glibc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class HeapTrimmer:
    """When to hand freed heap pages back: large renders :meth:`mark` the heap, and the render
    pool trims once it has gone idle, or at most every ``interval`` seconds under load.

    Trimming after every large render cost 1.2 ms per 1920x1080 JPEG (12% of its render):
    the pages given back are faulted in and zeroed again by the next render. Under load the
    freed pages are reused by the next render anyway; once the burst ends, the idle trim brings
    resident memory back down."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.dirty = False
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def mark(self) -> None:
        self.dirty = True

    def trim(self, busy: bool = False) -> bool:
        """Trim if the heap is marked; when ``busy``, only if ``interval`` has passed since
        the last trim. Returns whether it trimmed. Safe from any thread."""
        with self._lock:
            now = time.monotonic()
            if not self.dirty or (busy and now - self._last < self.interval):
                return False
            self.dirty = False
            self._last = now
        trim_memory()
        return True


#: The process's one trimmer (imaging.steps marks it, the render pool trims).
HEAP = HeapTrimmer()


def set_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas for this process (0 leaves glibc's default, 8 per core).

    With one arena per render thread, the large pixel buffers libvips frees stay cached in
    whichever thread's arena freed them, and resident memory grows with the thread count; with
    one arena they are reused (measured: 100 → 75 MB per serving process on 24 MP JPEGs, same
    throughput). Call before starting threads. Returns False where there is no glibc."""
    libc = _glibc()
    if arenas <= 0 or libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def keep_python_off_libvips_threads() -> None:
    """Leave libvips' log messages to GLib (warnings to stderr) instead of pyvips' handler.

    pyvips forwards every libvips log message to Python logging from the thread that emits
    it, and libvips logs from its own worker threads (an INFO at the end of every pipeline, a
    warning for a damaged file): Python, and its garbage collector, then run inside a libvips
    callback. Under the hostile-input tests that aborted the process once (SIGABRT while
    collecting in the callback). GLib's default handler writes the same ``VIPS-WARNING``
    lines to stderr, in C."""
    remove = getattr(pyvips, "_remove_log_handler", None)
    if remove is not None:
        remove()


def libvips_version() -> tuple[int, int, int]:
    return (pyvips.version(0), pyvips.version(1), pyvips.version(2))


def check_version() -> str:
    """The installed libvips version as text; RuntimeError when it is older than MIN_LIBVIPS."""
    version = libvips_version()
    if version < MIN_LIBVIPS:
        wanted = ".".join(map(str, MIN_LIBVIPS))
        raise RuntimeError(f"libvips >= {wanted} is required, found {'.'.join(map(str, version))}")
    return ".".join(map(str, version))


def configure(concurrency: int, allow_svg: bool = False) -> str:
    """Apply the libvips rules of design.md §4; return the version string.

    ``allow_svg`` unblocks libvips' SVG loader (the probe still refuses SVG unless the
    settings allow it, and refuses scripts and external references even then).
    Raises RuntimeError when the installed libvips is older than MIN_LIBVIPS."""
    text = check_version()
    # libvips: no operation cache (every request is new data) and low per-op threading;
    # parallelism comes from concurrent requests in the render pool.
    keep_python_off_libvips_threads()
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)
    concurrency_set(concurrency)
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in ALLOWED_LOADERS:
        pyvips.operation_block_set(loader, False)
    pyvips.operation_block_set("VipsForeignLoadSvg", not allow_svg)
    return text
