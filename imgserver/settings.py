"""Settings: frozen dataclasses, loaded from a TOML file and then ``IMGSERVER_*`` env vars.

Every setting lives in a section and can be overridden by ``IMGSERVER_<SECTION>_<NAME>``
(lists are comma-separated, booleans are true/false/1/0/yes/no). Loading checks every
value and reports *all* problems at once in one :class:`SettingsError`, so an operator
fixes a broken config in one round instead of one error per restart.

Relative paths in a config file are relative to that file's folder; relative paths from the
environment are relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgserver.affinity import MODES as _AFFINITY_MODES
from imgserver.affinity import usable_cpus

ENV_PREFIX = "IMGSERVER_"


class SettingsError(Exception):
    """One or more invalid settings; ``problems`` lists each one as a readable line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8888
    #: Serving processes forked on one port; 0 means one per usable CPU core.
    processes: int = 1
    #: Trust X-Forwarded-For / X-Real-Ip (only behind a proxy you control).
    xheaders: bool = False
    #: Seconds to finish in-flight requests after SIGTERM.
    shutdown_timeout: float = 10.0
    #: ``auto``: when every usable CPU gets the same number of serving processes (one per
    #: core: ``processes = 0``), pin each to its CPU (imgserver.affinity); ``off``: leave
    #: scheduling to the OS.
    cpu_affinity: str = "auto"


@dataclass(frozen=True)
class LoaderSettings:
    #: Where originals come from: ``file``, ``s3`` or ``http``.
    kind: str = "file"


@dataclass(frozen=True)
class FileSettings:
    #: Folder the file loader serves keys from.
    root: str = "samples"


@dataclass(frozen=True)
class SecuritySettings:
    #: Accept ``/unsafe/…`` URLs (no signature). Off in production.
    allow_unsafe: bool = False
    #: HMAC keys; the first signs, all verify (rotation).
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class LimitsSettings:
    max_source_bytes: int = 32 * 1024 * 1024
    max_source_pixels: int = 50_000_000
    #: Progressive JPEG / interlaced PNG must be decoded whole: a lower pixel ceiling.
    max_interlaced_pixels: int = 25_000_000
    max_output_width: int = 8192
    max_output_height: int = 8192
    max_frames: int = 300


@dataclass(frozen=True)
class ImagingSettings:
    #: Threads rendering images (the only place libvips runs); 0 means one per core.
    threads: int = 0
    #: Requests allowed to wait for a render thread before new ones get 503.
    queue_size: int = 64
    #: Seconds a request may wait for a render thread; after that it gets 503 unrendered.
    queue_timeout: float = 10.0
    #: libvips' own worker threads per operation (parallelism comes from requests).
    vips_concurrency: int = 1
    #: Apply EXIF orientation before any geometry (Thumbor's RESPECT_ORIENTATION).
    respect_orientation: bool = True
    #: Concurrent requests for one result share one load and one render (per process).
    coalesce: bool = True
    #: Seconds a finished render stays joinable by identical requests (0: only while running).
    coalesce_linger: float = 0.5
    #: glibc malloc arenas per serving process; 0 = glibc's default (8 per core). 1 keeps
    #: memory flat: libvips' large buffers are reused instead of cached per thread.
    malloc_arenas: int = 1
    #: Renders of sources with an alpha channel that may run at once in one serving process;
    #: 0 = one per core machine-wide (cores / serving processes, at least 1). They resize
    #: premultiplied in float, ~4x the memory of an opaque render.
    alpha_renders: int = 0


@dataclass(frozen=True)
class FormatsSettings:
    #: Serve WebP / AVIF to clients whose Accept header takes them (no explicit format()).
    auto_webp: bool = False
    auto_avif: bool = False
    #: Serve opaque PNG sources as JPEG (Thumbor's AUTO_PNG_TO_JPG; also the autojpg() filter).
    auto_png_to_jpg: bool = False
    #: Order to try negotiated formats in.
    preference: tuple[str, ...] = ("avif", "webp")
    #: Accept SVG sources (off: SVG can carry scripts and external references).
    allow_svg: bool = False
    jpeg_quality: int = 80
    jpeg_progressive: bool = False
    #: Optimised Huffman tables: ~1.7% smaller JPEGs for ~8-10% more CPU per render (lossless).
    jpeg_optimize: bool = False
    webp_quality: int = 80
    avif_quality: int = 50
    #: AVIF encoder effort 0 (fastest) .. 9 (smallest).
    avif_effort: int = 2
    png_compression: int = 6
    #: PNG row filter: none, sub, up, avg, paeth or all (adaptive). libvips' default, none,
    #: makes photo-like PNGs ~55% larger than Pillow's; paeth costs ~10% more encode time.
    png_filter: str = "paeth"
    #: GIF encoder effort 1 (fastest) .. 10 (smallest); libvips' default 7 is ~5x slower.
    gif_effort: int = 1
    #: GIF dithering strength 0 (none: banding on gradients) .. 1 (libvips' default, full
    #: Floyd-Steinberg). 0.5 looks the same as 1 on resized animations and quantises ~15% faster.
    gif_dither: float = 0.5
    #: GIF palette size as bits: 8 = 256 colours (libvips' default), 7 = 128. Mapping every
    #: pixel to its nearest palette colour is most of a GIF's cost, and halving the palette
    #: makes a resized animation ~40% cheaper and ~20% smaller; at 1x it looks the same.
    gif_bitdepth: int = 7


@dataclass(frozen=True)
class FiltersSettings:
    #: Watermark / frame images kept decoded in memory between requests (per process).
    mark_cache_entries: int = 32
    #: Total bytes of cached marks (their encoded size).
    mark_cache_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class HttpSettings:
    #: ``Cache-Control: public, max-age=`` on images and /meta.
    cache_max_age: int = 86400
    #: ``max-age`` sent with 4xx answers so a CDN does not hammer the origin; 0 = no header.
    error_max_age: int = 60
    #: Origins allowed to read images and /meta cross-origin (CORS); empty = CORS off;
    #: ``*`` = any origin (images are public anyway).
    cors_origins: tuple[str, ...] = ()


# --- issue 4: S3, result cache, HTTP loader (kept together for an easy merge) ---


@dataclass(frozen=True)
class S3Settings:
    #: Empty = AWS's own endpoint for ``region``; set for S3-compatible stores.
    endpoint_url: str = ""
    region: str = "us-east-1"
    originals_bucket: str = ""
    results_bucket: str = ""
    metadata_bucket: str = ""
    #: Prepended to every image key to form the originals' object key.
    prefix: str = ""
    #: ``auto``, ``path`` or ``virtual`` (S3-compatible stores usually need ``path``).
    addressing_style: str = "auto"
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    #: Attempts per S3 call (1 = no retry); connection faults and 5xx are retried.
    max_attempts: int = 3
    max_pool_connections: int = 32


@dataclass(frozen=True)
class ResultCacheSettings:
    #: ``none``, ``file`` (below ``root``) or ``s3`` (``s3.results_bucket``).
    kind: str = "none"
    #: Seconds a stored result is served; 0 = until its source changes.
    ttl: int = 0
    #: Folder of the ``file`` result cache.
    root: str = "results"


@dataclass(frozen=True)
class HttpLoaderSettings:
    #: Host literals (``img.example.org``) or anchored regexes (``^https://…$``) on the URL.
    allowed_sources: tuple[str, ...] = ()
    #: Scheme for keys that have none (Thumbor prepends ``http://``).
    default_scheme: str = "http"
    connect_timeout: float = 2.0
    request_timeout: float = 10.0
    max_redirects: int = 3
    #: Allow 127.0.0.0/8 and ::1 (tests only; every other private range stays refused).
    allow_loopback: bool = False


@dataclass(frozen=True)
class UploadSettings:
    #: Serve the upload API (POST /image …) and the console.
    enabled: bool = False
    #: Bearer tokens as "name:secret"; the name is recorded as the uploader.
    tokens: tuple[str, ...] = ()
    #: Largest upload body; bigger ones get 413 before the rest is read.
    max_bytes: int = 32 * 1024 * 1024
    min_width: int = 1
    min_height: int = 1
    #: Keep GPS coordinates in metadata documents (otherwise only has_gps).
    allow_gps: bool = False


@dataclass(frozen=True)
class StorageSettings:
    #: Where uploads and metadata documents go: ``file`` (below ``root``) or ``s3``
    #: (originals in ``s3.originals_bucket`` under ``s3.prefix``, documents in ``s3.metadata_bucket``).
    kind: str = "file"
    #: file: originals in <root>/originals, metadata in <root>/metadata.
    root: str = "data"


# --- issue 5: the S3-event worker (imgserver worker) ---


@dataclass(frozen=True)
class WorkerSettings:
    #: The SQS queue receiving the originals bucket's ObjectCreated/ObjectRemoved notifications.
    queue_url: str = ""
    #: Empty = AWS's SQS endpoint for ``s3.region``; set for an SQS-compatible server.
    endpoint_url: str = ""
    #: Long-poll wait of one receive, 0..20 seconds.
    wait_seconds: int = 20
    #: Messages per receive, 1..10.
    batch_size: int = 10
    #: Seconds a received message stays hidden while it is processed (a failed one reappears
    #: after it); 0 = the queue's own setting.
    visibility_timeout: int = 120
    #: The queue's redrive ``maxReceiveCount``: a message failing this often goes to the DLQ.
    max_receives: int = 5


@dataclass(frozen=True)
class LogSettings:
    #: ``text`` for people, ``json`` (one object per line, with request ids) for pipelines.
    format: str = "text"
    level: str = "info"


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    loader: LoaderSettings = field(default_factory=LoaderSettings)
    file: FileSettings = field(default_factory=FileSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    result_cache: ResultCacheSettings = field(default_factory=ResultCacheSettings)
    http_loader: HttpLoaderSettings = field(default_factory=HttpLoaderSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    imaging: ImagingSettings = field(default_factory=ImagingSettings)
    formats: FormatsSettings = field(default_factory=FormatsSettings)
    filters: FiltersSettings = field(default_factory=FiltersSettings)
    upload: UploadSettings = field(default_factory=UploadSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    log: LogSettings = field(default_factory=LogSettings)


_SECTION_TYPES: dict[str, type[Any]] = typing.get_type_hints(Settings)
_SECTIONS = tuple(_SECTION_TYPES)
_PATH_SETTINGS = {("file", "root"), ("storage", "root"), ("result_cache", "root")}
_LOADER_KINDS = ("file", "s3", "http")
_RESULT_CACHE_KINDS = ("none", "file", "s3")
_STORAGE_KINDS = ("file", "s3")
PNG_FILTERS = ("none", "sub", "up", "avg", "paeth", "all")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _field_types(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, kind: Any, from_env: bool) -> Any:
    """Convert one raw value to ``kind``; raise ValueError with a short reason."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("expected true or false")
    if kind is int:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        if isinstance(value, int):
            return value
        if from_env and isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
        raise ValueError("expected an integer")
    if kind is float:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        if isinstance(value, int | float):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError("expected a number")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError("expected a string")
    origin = typing.get_origin(kind)
    if origin is tuple:
        if from_env and isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError("expected a list of strings")
    raise TypeError(f"unsupported setting type {kind!r}")  # a bug in this module


def _check(settings: Settings, serving: bool = True) -> list[str]:
    """Cross-field and range checks on an otherwise well-typed Settings. ``serving`` False
    (ingest, worker, Lambda) skips what only the image server needs: signing keys and the
    file loader's folder."""
    problems: list[str] = []
    s = settings

    def positive(section: str, name: str, value: float, allow_zero: bool = False) -> None:
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            problems.append(f"{section}.{name}: must be {bound} (got {value})")

    if not 0 <= s.server.port <= 65535:
        problems.append(f"server.port: must be 0..65535 (got {s.server.port})")
    positive("server", "processes", s.server.processes, allow_zero=True)
    positive("server", "shutdown_timeout", s.server.shutdown_timeout, allow_zero=True)
    if s.server.cpu_affinity not in _AFFINITY_MODES:
        problems.append(
            f"server.cpu_affinity: must be one of {', '.join(_AFFINITY_MODES)} (got {s.server.cpu_affinity!r})"
        )
    if s.loader.kind not in _LOADER_KINDS:
        problems.append(f"loader.kind: must be one of {', '.join(_LOADER_KINDS)} (got {s.loader.kind!r})")
    if serving and s.loader.kind == "file" and not Path(s.file.root).is_dir():
        problems.append(f"file.root: {s.file.root!r} is not a folder")
    if serving and not s.security.allow_unsafe and not s.security.keys:
        problems.append("security.keys: empty while allow_unsafe is false, so no URL could be served")
    if any(not k for k in s.security.keys):
        problems.append("security.keys: keys must not be empty strings")
    for name in (
        "max_source_bytes",
        "max_source_pixels",
        "max_interlaced_pixels",
        "max_output_width",
        "max_output_height",
        "max_frames",
    ):
        positive("limits", name, getattr(s.limits, name))
    positive("imaging", "threads", s.imaging.threads, allow_zero=True)
    positive("imaging", "queue_size", s.imaging.queue_size, allow_zero=True)
    positive("imaging", "queue_timeout", s.imaging.queue_timeout)
    if not 0 <= s.imaging.coalesce_linger <= 5:  # NaN fails too; results are held this long
        problems.append(f"imaging.coalesce_linger: must be 0..5 seconds (got {s.imaging.coalesce_linger})")
    positive("imaging", "vips_concurrency", s.imaging.vips_concurrency)
    positive("imaging", "malloc_arenas", s.imaging.malloc_arenas, allow_zero=True)
    positive("imaging", "alpha_renders", s.imaging.alpha_renders, allow_zero=True)
    for name in ("jpeg_quality", "webp_quality", "avif_quality"):
        value = getattr(s.formats, name)
        if not 1 <= value <= 100:
            problems.append(f"formats.{name}: must be 1..100 (got {value})")
    if not 0 <= s.formats.avif_effort <= 9:
        problems.append(f"formats.avif_effort: must be 0..9 (got {s.formats.avif_effort})")
    if not 1 <= s.formats.gif_effort <= 10:
        problems.append(f"formats.gif_effort: must be 1..10 (got {s.formats.gif_effort})")
    if not 0 <= s.formats.gif_dither <= 1:
        problems.append(f"formats.gif_dither: must be 0..1 (got {s.formats.gif_dither})")
    if not 1 <= s.formats.gif_bitdepth <= 8:
        problems.append(f"formats.gif_bitdepth: must be 1..8 (got {s.formats.gif_bitdepth})")
    if s.formats.png_filter not in PNG_FILTERS:
        problems.append(f"formats.png_filter: must be one of {', '.join(PNG_FILTERS)} (got {s.formats.png_filter!r})")
    if not 0 <= s.formats.png_compression <= 9:
        problems.append(f"formats.png_compression: must be 0..9 (got {s.formats.png_compression})")
    unknown = [f for f in s.formats.preference if f not in ("avif", "webp")]
    if unknown:
        problems.append(f"formats.preference: only avif and webp can be negotiated (got {', '.join(unknown)})")
    if s.upload.enabled and not s.upload.tokens:
        problems.append("upload.tokens: empty while upload.enabled is true, so nobody could upload")
    for token in s.upload.tokens:
        name, sep, secret = token.partition(":")
        if not (name and sep and secret):
            problems.append(f"upload.tokens: {name or token[:8]!r}… must look like name:secret")
    positive("upload", "max_bytes", s.upload.max_bytes)
    positive("upload", "min_width", s.upload.min_width)
    positive("upload", "min_height", s.upload.min_height)
    problems.extend(_check_storage(s))
    positive("filters", "mark_cache_entries", s.filters.mark_cache_entries, allow_zero=True)
    positive("filters", "mark_cache_bytes", s.filters.mark_cache_bytes, allow_zero=True)
    if s.log.format not in ("text", "json"):
        problems.append(f"log.format: must be text or json (got {s.log.format!r})")
    if s.log.level.lower() not in ("debug", "info", "warning", "error"):
        problems.append(f"log.level: must be debug, info, warning or error (got {s.log.level!r})")
    for origin in s.http.cors_origins:
        if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d+)?", origin):
            problems.append(f"http.cors_origins: {origin!r} must be * or scheme://host[:port]")
    positive("http", "cache_max_age", s.http.cache_max_age, allow_zero=True)
    positive("http", "error_max_age", s.http.error_max_age, allow_zero=True)
    problems.extend(_check_remote(s))
    return problems


def _check_remote(s: Settings) -> list[str]:
    """Checks of the S3, result-cache and HTTP-loader sections."""
    problems: list[str] = []
    for name in ("connect_timeout", "read_timeout", "max_attempts", "max_pool_connections"):
        if getattr(s.s3, name) <= 0:
            problems.append(f"s3.{name}: must be > 0 (got {getattr(s.s3, name)})")
    if s.s3.addressing_style not in ("auto", "path", "virtual"):
        problems.append(f"s3.addressing_style: must be auto, path or virtual (got {s.s3.addressing_style!r})")
    if s.loader.kind == "s3" and not s.s3.originals_bucket:
        problems.append("s3.originals_bucket: required when loader.kind is s3")
    kind = s.result_cache.kind
    if kind not in _RESULT_CACHE_KINDS:
        problems.append(f"result_cache.kind: must be one of {', '.join(_RESULT_CACHE_KINDS)} (got {kind!r})")
    if s.result_cache.ttl < 0:
        problems.append(f"result_cache.ttl: must be >= 0 (got {s.result_cache.ttl})")
    if kind == "s3" and not s.s3.results_bucket:
        problems.append("s3.results_bucket: required when result_cache.kind is s3")
    if kind == "s3" and s.s3.results_bucket == s.s3.originals_bucket:
        problems.append("s3.results_bucket: must differ from s3.originals_bucket")
    same_root = Path(s.result_cache.root).resolve() == Path(s.file.root).resolve()
    if kind == "file" and s.loader.kind == "file" and same_root:
        problems.append("result_cache.root: must differ from file.root")
    h = s.http_loader
    for name in ("connect_timeout", "request_timeout"):
        if getattr(h, name) <= 0:
            problems.append(f"http_loader.{name}: must be > 0 (got {getattr(h, name)})")
    if h.max_redirects < 0:
        problems.append(f"http_loader.max_redirects: must be >= 0 (got {h.max_redirects})")
    if h.default_scheme not in ("http", "https"):
        problems.append(f"http_loader.default_scheme: must be http or https (got {h.default_scheme!r})")
    if s.loader.kind == "http" and not h.allowed_sources:
        problems.append("http_loader.allowed_sources: empty while loader.kind is http, so no source could load")
    for pattern in h.allowed_sources:
        if pattern.startswith("^"):
            if not pattern.endswith("$"):
                problems.append(f"http_loader.allowed_sources: regex {pattern!r} must end with $ (anchored)")
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"http_loader.allowed_sources: {pattern!r} is not a valid regex: {exc}")
        elif not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?", pattern):
            problems.append(f"http_loader.allowed_sources: {pattern!r} is neither a host nor a ^…$ regex")
    return problems


def _check_storage(s: Settings) -> list[str]:
    """Checks of the storage and worker sections (issue 5)."""
    problems: list[str] = []
    if s.storage.kind not in _STORAGE_KINDS:
        problems.append(f"storage.kind: must be one of {', '.join(_STORAGE_KINDS)} (got {s.storage.kind!r})")
    if s.storage.kind == "s3":
        if not s.s3.originals_bucket:
            problems.append("s3.originals_bucket: required when storage.kind is s3")
        if not s.s3.metadata_bucket:
            problems.append("s3.metadata_bucket: required when storage.kind is s3")
        elif s.s3.metadata_bucket in (s.s3.originals_bucket, s.s3.results_bucket):
            # Documents in the originals bucket would raise events of their own; in the
            # results bucket its expiry rules would delete them.
            problems.append("s3.metadata_bucket: must differ from s3.originals_bucket and s3.results_bucket")
    w = s.worker
    if not 0 <= w.wait_seconds <= 20:
        problems.append(f"worker.wait_seconds: must be 0..20 (got {w.wait_seconds})")
    if not 1 <= w.batch_size <= 10:
        problems.append(f"worker.batch_size: must be 1..10 (got {w.batch_size})")
    if not 0 <= w.visibility_timeout <= 43200:
        problems.append(f"worker.visibility_timeout: must be 0..43200 (got {w.visibility_timeout})")
    if not 1 <= w.max_receives <= 1000:
        problems.append(f"worker.max_receives: must be 1..1000 (got {w.max_receives})")
    return problems


def _env_overrides(environ: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Map ``IMGSERVER_<SECTION>_<NAME>`` variables to (section, name); unknown ones are kept
    as (``""``, variable) so they can be reported."""
    found: dict[tuple[str, str], str] = {}
    sections = sorted(_SECTIONS, key=len, reverse=True)  # longest first: result_cache before result
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG":
            continue
        rest = var[len(ENV_PREFIX):].lower()
        for section in sections:
            if rest.startswith(section + "_"):
                found[(section, rest[len(section) + 1:])] = value
                break
        else:
            found[("", var)] = value
    return found


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, str], Any] | None = None,
    serving: bool = True,
) -> Settings:
    """Build Settings from defaults, then the TOML file at ``path``, then ``environ``, then
    ``overrides`` (command-line flags). Raises :class:`SettingsError` listing every problem.
    ``serving`` False is for processes that never serve images (see ``_check``)."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, dict[str, tuple[Any, bool, Path | None]]] = {}

    if path is not None:
        config_path = Path(path)
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError([f"config file {str(config_path)!r}: {exc.strerror or exc}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"config file {str(config_path)!r}: not valid TOML: {exc}"]) from None
        for section, values in data.items():
            if section not in _SECTIONS:
                problems.append(f"{config_path.name}: unknown section [{section}]")
                continue
            if not isinstance(values, dict):
                problems.append(f"{config_path.name}: {section} must be a [section]")
                continue
            for name, value in values.items():
                raw.setdefault(section, {})[name] = (value, False, config_path.parent)

    for (section, name), value in _env_overrides(environ).items():
        if not section:
            problems.append(f"{name}: unknown setting")
            continue
        raw.setdefault(section, {})[name] = (value, True, None)

    for (section, name), value in (overrides or {}).items():
        raw.setdefault(section, {})[name] = (value, False, None)

    built: dict[str, Any] = {}
    for section, cls in _SECTION_TYPES.items():
        types_ = _field_types(cls)
        kwargs: dict[str, Any] = {}
        for name, (value, from_env, base) in raw.get(section, {}).items():
            where = f"{ENV_PREFIX}{section.upper()}_{name.upper()}" if from_env else f"{section}.{name}"
            if name not in types_:
                problems.append(f"{where}: unknown setting")
                continue
            try:
                converted = _convert(value, types_[name], from_env)
            except ValueError as exc:
                problems.append(f"{where}: {exc} (got {value!r})")
                continue
            if (section, name) in _PATH_SETTINGS and base is not None:
                converted = str((base / converted).resolve()) if not Path(converted).is_absolute() else converted
            kwargs[name] = converted
        built[section] = cls(**kwargs)

    settings = Settings(**built)
    problems.extend(_check(settings, serving))
    if problems:
        raise SettingsError(problems)
    return settings


def effective_threads(settings: Settings) -> int:
    """Render threads to start: the setting, or one per usable CPU when it is 0."""
    return settings.imaging.threads or usable_cpus()


def effective_alpha_renders(settings: Settings) -> int:
    """Alpha renders allowed at once per serving process: the setting, or when it is 0 the
    process's share of the cores (one per core across all serving processes, at least 1)."""
    if settings.imaging.alpha_renders:
        return settings.imaging.alpha_renders
    cores = usable_cpus()
    return max(1, cores // (settings.server.processes or cores))


def describe(settings: Settings) -> dict[str, dict[str, Any]]:
    """Settings as plain data (for ``imgserver config``), with keys masked."""
    out = {name: dataclasses.asdict(getattr(settings, name)) for name in _SECTIONS}
    out["security"]["keys"] = ["***"] * len(settings.security.keys)
    out["upload"]["tokens"] = [t.partition(":")[0] + ":***" for t in settings.upload.tokens]
    for section in out.values():
        for key, value in section.items():
            if isinstance(value, tuple):
                section[key] = list(value)
    return out


__all__ = [
    "Settings",
    "SettingsError",
    "describe",
    "effective_threads",
    "load_settings",
]
