"""Issue 9's targets, checked against one bench run (pure: rows in, verdicts out).

Every verdict is computed from the run's own numbers, so the table printed under the results
says which targets this run met and by how much; a target the run did not measure (a subset of
scenarios, ``--only``, ``--no-ceiling``) says so instead of passing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_RATIO = 1.1  # every scenario, req/s at the first concurrency level
MAX_BYTES = 1.15  # output bytes against Thumbor's
MIN_GEOMEAN = 1.5
MIN_CROP = 1.8  # the 300x200 JPEG crop
MIN_GIF = 3.0  # the animated GIF, with visually equivalent output:
GIF_PSNR_SLACK = 1.0  # dB below Thumbor's PSNR against the same reference still counts as equivalent
MIN_SHARE = 0.9  # of the in-process ceiling
FLAT = 1.10  # "flat": no round's peak RSS more than 10% above the first round's
MIN_CACHE = 20.0  # result-cache hit req/s over the same URL uncached
RENDERS = 1  # 32 identical cold requests
MAX_MINUTES = 15.0  # make bench, end to end


@dataclass(frozen=True)
class Check:
    target: str
    measured: str
    #: None: this run did not measure it.
    met: bool | None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def _rows(rows: Sequence[Mapping[str, Any]], level: int) -> list[Mapping[str, Any]]:
    return [r for r in rows if r.get("c") == level and _finite(r.get("ratio"))]


def check(
    rows: Sequence[Mapping[str, Any]],
    levels: Sequence[int],
    geomean: float,
    rss_rounds: Mapping[str, Sequence[float]],
    cache: Mapping[str, float] | None,
    coalesce: Mapping[str, float] | None,
    minutes: float,
) -> list[Check]:
    """One :class:`Check` per target, in the issue's order."""
    low, high = levels[0], levels[-1]
    first, last = _rows(rows, low), _rows(rows, high) if high != low else []
    checks: list[Check] = []

    def add(target: str, measured: str, met: bool | None) -> None:
        checks.append(Check(target, measured, met if measured else None))

    worst = min(first, key=lambda r: r["ratio"], default=None)
    add(
        f"every scenario ≥ {MIN_RATIO}× Thumbor req/s at c={low}",
        f"lowest {worst['ratio']:.2f}× ({worst['scenario']}), {len(first)} scenarios" if worst else "",
        all(r["ratio"] >= MIN_RATIO for r in first),
    )
    sized = [r for r in first if all(_finite(b) and b > 0 for b in r["bytes"])]
    heaviest = max(sized, key=lambda r: r["bytes"][1] / r["bytes"][0], default=None)
    add(
        f"output bytes ≤ Thumbor's +{100 * (MAX_BYTES - 1):.0f}%",
        f"at most {100 * (heaviest['bytes'][1] / heaviest['bytes'][0] - 1):+.1f}% ({heaviest['scenario']})"
        if heaviest
        else "",
        all(r["bytes"][1] <= MAX_BYTES * r["bytes"][0] for r in sized),
    )
    add(
        f"geometric mean ≥ {MIN_GEOMEAN}×",
        f"{geomean:.2f}×" if _finite(geomean) and first else "",
        _finite(geomean) and geomean >= MIN_GEOMEAN,
    )
    crop = next((r for r in first if r["scenario"] == "jpeg-crop"), None)
    add(
        f"300x200 JPEG crop ≥ {MIN_CROP}×",
        f"{crop['ratio']:.2f}×" if crop else "",
        bool(crop) and crop["ratio"] >= MIN_CROP,
    )
    gif = next((r for r in first if r["scenario"] == "gif-anim"), None)
    t_db, i_db = gif.get("psnr", (math.nan, math.nan)) if gif else (math.nan, math.nan)
    equivalent = _finite(t_db) and _finite(i_db) and i_db >= t_db - GIF_PSNR_SLACK
    add(
        f"animated GIF ≥ {MIN_GIF}×, visually equivalent (PSNR against the same reference within "
        f"{GIF_PSNR_SLACK:g} dB of Thumbor's, or above)",
        f"{gif['ratio']:.2f}×, PSNR {i_db:.1f} vs {t_db:.1f} dB" if gif and _finite(t_db) and _finite(i_db) else "",
        bool(gif) and gif["ratio"] >= MIN_GIF and equivalent,
    )
    shared = [r for r in first if _finite(r.get("share"))]
    short = [r for r in shared if r["share"] < MIN_SHARE]
    add(
        f"≥ {100 * MIN_SHARE:.0f}% of the in-process ceiling, every scenario",
        (
            ", ".join(f"{r['scenario']} {100 * r['share']:.0f}%" for r in sorted(shared, key=lambda r: r["share"]))
            if shared
            else ""
        ),
        not short and len(shared) == len(first),
    )
    errors = sum(r["errors"][1] for r in last)
    add(
        f"c={high}: no errors or timeouts",
        f"{errors:.0f} in {len(last)} scenarios" if last else "",
        errors == 0,
    )
    slower = [r for r in last if not r["p99"][1] <= r["p99"][0]]
    add(
        f"c={high}: p99 ≤ Thumbor's, every scenario",
        (
            "every scenario"
            if last and not slower
            else ", ".join(f"{r['scenario']} {r['p99'][1]:.0f} vs {r['p99'][0]:.0f} ms" for r in slower)
        ),
        bool(last) and not slower,
    )
    mine, theirs = list(rss_rounds.get("imgserver", [])), list(rss_rounds.get("thumbor", []))
    flat = bool(mine) and max(mine) <= FLAT * mine[0]
    below = bool(mine) and len(mine) == len(theirs) and all(i <= t for i, t in zip(mine, theirs, strict=True))
    add(
        "peak RSS ≤ Thumbor's and flat across rounds",
        (
            "per round " + "/".join(f"{v:.0f}" for v in mine) + " vs " + "/".join(f"{v:.0f}" for v in theirs) + " MB"
            if mine and theirs
            else ""
        ),
        below and flat,
    )
    rss_rows = [r for r in first + last if all(_finite(v) for v in r["rss_peak"])]
    above = [r for r in rss_rows if r["rss_peak"][1] > r["rss_peak"][0]]
    add(
        "stricter reading: peak RSS ≤ Thumbor's in every scenario row",
        (
            ("every row" if not above else "above in " + ", ".join(
                f"{r['scenario']} c={r['c']} {r['rss_peak'][1]:.0f} vs {r['rss_peak'][0]:.0f} MB"
                + (f" (PSS {r['pss_peak'][1]:.0f} vs {r['pss_peak'][0]:.0f})" if "pss_peak" in r else "")
                for r in above
            ))
            if rss_rows
            else ""
        ),
        not above,
    )
    ratio = cache.get("ratio", math.nan) if cache else math.nan
    add(f"result-cache hit ≥ {MIN_CACHE:g}× uncached", f"{ratio:.1f}×" if _finite(ratio) else "", ratio >= MIN_CACHE)
    renders = coalesce.get("renders", math.nan) if coalesce else math.nan
    answered = coalesce.get("ok", math.nan) if coalesce else math.nan
    add(
        "32 identical concurrent cold requests → exactly 1 render",
        f"{renders:.0f} render(s), {answered:.0f}/32 answered 200" if _finite(renders) else "",
        renders == RENDERS and answered == 32,
    )
    add(f"make bench < {MAX_MINUTES:g} min", f"{minutes:.1f} min" if _finite(minutes) else "", minutes < MAX_MINUTES)
    return checks


def markdown(checks: Sequence[Check]) -> str:
    lines = ["| target | this run | met |", "|---|---|---|"]
    for c in checks:
        mark = "–" if c.met is None else ("yes" if c.met else "**no**")
        lines.append(f"| {c.target} | {c.measured or 'not measured'} | {mark} |")
    return "\n".join(lines)
