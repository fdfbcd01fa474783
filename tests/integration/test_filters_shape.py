"""Thumbor's shape filters through the real server: effect, size, format, bands and alpha.

blur, sharpen, convolution, rotate, round_corner, fill, background_color, upscale, proportion.
Sizes are Thumbor 7.8's arithmetic (filters/upscale.py, proportion.py, fill.py, rotate.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from imgserver.settings import Settings
from tests import images
from tests.images import alpha_of, colour_of, decode
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration

W, H = 60, 40  # most requests ask for this size
FRAMES = 4
RED = [255.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shape")
    rgb, rgba = images.scene(120, 80), images.scene(120, 80, 4)

    def png(name: str, image: pyvips.Image) -> None:
        images.write(root, name, bytes(image.pngsave_buffer(keep=images.KEEP_NONE)))

    png("rgb.png", rgb)
    png("rgba.png", rgba)  # left quarter fully transparent
    png("grey.png", rgb.colourspace("b-w"))
    png("greya.png", rgba.colourspace("b-w"))
    png("rgb16.png", (rgb.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16"))
    images.write(root, "photo.jpg", images.jpeg(120, 80))
    png("flat.png", (pyvips.Image.black(120, 80, bands=3) + [30, 120, 200]).cast("uchar").copy(interpretation="srgb"))
    # Vertical stripes, 4 px wide: lots of high-frequency energy for blur and sharpen.
    stripes = ((pyvips.Image.xyz(120, 80)[0] / 4).cast("int") % 2 * 160 + 40).cast("uchar")
    png("stripes.png", stripes.bandjoin([stripes, stripes]).copy(interpretation="srgb"))
    # A red marker in the top-right corner tells the rotation direction.
    png("marker.png", rgb.draw_rect(RED, 90, 0, 30, 20, fill=True))
    png("land.png", images.scene(400, 200))
    png("port.png", images.scene(200, 400))
    png("land_alpha.png", images.scene(400, 200, 4))
    images.write(root, "land.jpg", images.jpeg(400, 200))
    images.write(root, "anim.gif", images.striped_gif(120, 80, FRAMES))
    return root


@pytest.fixture
def settings(root: Path) -> Settings:
    return make_settings(root)





def detail(image: pyvips.Image) -> float:
    """High-frequency energy: mean absolute Laplacian of the colour bands."""
    laplace = pyvips.Image.new_from_array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    return float(colour_of(image).conv(laplace, precision="float").abs().avg())


def undithered(image: pyvips.Image) -> pyvips.Image:
    """A GIF frame's colours through a light blur, which evens out the dither pattern (two
    renders of one animation dither differently) but not the picture."""
    return colour_of(image).gaussblur(0.8)


def pixel(image: pyvips.Image, x: int, y: int) -> list[float]:
    return [float(v) for v in image.getpoint(x, y)]


def near(values: list[float], expected: list[float], tolerance: float = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(values, expected, strict=True))


async def get(fetch, path: str, mime: str = "image/png") -> pyvips.Image:  # type: ignore[no-untyped-def]
    response = await fetch(path)
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == mime
    return decode(response.body)


async def pair(fetch, filters: str, key: str = "rgb.png") -> tuple[pyvips.Image, pyvips.Image]:  # type: ignore[no-untyped-def]
    """(without the filter, with it), both at W x H."""
    mime = "image/jpeg" if key.endswith(".jpg") else "image/png"
    base = await get(fetch, f"/unsafe/{W}x{H}/{key}", mime)
    out = await get(fetch, f"/unsafe/{W}x{H}/filters:{filters}/{key}", mime)
    return base, out


# --- every size-keeping filter on every kind of source --------------------------------------------

KEEPING = [
    "blur(2)",
    "blur(150)",
    "sharpen(2,1,true)",
    "sharpen(1.5,0.5,false)",
    "convolution(1;2;1;2;4;2;1;2;1,3,true)",
    "rotate(180)",
    "rotate(45)",
    "proportion(1)",
    "upscale()",
]
SOURCES = [
    # key, content type, has alpha, grey
    ("rgb.png", "image/png", False, False),
    ("rgba.png", "image/png", True, False),
    ("grey.png", "image/png", False, True),
    ("greya.png", "image/png", True, True),
    ("rgb16.png", "image/png", False, False),
    ("photo.jpg", "image/jpeg", False, False),
]


@pytest.mark.parametrize("filters", KEEPING, ids=lambda f: f.replace(";", "_"))
@pytest.mark.parametrize(("key", "mime", "alpha", "grey"), SOURCES, ids=[s[0] for s in SOURCES])
@pytest.mark.gen_test
async def test_every_source_kind(fetch, filters: str, key: str, mime: str, alpha: bool, grey: bool) -> None:
    base = await get(fetch, f"/unsafe/{W}x{H}/{key}", mime)
    out = await get(fetch, f"/unsafe/{W}x{H}/filters:{filters}/{key}", mime)
    assert (out.width, out.height) == (W, H)
    assert out.format == "uchar"
    assert out.bands == base.bands == (1 if grey else 3) + alpha
    if alpha and filters.startswith(("sharpen", "convolution", "proportion", "upscale")):
        assert (alpha_of(out).cast("float") - alpha_of(base)).abs().max() == 0  # alpha untouched
    if filters in ("proportion(1)", "upscale()", "rotate(45)"):  # no-ops here
        assert (colour_of(out) - colour_of(base)).abs().max() <= 2


@pytest.mark.parametrize(("filters", "bands"), [
    ("round_corner(8,255,0,0)", 3),
    ("round_corner(8,255,0,0,true)", 4),
    ("fill(red)", 3),
    ("fill(transparent)", 4),
    ("background_color(blue)", 3),
])
@pytest.mark.parametrize(("key", "alpha"), [("grey.png", False), ("greya.png", True), ("rgb16.png", False)])
@pytest.mark.gen_test
async def test_painting_filters_work_in_rgb(fetch, filters: str, bands: int, key: str, alpha: bool) -> None:
    out = await get(fetch, f"/unsafe/fit-in/{W}x{W}/filters:{filters}/{key}")
    assert out.format == "uchar"
    if filters.startswith("background_color"):
        # Thumbor composites over the colour: the alpha goes; an opaque source is left as is.
        assert out.bands == (3 if alpha else (1 if key.startswith("grey") else 3))
    else:
        assert out.bands == max(bands, 3 + alpha)


# --- blur -----------------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_blur_removes_detail_and_keeps_the_mean(fetch) -> None:
    base, soft = await pair(fetch, "blur(3)", "stripes.png")
    _, softer = await pair(fetch, "blur(10,4)", "stripes.png")
    assert detail(soft) < detail(base) / 4
    assert detail(softer) < detail(soft)
    assert abs(colour_of(soft).avg() - colour_of(base).avg()) < 3


@pytest.mark.gen_test
async def test_blur_of_a_flat_image_is_flat(fetch) -> None:
    base, out = await pair(fetch, "blur(20)", "flat.png")
    assert (colour_of(out) - colour_of(base)).abs().max() <= 1


@pytest.mark.gen_test
async def test_blur_softens_alpha_edges(fetch) -> None:
    base, out = await pair(fetch, "blur(4)", "rgba.png")

    def between(image: pyvips.Image) -> float:
        alpha = alpha_of(image)
        return float(((alpha > 10) & (alpha < 245)).avg() / 255)

    # The transparent quarter's edge is soft now: more alpha values in between.
    assert between(out) > between(base) * 2
    # Premultiplied: the transparent (black) pixels do not darken the colours next to them.
    assert colour_of(out).crop(W // 4 + 2, 0, 4, H).avg() > colour_of(base).crop(W // 4 + 2, 0, 4, H).avg() - 20


# --- sharpen --------------------------------------------------------------------------------------


@pytest.mark.parametrize("filters", ["sharpen(2,1,true)", "sharpen(3,0.5,false)"])
@pytest.mark.gen_test
async def test_sharpen_adds_detail(fetch, filters: str) -> None:
    base, out = await pair(fetch, filters, "photo.jpg")
    assert detail(out) > detail(base) * 1.3
    assert abs(colour_of(out).avg() - colour_of(base).avg()) < 3


@pytest.mark.gen_test
async def test_sharpen_zero_amount_is_a_no_op(fetch) -> None:
    base, out = await pair(fetch, "sharpen(0,1,false)")
    assert (colour_of(out) - colour_of(base)).abs().max() == 0


@pytest.mark.gen_test
async def test_sharpen_luminance_only_keeps_grey_grey(fetch) -> None:
    base, out = await pair(fetch, "sharpen(3,1,true)", "stripes.png")
    c = colour_of(out)
    assert (c[0] - c[1]).abs().max() <= 1 and (c[1] - c[2]).abs().max() <= 1
    assert detail(out) > detail(base)


# --- convolution ----------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_convolution_edge_kernel(fetch) -> None:
    # A Laplacian: a flat image has no edges (all 0); alpha is kept.
    _, flat = await pair(fetch, "convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false)", "flat.png")
    assert colour_of(flat).max() == 0
    base, edges = await pair(fetch, "convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false)", "rgba.png")
    assert colour_of(edges).max() > 100
    assert (alpha_of(edges).cast("float") - alpha_of(base)).abs().max() == 0


@pytest.mark.gen_test
async def test_convolution_normalised_blur_kernel(fetch) -> None:
    base, out = await pair(fetch, "convolution(1;2;1;2;4;2;1;2;1,3,true)", "stripes.png")
    assert detail(out) < detail(base) * 0.8
    assert abs(colour_of(out).avg() - colour_of(base).avg()) < 2
    # Unnormalised, the same kernel multiplies by 16 and clips to white.
    _, white = await pair(fetch, "convolution(1;2;1;2;4;2;1;2;1,3,false)", "stripes.png")
    assert colour_of(white).min() == 255


@pytest.mark.gen_test
async def test_convolution_horizontal_kernel_shifts(fetch) -> None:
    # Thumbor correlates: a single 1 on the right of a 1x3 row moves the image left by a pixel.
    base, out = await pair(fetch, "convolution(0;0;1,3,false)", "stripes.png")
    assert (colour_of(out).crop(0, 0, W - 1, H) - colour_of(base).crop(1, 0, W - 1, H)).abs().max() <= 1


# --- rotate ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("angle", "size", "corner"),
    [
        # Thumbor's PIL engine turns counter-clockwise: the top-right marker goes top-left at 90.
        ("90", (H, W), (0, 0)),
        ("450", (H, W), (0, 0)),
        ("180", (W, H), (0, H - 1)),
        ("270", (H, W), (H - 1, W - 1)),
        ("-90", (H, W), (H - 1, W - 1)),
        ("0", (W, H), (W - 1, 0)),
        ("45", (W, H), (W - 1, 0)),  # Thumbor compat: only right angles act
        ("100", (W, H), (W - 1, 0)),
    ],
)
@pytest.mark.gen_test
async def test_rotate(fetch, angle: str, size: tuple[int, int], corner: tuple[int, int]) -> None:
    out = await get(fetch, f"/unsafe/{W}x{H}/filters:rotate({angle})/marker.png")
    assert (out.width, out.height) == size
    assert near(pixel(out, *corner), RED)


@pytest.mark.gen_test
async def test_rotate_jpeg(fetch) -> None:
    out = await get(fetch, "/unsafe/fit-in/100x100/filters:rotate(90)/land.jpg", "image/jpeg")
    assert (out.width, out.height) == (50, 100)


# --- round_corner ---------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_round_corner_paints_corners(fetch) -> None:
    base, out = await pair(fetch, "round_corner(12,255,0,0)")
    assert out.bands == 3
    for x, y in [(0, 0), (W - 1, 0), (0, H - 1), (W - 1, H - 1), (1, 1)]:
        assert near(pixel(out, x, y), RED), (x, y)
    centre = colour_of(out).crop(12, 12, W - 24, H - 24)
    assert (centre - colour_of(base).crop(12, 12, W - 24, H - 24)).abs().max() == 0
    # The edges between the corners are untouched; a pixel inside the curve too.
    assert pixel(out, W // 2, 0) == pixel(base, W // 2, 0)
    assert pixel(out, 6, 6) == pixel(base, 6, 6)


@pytest.mark.gen_test
async def test_round_corner_elliptic(fetch) -> None:
    base, out = await pair(fetch, "round_corner(20|4,0,0,255)")
    assert near(pixel(out, 2, 0), [0, 0, 255])  # outside the ellipse of semi-axes 20 and 4
    assert near(pixel(out, W - 3, H - 1), [0, 0, 255])
    assert pixel(out, 0, 6) == pixel(base, 0, 6)  # below b=4: untouched
    assert pixel(out, 10, 2) == pixel(base, 10, 2)  # inside the curve


@pytest.mark.gen_test
async def test_round_corner_transparent(fetch) -> None:
    base, out = await pair(fetch, "round_corner(12,0,0,0,true)")
    assert out.bands == 4
    alpha = alpha_of(out)
    for x, y in [(0, 0), (W - 1, 0), (0, H - 1), (W - 1, H - 1)]:
        assert pixel(alpha, x, y) == [0.0]
    assert alpha.crop(12, 12, W - 24, H - 24).min() == 255
    assert (colour_of(out).crop(12, 12, W - 24, H - 24) - colour_of(base).crop(12, 12, W - 24, H - 24)).abs().max() == 0
    # Anti-aliased: partial alpha along the curve.
    assert ((alpha > 0) & (alpha < 255)).avg() > 0


@pytest.mark.gen_test
async def test_round_corner_transparent_as_jpeg_is_white(fetch) -> None:
    out = await get(fetch, "/unsafe/fit-in/100x100/filters:round_corner(20,255,0,0,true)/land.jpg", "image/jpeg")
    assert out.bands == 3
    assert near(pixel(out, 0, 0), [255, 255, 255], 16)  # Thumbor: the colour (JPEG drops alpha)


@pytest.mark.gen_test
async def test_round_corner_radius_capped_at_half(fetch) -> None:
    _, out = await pair(fetch, "round_corner(500,255,0,0)")
    assert (out.width, out.height) == (W, H)
    assert near(pixel(out, W // 2, H // 2), pixel(await get(fetch, f"/unsafe/{W}x{H}/rgb.png"), W // 2, H // 2), 1)
    assert near(pixel(out, 2, 2), RED)


# --- fill -----------------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_fill_colour_on_fit_in_box(fetch) -> None:
    # Thumbor: fit-in/300x300 of 400x200 → a 300x150 image centred on a 300x300 canvas.
    out = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(red)/land.png")
    assert (out.width, out.height, out.bands) == (300, 300, 3)
    assert colour_of(out).crop(0, 0, 300, 75).avg() == pytest.approx(85, abs=0.5)  # (255+0+0)/3
    assert near(pixel(out, 150, 74), RED, 0) and near(pixel(out, 150, 225), RED, 0)
    assert not near(pixel(out, 150, 150), RED, 60)
    hexed = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(00ff00)/land.png")
    assert near(pixel(hexed, 0, 0), [0, 255, 0], 0)


@pytest.mark.gen_test
async def test_fill_centres_with_floor_division(fetch) -> None:
    # fit-in/300x301 of 400x200: a 300x150 image, (301-150)//2 = 75 rows of fill above, 76 below.
    out = await get(fetch, "/unsafe/fit-in/300x301/filters:fill(red)/land.png")
    assert (out.width, out.height) == (300, 301)
    assert near(pixel(out, 150, 74), RED, 0)
    assert not near(pixel(out, 150, 75), RED, 60)
    assert not near(pixel(out, 150, 224), RED, 60)
    assert near(pixel(out, 150, 225), RED, 0)


@pytest.mark.gen_test
async def test_fill_transparent(fetch) -> None:
    out = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(transparent)/land.png")
    assert (out.width, out.height, out.bands) == (300, 300, 4)
    assert pixel(alpha_of(out), 150, 10) == [0.0]
    assert alpha_of(out).crop(0, 75, 300, 150).min() == 255


@pytest.mark.gen_test
async def test_fill_transparent_as_jpeg_is_not_black(fetch) -> None:
    out = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(transparent)/land.jpg", "image/jpeg")
    assert (out.width, out.height) == (300, 300)
    assert near(pixel(out, 150, 10), [255, 255, 255], 4)


@pytest.mark.gen_test
async def test_fill_auto_uses_the_mean_colour(fetch) -> None:
    out = await get(fetch, "/unsafe/fit-in/100x100/filters:fill(auto)/flat.png")
    assert (out.width, out.height) == (100, 100)
    assert colour_of(out).crop(0, 0, 100, 15).avg() == pytest.approx((30 + 120 + 200) / 3, abs=1)
    assert near(pixel(out, 50, 0), [30, 120, 200], 1)
    scene = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(auto)/land.png")
    body = colour_of(scene).crop(0, 75, 300, 150)
    bar = colour_of(scene).crop(0, 0, 300, 75)
    assert (bar - pixel(bar, 0, 0)).abs().max() == 0  # one colour: the mean of the picture
    assert near(pixel(bar, 0, 0), [body[i].avg() for i in range(3)], 1)


@pytest.mark.gen_test
async def test_fill_blur(fetch) -> None:
    out = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(blur)/land.png")
    assert (out.width, out.height, out.bands) == (300, 300, 3)
    bar, body = colour_of(out).crop(0, 0, 300, 75), colour_of(out).crop(0, 75, 300, 150)
    assert bar.deviate() > 1  # not one flat colour: a blurred picture
    assert detail(bar) < detail(body)
    assert abs(bar.avg() - body.avg()) < 30


@pytest.mark.gen_test
async def test_fill_keeps_or_fills_transparent_pixels(fetch) -> None:
    kept = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(red)/land_alpha.png")
    assert (kept.width, kept.height, kept.bands) == (300, 300, 4)
    assert pixel(alpha_of(kept), 10, 150) == [0.0]  # the transparent left quarter stays
    assert pixel(kept, 150, 10) == [*RED, 255.0]
    filled = await get(fetch, "/unsafe/fit-in/300x300/filters:fill(red,true)/land_alpha.png")
    assert (filled.width, filled.height, filled.bands) == (300, 300, 3)
    assert near(pixel(filled, 10, 150), RED, 0)
    assert not near(pixel(filled, 200, 150), RED, 60)


@pytest.mark.gen_test
async def test_fill_on_a_crop_changes_nothing(fetch) -> None:
    base, out = await pair(fetch, "fill(red)")
    assert (colour_of(out) - colour_of(base)).abs().max() == 0


@pytest.mark.parametrize(
    ("path", "size"),
    [
        # Thumbor: a 0 request side is the resized image's side (fill uses engine.size), and
        # fit_in_resize widens the request to the resized image.
        ("300x0/filters:fill(red)/land.png", (300, 150)),
        ("fit-in/300x0/filters:fill(red)/land.png", (300, 150)),
        ("fit-in/0x100/filters:fill(red)/land.png", (200, 100)),
        ("fit-in/500x0/filters:upscale()/land.png", (400, 200)),  # request height 0: no upscale
    ],
)
@pytest.mark.gen_test
async def test_fill_and_upscale_with_a_proportional_side(fetch, path: str, size: tuple[int, int]) -> None:
    out = await get(fetch, f"/unsafe/{path}")
    assert (out.width, out.height) == size
    assert not near(pixel(out, size[0] // 2, 0), RED, 60)  # no fill bars: the picture fills the box


# --- background_color -----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_background_color(fetch) -> None:
    base, out = await pair(fetch, "background_color(blue)", "rgba.png")
    assert out.bands == 3
    assert near(pixel(out, 2, H // 2), [0, 0, 255], 0)  # the transparent quarter is blue now
    opaque = colour_of(out).crop(W // 4 + 1, 0, W - W // 4 - 1, H)
    assert (opaque - colour_of(base).crop(W // 4 + 1, 0, W - W // 4 - 1, H)).abs().max() <= 1
    hexed = await get(fetch, f"/unsafe/{W}x{H}/filters:background_color(f00)/rgba.png")
    assert near(pixel(hexed, 2, 2), RED, 0)


@pytest.mark.gen_test
async def test_background_color_of_an_opaque_image_is_a_no_op(fetch) -> None:
    base, out = await pair(fetch, "background_color(blue)")
    assert out.bands == 3
    assert (colour_of(out) - colour_of(base)).abs().max() == 0


@pytest.mark.gen_test
async def test_background_color_half_transparent(fetch) -> None:
    _, out = await pair(fetch, "background_color(0000ff80)", "rgba.png")
    assert out.bands == 4
    assert pixel(alpha_of(out), 2, 2) == [128.0]
    assert pixel(alpha_of(out), W - 2, 2) == [255.0]


# --- upscale and proportion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "size"),
    [
        ("fit-in/500x500/filters:upscale()/land.png", (500, 250)),  # 400x200 → int(200*500/400)
        ("fit-in/500x500/land.png", (400, 200)),  # fit-in never upscales by itself
        ("fit-in/500x500/filters:upscale()/port.png", (250, 500)),
        ("fit-in/555x777/filters:upscale()/land.png", (555, 277)),  # int(277.5)
        ("fit-in/777x555/filters:upscale()/port.png", (277, 555)),
        ("fit-in/333x777/filters:upscale()/land.png", (333, 167)),  # fit-in's round(166.5): no upscale
        ("fit-in/900x250/filters:upscale()/land.png", (500, 250)),
        ("fit-in/300x300/filters:upscale()/land.png", (300, 150)),  # already touches the box
        ("fit-in/500x150/filters:upscale()/land.png", (300, 150)),
        ("500x500/filters:upscale()/land.png", (500, 500)),  # no fit-in: the crop is the box
        ("fit-in/500x500/filters:upscale():fill(red)/land.png", (500, 500)),
        (f"{W}x{H}/filters:proportion(0.5)/rgb.png", (30, 20)),
        (f"{W}x{H}/filters:proportion(0.25)/rgb.png", (15, 10)),
        ("fit-in/300x300/filters:proportion(0.3)/land.png", (90, 45)),
        ("fit-in/333x333/filters:proportion(0.7)/land.png", (233, 116)),  # int(233.1), int(116.2)…
        (f"{W}x{H}/filters:proportion(1.5)/rgb.png", (W, H)),  # Thumbor compat: ignored above 1
        (f"{W}x{H}/filters:proportion(0)/rgb.png", (W, H)),
        (f"{W}x{H}/filters:proportion(-0.5)/rgb.png", (W, H)),
        (f"{W}x{H}/filters:proportion(0.02)/rgb.png", (W, H)),  # a side would be under 1 px
        (f"{W}x{H}/filters:proportion(0.5):proportion(0.5)/rgb.png", (15, 10)),
    ],
)
@pytest.mark.gen_test
async def test_upscale_and_proportion_sizes(fetch, path: str, size: tuple[int, int]) -> None:
    out = await get(fetch, f"/unsafe/{path}")
    assert (out.width, out.height) == size


@pytest.mark.gen_test
async def test_upscale_keeps_the_picture(fetch) -> None:
    small = await get(fetch, "/unsafe/fit-in/500x500/land_alpha.png")
    big = await get(fetch, "/unsafe/fit-in/500x500/filters:upscale()/land_alpha.png")
    assert big.bands == small.bands == 4
    # The opaque part (right of the transparent quarter) has the same colours.
    assert abs(colour_of(big).crop(150, 0, 350, 250).avg() - colour_of(small).crop(120, 0, 280, 200).avg()) < 3
    assert pixel(alpha_of(big), 5, 125) == [0.0] and pixel(alpha_of(big), 400, 125) == [255.0]


# --- animations -----------------------------------------------------------------------------------


def frames(data: bytes) -> list[pyvips.Image]:
    strip = pyvips.Image.new_from_buffer(data, "", n=-1)
    page = int(strip.get("page-height"))
    return [strip.crop(0, i * page, strip.width, page) for i in range(strip.height // page)]


@pytest.mark.parametrize(
    ("filters", "size"),
    [
        ("rotate(90)", (H, W)),
        ("blur(3)", (W, H)),
        ("round_corner(10,0,0,255)", (W, H)),
        ("fill(0000ff)", (W, W)),
        ("proportion(0.5)", (W // 2, H // 2)),
    ],
)
@pytest.mark.gen_test
async def test_animated_gif(fetch, filters: str, size: tuple[int, int]) -> None:
    geometry = f"fit-in/{W}x{W}" if filters.startswith("fill") else f"{W}x{H}"
    plain = await fetch(f"/unsafe/{geometry}/anim.gif")
    response = await fetch(f"/unsafe/{geometry}/filters:{filters}/anim.gif")
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == "image/gif"
    before, after = frames(plain.body), frames(response.body)
    assert len(after) == len(before) == FRAMES
    assert images.frames_of(response.body)[3] == images.frames_of(plain.body)[3]  # delays kept
    for b, a in zip(before, after, strict=True):
        assert (a.width, a.height) == size
        if filters.startswith("rotate"):
            assert (undithered(a) - undithered(b).rot("d270")).abs().avg() < 3  # ~80 the wrong way round
        elif filters.startswith("blur"):
            assert detail(undithered(a)) < detail(undithered(b)) * 0.75  # ~0.5 here; 1 unblurred
        elif filters.startswith("round_corner"):
            assert near(pixel(a, 0, 0)[:3], [0, 0, 255], 10) and near(pixel(a, W - 1, H - 1)[:3], [0, 0, 255], 10)
        elif filters.startswith("fill"):
            assert near(pixel(a, W // 2, 2)[:3], [0, 0, 255], 10)
    # Every frame got the filter: the frames still differ from each other.
    assert len({bytes(f.write_to_memory()) for f in after}) == FRAMES


# --- bad arguments --------------------------------------------------------------------------------

BAD = [
    ("blur(0)", "blur"),
    ("blur(151)", "blur"),
    ("blur(a)", "blur"),
    ("blur(2,200)", "blur"),
    ("blur()", "blur"),
    ("sharpen(1,2)", "sharpen"),
    ("sharpen(a,1,true)", "sharpen"),
    ("sharpen(1,1,maybe)", "sharpen"),
    ("convolution(1;2;x,3)", "convolution"),
    ("convolution(1;2;1,0)", "convolution"),
    ("convolution(1;2;3;4,2)", "convolution"),  # not an odd-sized rectangle (checked at render)
    ("convolution(1;2;1;2;4;2,3)", "convolution"),
    ("rotate(x)", "rotate"),
    ("rotate(1.5)", "rotate"),
    ("round_corner(10,256,0,0)", "round_corner"),
    ("round_corner(10|a,0,0,0)", "round_corner"),
    ("round_corner(10,0,0)", "round_corner"),
    ("fill(notacolour)", "fill"),
    ("fill(red,maybe)", "fill"),
    ("fill()", "fill"),
    ("background_color()", "background_color"),
    ("background_color(zzz)", "background_color"),
    ("upscale(1)", "upscale"),
    ("proportion(abc)", "proportion"),
    ("proportion()", "proportion"),
]


@pytest.mark.parametrize(("filters", "name"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.gen_test
async def test_bad_arguments_are_400(fetch, filters: str, name: str) -> None:
    response = await fetch(f"/unsafe/{W}x{H}/filters:{filters}/rgb.png")
    assert response.code == 400
    assert name in response.body.decode()
