"""Settings: TOML, env overrides, every problem reported at once, and the docs stay complete."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from imgserver.settings import Settings, SettingsError, describe, effective_alpha_renders, load_settings

REPO = Path(__file__).resolve().parents[2]


def base_env(tmp_path: Path) -> dict[str, str]:
    return {"IMGSERVER_FILE_ROOT": str(tmp_path), "IMGSERVER_SECURITY_ALLOW_UNSAFE": "true"}


def test_defaults_refuse_to_serve_nothing(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(None, environ={"IMGSERVER_FILE_ROOT": str(tmp_path)})
    assert any("security.keys" in p for p in info.value.problems)
    # Processes that never serve images (worker, Lambda, bulk import) need no signing key.
    load_settings(None, environ={"IMGSERVER_FILE_ROOT": str(tmp_path)}, serving=False)


@pytest.mark.parametrize(
    ("var", "value", "section", "name", "expected"),
    [
        ("IMGSERVER_SERVER_PORT", "9000", "server", "port", 9000),
        ("IMGSERVER_SERVER_HOST", "0.0.0.0", "server", "host", "0.0.0.0"),
        ("IMGSERVER_SERVER_PROCESSES", "0", "server", "processes", 0),
        ("IMGSERVER_SERVER_SHUTDOWN_TIMEOUT", "2.5", "server", "shutdown_timeout", 2.5),
        ("IMGSERVER_SERVER_CPU_AFFINITY", "off", "server", "cpu_affinity", "off"),
        ("IMGSERVER_SECURITY_KEYS", "a, b ,c", "security", "keys", ("a", "b", "c")),
        ("IMGSERVER_SECURITY_ALLOW_UNSAFE", "no", "security", "allow_unsafe", False),
        ("IMGSERVER_SECURITY_ALLOW_UNSAFE", "YES", "security", "allow_unsafe", True),
        ("IMGSERVER_LIMITS_MAX_SOURCE_PIXELS", "1_000_000", "limits", "max_source_pixels", 1_000_000),
        ("IMGSERVER_FORMATS_JPEG_PROGRESSIVE", "1", "formats", "jpeg_progressive", True),
        ("IMGSERVER_FORMATS_AUTO_WEBP", "true", "formats", "auto_webp", True),
        ("IMGSERVER_FORMATS_PREFERENCE", "webp,avif", "formats", "preference", ("webp", "avif")),
        ("IMGSERVER_HTTP_ERROR_MAX_AGE", "0", "http", "error_max_age", 0),
        ("IMGSERVER_FORMATS_GIF_DITHER", "0.75", "formats", "gif_dither", 0.75),
        ("IMGSERVER_FORMATS_GIF_BITDEPTH", "8", "formats", "gif_bitdepth", 8),
    ],
)
def test_env_overrides(tmp_path: Path, var: str, value: str, section: str, name: str, expected: object) -> None:
    env = base_env(tmp_path) | {"IMGSERVER_SECURITY_KEYS": "k"} | {var: value}
    settings = load_settings(None, environ=env)
    assert getattr(getattr(settings, section), name) == expected


def test_toml_then_env_then_flags(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    config = tmp_path / "c.toml"
    config.write_text('[server]\nport = 1000\nhost = "::1"\n[file]\nroot = "images"\n[security]\nkeys = ["x"]\n')
    settings = load_settings(
        config,
        environ={"IMGSERVER_SERVER_PORT": "2000"},
        overrides={("server", "host"): "127.0.0.2"},
    )
    assert settings.server.port == 2000  # env beats the file
    assert settings.server.host == "127.0.0.2"  # flags beat both
    assert settings.file.root == str((tmp_path / "images").resolve())  # relative to the file


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[server]\nport = 70000\nprocesses = "two"\ncpu_affinity = "always"\n'
        "[typo]\na = 1\n[formats]\njpeg_quality = 0\ngif_dither = 1.5\n"
        "gif_bitdepth = 9\n"
        "[imaging]\ncoalesce_linger = inf\n"
    )
    env = {
        "IMGSERVER_FILE_ROOT": str(tmp_path / "missing"),
        "IMGSERVER_LIMITS_MAX_FRAMES": "lots",
        "IMGSERVER_WHAT": "1",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(config, environ=env)
    text = str(info.value)
    for expected in (
        "server.port: must be 0..65535",
        "server.processes: expected an integer",
        "server.cpu_affinity: must be one of auto, off (got 'always')",
        "unknown section [typo]",
        "formats.jpeg_quality: must be 1..100",
        "formats.gif_dither: must be 0..1",
        "formats.gif_bitdepth: must be 1..8",
        "imaging.coalesce_linger: must be 0..5 seconds",
        "file.root:",
        "IMGSERVER_LIMITS_MAX_FRAMES: expected an integer",
        "IMGSERVER_WHAT: unknown setting",
        "security.keys: empty while allow_unsafe is false",
    ):
        assert expected in text, text
    assert len(info.value.problems) == 12


def test_bad_toml_is_one_clear_problem(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[server\nport = 1\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config, environ={})
    with pytest.raises(SettingsError, match="No such file"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_describe_masks_keys(tmp_path: Path) -> None:
    settings = load_settings(None, environ=base_env(tmp_path) | {"IMGSERVER_SECURITY_KEYS": "secret1,secret2"})
    described = describe(settings)
    assert described["security"]["keys"] == ["***", "***"]
    assert "secret1" not in repr(described)


def test_shipped_configs_load(tmp_path: Path) -> None:
    local = load_settings(REPO / "config" / "imgserver.toml", environ={"IMGSERVER_FILE_ROOT": str(tmp_path)})
    assert local.security.allow_unsafe is True
    assert local.storage.root == str(REPO / "data")
    assert local.upload.enabled is True
    prod = load_settings(
        REPO / "config" / "production.example.toml",
        environ={"IMGSERVER_SECURITY_KEYS": "k", "IMGSERVER_FILE_ROOT": str(tmp_path)},
    )
    assert prod.security.allow_unsafe is False


def test_readme_documents_every_setting() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    defaults = Settings.__dataclass_fields__
    for section_name in defaults:
        section_cls = type(getattr(Settings(), section_name))
        for field in dataclasses.fields(section_cls):
            dotted = f"`{section_name}.{field.name}`"
            env = f"`IMGSERVER_{section_name.upper()}_{field.name.upper()}`"
            assert dotted in readme, dotted
            assert env in readme, env


def test_s3_storage_and_worker_checks(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {
        "IMGSERVER_STORAGE_KIND": "s3",
        "IMGSERVER_WORKER_WAIT_SECONDS": "21",
        "IMGSERVER_WORKER_BATCH_SIZE": "11",
        "IMGSERVER_WORKER_VISIBILITY_TIMEOUT": "-1",
        "IMGSERVER_WORKER_MAX_RECEIVES": "0",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(None, environ=env)
    text = str(info.value)
    for expected in (
        "s3.originals_bucket: required when storage.kind is s3",
        "s3.metadata_bucket: required when storage.kind is s3",
        "worker.wait_seconds: must be 0..20",
        "worker.batch_size: must be 1..10",
        "worker.visibility_timeout: must be 0..43200",
        "worker.max_receives: must be 1..1000",
    ):
        assert expected in text, text
    same = base_env(tmp_path) | {
        "IMGSERVER_STORAGE_KIND": "s3",
        "IMGSERVER_S3_ORIGINALS_BUCKET": "b",
        "IMGSERVER_S3_METADATA_BUCKET": "b",
    }
    with pytest.raises(SettingsError, match=r"s3\.metadata_bucket: must differ"):
        load_settings(None, environ=same)
    with pytest.raises(SettingsError, match=r"storage\.kind: must be one of file, s3"):
        load_settings(None, environ=base_env(tmp_path) | {"IMGSERVER_STORAGE_KIND": "ftp"})


def test_processes_that_never_serve_need_no_signing_key() -> None:
    env = {
        "IMGSERVER_STORAGE_KIND": "s3",
        "IMGSERVER_S3_ORIGINALS_BUCKET": "originals",
        "IMGSERVER_S3_METADATA_BUCKET": "metadata",
        "IMGSERVER_WORKER_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/events",
        "IMGSERVER_FILE_ROOT": "/nonexistent/folder",
    }
    with pytest.raises(SettingsError):
        load_settings(None, environ=env)  # serving: keys and file.root are required
    settings = load_settings(None, environ=env, serving=False)
    assert settings.worker.queue_url.endswith("/events")
    assert (settings.worker.wait_seconds, settings.worker.batch_size, settings.worker.max_receives) == (20, 10, 5)


@pytest.mark.parametrize(
    ("alpha_renders", "processes", "cores", "expected"),
    [
        (0, 1, 2, 2),  # one serving process: as many alpha renders as cores
        (0, 0, 2, 1),  # one process per core: one each
        (0, 2, 2, 1),
        (0, 3, 2, 1),  # never 0: 0 means no limit to the render code
        (0, 2, 8, 4),
        (3, 0, 2, 3),  # set: as set
    ],
)
def test_alpha_renders_default_to_one_per_core_across_the_serving_processes(
    monkeypatch: pytest.MonkeyPatch, alpha_renders: int, processes: int, cores: int, expected: int
) -> None:
    monkeypatch.setattr("imgserver.settings.usable_cpus", lambda: cores)
    settings = load_settings(
        None,
        environ={},
        overrides={("imaging", "alpha_renders"): alpha_renders, ("server", "processes"): processes},
        serving=False,
    )
    assert effective_alpha_renders(settings) == expected
