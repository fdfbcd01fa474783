"""The benchmark scenarios: one URL path per scenario, the same for Thumbor and imgserver."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    #: URL path after ``/unsafe/`` (Thumbor options + image key).
    path: str
    #: Same path without the filters our branch may not have yet (used when ``path`` is a 400).
    fallback: str | None = None
    #: Special kinds measured differently (result-cache hit, coalescing); ``None`` = render.
    kind: str | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("jpeg-crop", "300x200 crop of a 1920x1080 JPEG", "300x200/photo-1920x1080.jpg"),
    Scenario("jpeg-fit-12mp", "fit-in 800x800 of a 4000x3000 JPEG", "fit-in/800x800/photo-4000x3000.jpg"),
    Scenario("webp", "300x200 of a 1600x1200 WebP, to WebP", "300x200/filters:format(webp)/photo-1600x1200.webp"),
    Scenario(
        "jpeg-rotated-gray",
        "300x0 quality(70) grayscale() of a 640x480 JPEG with EXIF orientation 6",
        "300x0/filters:quality(70):grayscale()/rotated-640x480.jpg",
        fallback="300x0/filters:quality(70)/rotated-640x480.jpg",
    ),
    Scenario("png-rgba", "200x200 of a 1200x800 RGBA PNG", "200x200/alpha-1200x800.png"),
    Scenario("gif-anim", "fit-in 200x150 of a 10-frame 400x300 GIF", "fit-in/200x150/anim-400x300.gif"),
    Scenario("jpeg-fit-24mp", "fit-in 1200x1200 of a 6000x4000 JPEG", "fit-in/1200x1200/photo-6000x4000.jpg"),
    Scenario(
        "cache-hit", "result-cache hit (300x200 of the 1920x1080 JPEG)", "300x200/photo-1920x1080.jpg", kind="cache"
    ),
    Scenario("coalesce", "32 identical concurrent cold requests", "300x200/photo-1920x1080.jpg", kind="coalesce"),
)
