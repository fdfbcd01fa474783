"""The frozen Plan: what will be done to one source, decided before any pixel is decoded. PURE."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from imgserver.url.filters import FilterCall

OutputFormat = Literal["jpeg", "png", "webp", "gif", "avif"]

MIME_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
}
#: Every format we load or write, as named by the probe: MIME type and file extension.
FORMAT_MIME_TYPES: dict[str, str] = {
    **MIME_TYPES,
    "heif": "image/heif",
    "tiff": "image/tiff",
    "svg": "image/svg+xml",
}
EXTENSIONS: dict[str, str] = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "avif": "avif",
    "heif": "heic",
    "tiff": "tif",
    "svg": "svg",
}
MIME_BY_EXTENSION: dict[str, str] = {ext: FORMAT_MIME_TYPES[fmt] for fmt, ext in EXTENSIONS.items()}


@dataclass(frozen=True)
class SourceFacts:
    """What the header probe says. ``width``/``height`` are display size (after EXIF
    orientation when it is respected); ``stored_*`` are the size as encoded."""

    format: str
    width: int
    height: int
    stored_width: int
    stored_height: int
    orientation: int = 1
    frames: int = 1
    has_alpha: bool = False
    has_icc: bool = False
    #: Animation timing: per-frame delays in ms and the loop count (0 = forever).
    delays: tuple[int, ...] = ()
    loop: int = 0


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels: left/top inclusive, right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def within(self, outer: Box) -> Box:
        """This box (relative to ``outer``) in ``outer``'s coordinates."""
        return Box(outer.left + self.left, outer.top + self.top, outer.left + self.right, outer.top + self.bottom)


@dataclass(frozen=True)
class FocalPoint:
    """A point the crop is centred on; ``weight`` counts in the centre of mass (Thumbor's z)."""

    x: float
    y: float
    origin: Literal["alignment", "detection", "explicit"] = "alignment"
    weight: float = 1.0
    width: int = 1
    height: int = 1

    @classmethod
    def from_box(cls, box: Box, origin: Literal["detection", "explicit"] = "explicit") -> FocalPoint:
        """Thumbor's FocalPoint.from_square: the box centre, weighted by its area."""
        return cls(
            box.left + box.width // 2,
            box.top + box.height // 2,
            origin,
            float(box.width * box.height),
            box.width,
            box.height,
        )


@dataclass(frozen=True)
class Output:
    format: OutputFormat
    quality: int | None = None

    @property
    def mime(self) -> str:
        return MIME_TYPES[self.format]


@dataclass(frozen=True)
class Plan:
    """Thumbor's transformation for one source, as data.

    Order (Thumbor's): trim → manual crop → auto crop (or fit) → resize → flips → filters.
    Each box is relative to the image left by the step before it, as in Thumbor's ``/meta``:
    ``trim`` is in source (display) pixels, ``manual_crop`` is relative to the trimmed image
    (source pixels when there is no trim), ``auto_crop`` is relative to :attr:`region` (the
    image left after trim and manual crop, in source pixels)."""

    source: SourceFacts
    region: Box
    trim: Box | None
    manual_crop: Box | None
    auto_crop: Box | None
    resize: tuple[int, int] | None
    flip_horizontal: bool
    flip_vertical: bool
    focal: FocalPoint
    smart: bool
    debug: bool
    output: Output
    filters: tuple[FilterCall, ...] = field(default=())
    #: Every focal point used (region coordinates); ``focal`` is their centre of mass.
    focal_points: tuple[FocalPoint, ...] = field(default=())
    #: All frames are kept (animated GIF/WebP in and out); otherwise only the first.
    animated: bool = False
    #: Thumbor's request box after geometry (fill() and upscale() work towards it).
    box: tuple[int, int] = (0, 0)

    @property
    def crop_box(self) -> Box:
        """The one rectangle of the source that ends up in the output (trim ∘ manual ∘ auto)."""
        return self.auto_crop.within(self.region) if self.auto_crop else self.region

    @property
    def width(self) -> int:
        return self.resize[0] if self.resize else self.crop_box.width

    @property
    def height(self) -> int:
        return self.resize[1] if self.resize else self.crop_box.height

    @property
    def needs_smart_focus(self) -> bool:
        """An attention focal point would move the auto crop (so it must be detected)."""
        return self.smart and self.auto_crop is not None and all(p.origin == "alignment" for p in self.focal_points)

    def operations(self) -> list[dict[str, Any]]:
        """Thumbor's ``/meta`` operation list for this plan."""
        ops: list[dict[str, Any]] = []
        for box in (self.trim, self.manual_crop, self.auto_crop):
            if box is not None:
                ops.append({"type": "crop", "left": box.left, "top": box.top, "right": box.right, "bottom": box.bottom})
        if self.resize is not None:
            ops.append({"type": "resize", "width": self.resize[0], "height": self.resize[1]})
        if self.flip_horizontal:
            ops.append({"type": "flip_horizontally"})
        if self.flip_vertical:
            ops.append({"type": "flip_vertically"})
        return ops
