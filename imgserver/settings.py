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
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    #: Serving processes forked on one port; 0 means one per CPU core.
    processes: int = 1
    #: Trust X-Forwarded-For / X-Real-Ip (only behind a proxy you control).
    xheaders: bool = False
    #: Seconds to finish in-flight requests after SIGTERM.
    shutdown_timeout: float = 10.0


@dataclass(frozen=True)
class LoaderSettings:
    #: Where originals come from: ``file``.
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
    #: libvips' own worker threads per operation (parallelism comes from requests).
    vips_concurrency: int = 1
    #: Apply EXIF orientation before any geometry (Thumbor's RESPECT_ORIENTATION).
    respect_orientation: bool = True
    #: glibc malloc arenas per serving process; 0 = glibc's default (8 per core). 1 keeps
    #: memory flat: libvips' large buffers are reused instead of cached per thread.
    malloc_arenas: int = 1


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


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    loader: LoaderSettings = field(default_factory=LoaderSettings)
    file: FileSettings = field(default_factory=FileSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    imaging: ImagingSettings = field(default_factory=ImagingSettings)
    formats: FormatsSettings = field(default_factory=FormatsSettings)
    filters: FiltersSettings = field(default_factory=FiltersSettings)
    http: HttpSettings = field(default_factory=HttpSettings)


_SECTION_TYPES: dict[str, type[Any]] = typing.get_type_hints(Settings)
_SECTIONS = tuple(_SECTION_TYPES)
_PATH_SETTINGS = {("file", "root")}
_LOADER_KINDS = ("file",)
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


def _check(settings: Settings) -> list[str]:
    """Cross-field and range checks on an otherwise well-typed Settings."""
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
    if s.loader.kind not in _LOADER_KINDS:
        problems.append(f"loader.kind: must be one of {', '.join(_LOADER_KINDS)} (got {s.loader.kind!r})")
    if s.loader.kind == "file" and not Path(s.file.root).is_dir():
        problems.append(f"file.root: {s.file.root!r} is not a folder")
    if not s.security.allow_unsafe and not s.security.keys:
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
    positive("imaging", "vips_concurrency", s.imaging.vips_concurrency)
    positive("imaging", "malloc_arenas", s.imaging.malloc_arenas, allow_zero=True)
    for name in ("jpeg_quality", "webp_quality", "avif_quality"):
        value = getattr(s.formats, name)
        if not 1 <= value <= 100:
            problems.append(f"formats.{name}: must be 1..100 (got {value})")
    if not 0 <= s.formats.avif_effort <= 9:
        problems.append(f"formats.avif_effort: must be 0..9 (got {s.formats.avif_effort})")
    if not 1 <= s.formats.gif_effort <= 10:
        problems.append(f"formats.gif_effort: must be 1..10 (got {s.formats.gif_effort})")
    if s.formats.png_filter not in PNG_FILTERS:
        problems.append(f"formats.png_filter: must be one of {', '.join(PNG_FILTERS)} (got {s.formats.png_filter!r})")
    if not 0 <= s.formats.png_compression <= 9:
        problems.append(f"formats.png_compression: must be 0..9 (got {s.formats.png_compression})")
    unknown = [f for f in s.formats.preference if f not in ("avif", "webp")]
    if unknown:
        problems.append(f"formats.preference: only avif and webp can be negotiated (got {', '.join(unknown)})")
    positive("filters", "mark_cache_entries", s.filters.mark_cache_entries, allow_zero=True)
    positive("filters", "mark_cache_bytes", s.filters.mark_cache_bytes, allow_zero=True)
    positive("http", "cache_max_age", s.http.cache_max_age, allow_zero=True)
    positive("http", "error_max_age", s.http.error_max_age, allow_zero=True)
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
) -> Settings:
    """Build Settings from defaults, then the TOML file at ``path``, then ``environ``, then
    ``overrides`` (command-line flags). Raises :class:`SettingsError` listing every problem."""
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
    problems.extend(_check(settings))
    if problems:
        raise SettingsError(problems)
    return settings


def effective_threads(settings: Settings) -> int:
    """Render threads to start: the setting, or one per core when it is 0."""
    return settings.imaging.threads or (os.cpu_count() or 1)


def describe(settings: Settings) -> dict[str, dict[str, Any]]:
    """Settings as plain data (for ``imgserver config``), with keys masked."""
    out = {name: dataclasses.asdict(getattr(settings, name)) for name in _SECTIONS}
    out["security"]["keys"] = ["***"] * len(settings.security.keys)
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
