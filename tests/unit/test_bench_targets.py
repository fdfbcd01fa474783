"""The bench's verdicts on issue 9's targets (bench/targets.py) and its quality measure
(bench/quality.py): each target fails when its number is on the wrong side of the line."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import quality
import targets

SCENARIOS = ("jpeg-crop", "jpeg-fit-12mp", "webp", "jpeg-rotated-gray", "png-rgba", "gif-anim", "jpeg-fit-24mp")


def _row(name: str, c: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario": name,
        "c": c,
        "ratio": 2.0,
        "bytes": (1000, 1050),
        "share": 0.95,
        "errors": (0, 0),
        "p99": (200.0, 150.0),
        "rss_peak": (150.0, 140.0),
        "pss_peak": (120.0, 90.0),
    }
    row.update(over)
    return row


def _run(**changes: Any) -> dict[str, Any]:
    """A run that meets every target; ``changes`` edits one part of it."""
    rows = [_row(n, c, ratio=2.0) for c in (8, 32) for n in SCENARIOS]
    for row in rows:
        if row["scenario"] == "gif-anim":
            row.update(ratio=4.0, psnr=(35.0, 36.0))
    run: dict[str, Any] = {
        "rows": rows,
        "levels": [8, 32],
        "geomean": 2.0,
        "rss_rounds": {"thumbor": [180.0, 190.0, 200.0], "imgserver": [160.0, 161.0, 160.0]},
        "cache": {"ratio": 25.0, "errors": 0.0},
        "coalesce": {"renders": 1.0, "ok": 32.0},
        "minutes": 12.0,
    }
    changes = dict(changes)  # the parameters are shared between runs: never edit them
    for scenario_c, fields in changes.pop("row", {}).items():
        for row in run["rows"]:
            if (row["scenario"], row["c"]) == scenario_c:
                row.update(fields)
    run.update(changes)
    return run


def _verdicts(run: dict[str, Any]) -> dict[str, bool | None]:
    return {c.target: c.met for c in targets.check(**run)}


def _failed(run: dict[str, Any]) -> list[str]:
    return [target for target, met in _verdicts(run).items() if met is not True]


def test_a_run_that_meets_everything_passes_every_target() -> None:
    checks = targets.check(**_run())
    assert len(checks) == 13
    assert all(c.met is True for c in checks), [c for c in checks if not c.met]


@pytest.mark.parametrize(
    ("change", "fails"),
    [
        ({"row": {("webp", 8): {"ratio": 1.09}}}, "every scenario"),
        ({"row": {("png-rgba", 8): {"bytes": (1000, 1151)}}}, "output bytes"),
        ({"geomean": 1.49}, "geometric mean"),
        ({"row": {("jpeg-crop", 8): {"ratio": 1.79}}}, "300x200 JPEG crop"),
        ({"row": {("gif-anim", 8): {"ratio": 2.99}}}, "animated GIF"),
        ({"row": {("gif-anim", 8): {"psnr": (35.0, 33.9)}}}, "animated GIF"),
        ({"row": {("jpeg-rotated-gray", 8): {"share": 0.89}}}, "in-process ceiling"),
        ({"row": {("webp", 32): {"errors": (0, 1)}}}, "no errors"),
        ({"row": {("jpeg-crop", 32): {"p99": (200.0, 201.0)}}}, "p99"),
        ({"rss_rounds": {"thumbor": [150.0, 150.0, 150.0], "imgserver": [140.0, 151.0, 140.0]}}, "flat across rounds"),
        ({"rss_rounds": {"thumbor": [200.0, 200.0, 200.0], "imgserver": [140.0, 150.0, 160.0]}}, "flat across rounds"),
        ({"row": {("png-rgba", 8): {"rss_peak": (137.0, 143.0)}}}, "every scenario row"),
        ({"cache": {"ratio": 19.9, "errors": 0.0}}, "result-cache"),
        ({"coalesce": {"renders": 2.0, "ok": 32.0}}, "exactly 1 render"),
        ({"coalesce": {"renders": 1.0, "ok": 31.0}}, "exactly 1 render"),
        ({"minutes": 15.0}, "make bench"),
    ],
)
def test_each_target_fails_on_its_own_number(change: dict[str, Any], fails: str) -> None:
    failed = _failed(_run(**change))
    assert len(failed) == 1 and fails in failed[0], failed


def test_what_the_run_did_not_measure_is_not_a_pass() -> None:
    run = _run(cache=None, coalesce=None, rss_rounds={}, geomean=math.nan)
    run["rows"] = [_row("jpeg-crop", 8, share=math.nan), _row("jpeg-crop", 32)]
    verdicts = _verdicts(run)
    assert verdicts["every scenario ≥ 1.1× Thumbor req/s at c=8"] is True  # the one scenario run
    for target, met in verdicts.items():
        if "result-cache" in target or "1 render" in target or "geometric" in target or "flat" in target:
            assert met is None, target
        if "animated GIF" in target:
            assert met is None, target
    assert verdicts["≥ 90% of the in-process ceiling, every scenario"] is None
    text = targets.markdown(targets.check(**run))
    assert "not measured" in text and "| – |" in text


def test_the_measured_column_names_the_worst_case() -> None:
    checks = {c.target: c for c in targets.check(**_run(row={("webp", 8): {"ratio": 1.3, "share": 0.8}}))}
    assert checks["every scenario ≥ 1.1× Thumbor req/s at c=8"].measured.startswith("lowest 1.30× (webp)")
    assert checks["≥ 90% of the in-process ceiling, every scenario"].measured.startswith("webp 80%")


def _encode(image: pyvips.Image, suffix: str, **options: Any) -> bytes:
    return bytes(image.write_to_buffer(suffix, **options))


def _photo(width: int, height: int, bands: int = 3) -> pyvips.Image:
    """Smooth colour gradients: a resize keeps them, so a good output scores high."""
    x = pyvips.Image.xyz(width, height)
    r = x[0] * (255 / width)
    g = x[1] * (255 / height)
    b = (x[0] + x[1]) * (255 / (width + height))
    image = r.bandjoin([g, b]).cast("uchar")
    if bands == 4:
        image = image.bandjoin((x[0] * (255 / width)).cast("uchar")).copy(interpretation="srgb")
    return image.copy(interpretation="srgb")


def test_psnr_ranks_a_faithful_output_above_a_coarse_one() -> None:
    source = _encode(_photo(400, 300), ".png")
    good = _photo(400, 300).resize(0.5, kernel="lanczos3")
    coarse = good.resize(0.125, kernel="nearest").resize(8, kernel="nearest")
    found = quality.psnr(source, {"good": _encode(good, ".png"), "coarse": _encode(coarse, ".png")})
    assert found["good"] > 45 > found["coarse"] > 15


def test_psnr_crops_the_centre_of_a_cover_resize_and_compares_grey_in_luma() -> None:
    source = _encode(_photo(400, 200), ".jpg", Q=95)
    centre = _photo(400, 200).resize(0.5).crop(25, 0, 150, 100)
    left = _photo(400, 200).resize(0.5).crop(0, 0, 150, 100)
    grey = centre.colourspace("b-w")
    outputs = {"centre": _encode(centre, ".png"), "left": _encode(left, ".png"), "grey": _encode(grey, ".png")}
    found = quality.psnr(source, outputs)
    assert found["centre"] > 35 and found["left"] < found["centre"] - 10
    assert found["grey"] > 25  # compared in luma (one band), not refused


def test_psnr_follows_every_frame_of_an_animation_and_flattens_alpha() -> None:
    frames = [_photo(80, 60, bands=4).rot180() if i % 2 else _photo(80, 60, bands=4) for i in range(4)]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 60)
    source = _encode(strip, ".gif")
    small = pyvips.Image.arrayjoin([f.resize(0.5) for f in frames], across=1).copy()
    small.set_type(pyvips.GValue.gint_type, "page-height", 30)
    frozen = pyvips.Image.arrayjoin([frames[0].resize(0.5)] * 4, across=1).copy()
    frozen.set_type(pyvips.GValue.gint_type, "page-height", 30)
    found = quality.psnr(source, {"moving": _encode(small, ".gif"), "frozen": _encode(frozen, ".gif")})
    # libvips saves the four identical frames as one: the rest are compared against it.
    assert found["moving"] > found["frozen"] + 5


def test_psnr_of_an_undecodable_output_is_nan() -> None:
    found = quality.psnr(_encode(_photo(40, 30), ".png"), {"broken": b"not an image"})
    assert math.isnan(found["broken"])
