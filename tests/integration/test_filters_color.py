"""Thumbor's color filters through the real server: effect, size, format, bands and alpha."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from imgserver.settings import Settings
from tests import images
from tests.images import alpha_of, colour_of, decode
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration

W, H = 60, 40  # every request asks for this size
FRAMES = 4


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("color")
    rgb, rgba = images.scene(120, 80), images.scene(120, 80, 4)

    def png(name: str, image: pyvips.Image) -> None:
        images.write(root, name, bytes(image.pngsave_buffer(keep=images.KEEP_NONE)))

    png("rgb.png", rgb)
    png("rgba.png", rgba)  # left quarter fully transparent
    png("grey.png", rgb.colourspace("b-w"))
    png("greya.png", rgba.colourspace("b-w"))
    png("rgb16.png", (rgb.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16"))
    images.write(root, "photo.jpg", images.jpeg(120, 80))
    png("flat.png", (pyvips.Image.black(120, 80, bands=3) + 128).cast("uchar").copy(interpretation="srgb"))
    png("dull.png", (rgb * (40 / 255) + 100).cast("uchar").copy(interpretation="srgb"))  # values 100..140
    images.write(root, "anim.gif", images.striped_gif(120, 80, FRAMES))
    return root


@pytest.fixture
def settings(root: Path) -> Settings:
    return make_settings(root)





def chroma(image: pyvips.Image) -> float:
    """Mean spread between the channels of each pixel (0 for grey)."""
    c = colour_of(image)
    if c.bands == 1:
        return 0.0
    return float(((c[0] - c[1]).abs() + (c[1] - c[2]).abs() + (c[0] - c[2]).abs()).avg())


async def get(fetch, path: str) -> pyvips.Image:  # type: ignore[no-untyped-def]
    response = await fetch(path)
    assert response.code == 200, response.body
    return decode(response.body)


async def pair(fetch, filters: str, key: str = "rgb.png") -> tuple[pyvips.Image, pyvips.Image]:  # type: ignore[no-untyped-def]
    """(without the filter, with it) for the same geometry."""
    base = await get(fetch, f"/unsafe/{W}x{H}/{key}")
    out = await get(fetch, f"/unsafe/{W}x{H}/filters:{filters}/{key}")
    assert (out.width, out.height) == (W, H)
    return base, out


# --- every filter on every kind of source ---------------------------------------------------------

FILTERS = [
    "brightness(40)",
    "contrast(30)",
    "rgb(20,0,-20)",
    "saturation(1.5)",
    "grayscale()",
    "colorize(40,20,10,ff8800)",
    "equalize()",
    "curve([(0,0),(128,160),(255,255)],[(0,0),(255,255)],[(0,20),(255,235)],[(0,0),(255,255)])",
    "noise(30,5)",
]
#: Filters that tint channels apart, so a grey source comes out in colour (as Thumbor's RGB mode).
TINTING = {"rgb", "colorize", "curve"}

SOURCES = [
    # key, content type, has alpha, grey
    ("rgb.png", "image/png", False, False),
    ("rgba.png", "image/png", True, False),
    ("grey.png", "image/png", False, True),
    ("greya.png", "image/png", True, True),
    ("rgb16.png", "image/png", False, False),
    ("photo.jpg", "image/jpeg", False, False),
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: f.split("(")[0])
@pytest.mark.parametrize(("key", "mime", "alpha", "grey"), SOURCES, ids=[s[0] for s in SOURCES])
@pytest.mark.gen_test
async def test_every_source_kind(fetch, filters: str, key: str, mime: str, alpha: bool, grey: bool) -> None:
    base = await get(fetch, f"/unsafe/{W}x{H}/{key}")
    response = await fetch(f"/unsafe/{W}x{H}/filters:{filters}/{key}")
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == mime
    out = decode(response.body)
    assert (out.width, out.height) == (W, H)
    assert out.format == "uchar"
    name = filters.split("(")[0]
    colour_bands = 1 if name == "grayscale" or (grey and name not in TINTING) else 3
    assert out.bands == colour_bands + alpha
    if alpha:  # alpha passes through untouched
        assert (alpha_of(out).cast("float") - alpha_of(base)).abs().max() == 0
        assert alpha_of(out).min() == 0  # the transparent quarter is still there


# --- the effect of each filter --------------------------------------------------------------------


@pytest.mark.gen_test
async def test_brightness(fetch) -> None:
    base, up = await pair(fetch, "brightness(40)")
    _, down = await pair(fetch, "brightness(-40)")
    # Thumbor: 40% of 255 = 102 added to every channel, clipped.
    assert colour_of(up).avg() > colour_of(base).avg() + 60
    assert colour_of(down).avg() < colour_of(base).avg() - 60
    dark = (colour_of(base) < 100).ifthenelse(1, 0)  # pixels far from clipping move by exactly 102
    moved = (colour_of(up) - colour_of(base)) * dark
    assert abs(moved.avg() - 102 * dark.avg()) < 0.01 * 102


@pytest.mark.gen_test
async def test_contrast(fetch) -> None:
    base, more = await pair(fetch, "contrast(50)")
    _, less = await pair(fetch, "contrast(-50)")
    assert colour_of(more).deviate() > colour_of(base).deviate() * 1.3
    assert colour_of(less).deviate() < colour_of(base).deviate() * 0.5
    assert abs(colour_of(less).avg() - 128) < abs(colour_of(base).avg() - 128)  # pulled towards 128


@pytest.mark.gen_test
async def test_rgb(fetch) -> None:
    base, out = await pair(fetch, "rgb(40,0,-30)")
    b, o = colour_of(base), colour_of(out)
    assert o[0].avg() > b[0].avg() + 50
    assert o[1].avg() == pytest.approx(b[1].avg(), abs=0.5)
    assert o[2].avg() < b[2].avg() - 50


@pytest.mark.gen_test
async def test_rgb_tints_a_grey_source(fetch) -> None:
    _, out = await pair(fetch, "rgb(0,0,50)", "grey.png")
    assert out.bands == 3
    assert colour_of(out)[2].avg() > colour_of(out)[0].avg() + 100


@pytest.mark.parametrize(("change", "compare"), [("0", "grey"), ("0.5", "less"), ("2.5", "more"), ("1", "same")])
@pytest.mark.gen_test
async def test_saturation(fetch, change: str, compare: str) -> None:
    base, out = await pair(fetch, f"saturation({change})")
    assert out.bands == 3
    if compare == "grey":
        assert chroma(out) < 1.5
    elif compare == "less":
        assert chroma(out) < chroma(base) * 0.6
    elif compare == "more":
        assert chroma(out) > chroma(base) * 1.5
    else:
        assert (colour_of(out) - colour_of(base)).abs().max() <= 1


@pytest.mark.gen_test
async def test_grayscale(fetch) -> None:
    base, out = await pair(fetch, "grayscale()")
    assert out.bands == 1
    assert out.interpretation == "b-w"
    b = colour_of(base)
    luma = b[0] * 0.299 + b[1] * 0.587 + b[2] * 0.114  # Pillow's "L"
    assert (colour_of(out) - luma).abs().max() <= 1


@pytest.mark.gen_test
async def test_grayscale_keeps_alpha(fetch) -> None:
    base, out = await pair(fetch, "grayscale()", "rgba.png")
    assert out.bands == 2
    assert (alpha_of(out).cast("float") - alpha_of(base)).abs().max() == 0


@pytest.mark.gen_test
async def test_grayscale_jpeg(fetch) -> None:
    response = await fetch(f"/unsafe/{W}x{H}/filters:grayscale()/photo.jpg")
    assert response.code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert decode(response.body).bands == 1


@pytest.mark.gen_test
async def test_colorize(fetch) -> None:
    _, full = await pair(fetch, "colorize(100,100,100,00ff00)")
    assert [round(full[i].min()) for i in range(3)] == [0, 255, 0]
    assert [round(full[i].max()) for i in range(3)] == [0, 255, 0]
    base, half = await pair(fetch, "colorize(50,0,50,ff0000)")
    b, h = colour_of(base), colour_of(half)
    assert (h[0] - (b[0] + 255) / 2).abs().max() <= 1  # halfway to 255
    assert (h[1] - b[1]).abs().max() == 0  # 0%: untouched
    assert (h[2] - b[2] / 2).abs().max() <= 1  # halfway to 0


@pytest.mark.gen_test
async def test_colorize_colour_names(fetch) -> None:
    _, named = await pair(fetch, "colorize(100,100,100,red)")
    _, hashed = await pair(fetch, "colorize(100,100,100,%23f00)")
    for out in (named, hashed):
        assert [round(out[i].avg()) for i in range(3)] == [255, 0, 0]


@pytest.mark.gen_test
async def test_equalize(fetch) -> None:
    base, out = await pair(fetch, "equalize()", "dull.png")
    assert colour_of(base).max() - colour_of(base).min() <= 45
    for band in range(3):
        channel = colour_of(out)[band]
        if colour_of(base)[band].deviate() > 1:  # a constant channel stays as it is
            assert channel.min() <= 5
            assert channel.max() >= 250
    assert colour_of(out).deviate() > colour_of(base).deviate() * 3


@pytest.mark.gen_test
async def test_equalize_keeps_alpha(fetch) -> None:
    base, out = await pair(fetch, "equalize()", "rgba.png")
    assert out.bands == 4
    assert (alpha_of(out).cast("float") - alpha_of(base)).abs().max() == 0


IDENTITY = "[(0,0),(255,255)]"


@pytest.mark.gen_test
async def test_curve_inverts_with_the_master_curve(fetch) -> None:
    base, out = await pair(fetch, f"curve([(0,255),(255,0)],{IDENTITY},{IDENTITY},{IDENTITY})")
    assert (colour_of(out) - (255 - colour_of(base))).abs().max() <= 1


@pytest.mark.gen_test
async def test_curve_per_channel(fetch) -> None:
    # Red lifted by a spline through (128,200); green flat at 60 (a single point); blue identity.
    base, out = await pair(fetch, f"curve({IDENTITY},[(0,0),(128,200),(255,255)],[(10,60)],{IDENTITY})")
    b, o = colour_of(base), colour_of(out)
    assert o[0].avg() > b[0].avg() + 30
    assert o[1].min() == o[1].max() == 60
    assert (o[2] - b[2]).abs().max() == 0


@pytest.mark.gen_test
async def test_noise_is_monochrome_and_bounded(fetch) -> None:
    base, out = await pair(fetch, "noise(40,3)", "flat.png")
    delta = colour_of(out) - colour_of(base)
    assert (delta[0] - delta[1]).abs().max() == 0  # one value per pixel, added to every channel
    assert (delta[0] - delta[2]).abs().max() == 0
    assert delta.min() >= -20
    assert delta.max() <= 19
    assert delta.deviate() == pytest.approx(40 / 12**0.5, rel=0.15)  # uniform over 40 levels


@pytest.mark.gen_test
async def test_noise_is_deterministic(fetch) -> None:
    bodies = {}
    for filters in ("noise(30,7)", "noise(30,7)", "noise(30,8)", "noise(30)", "noise(30)", "noise(30,0)"):
        response = await fetch(f"/unsafe/{W}x{H}/filters:{filters}/flat.png")
        assert response.code == 200
        bodies.setdefault(filters, set()).add(response.body)
    assert all(len(b) == 1 for b in bodies.values())  # same URL, same bytes
    assert bodies["noise(30,7)"] != bodies["noise(30,8)"]  # the seed matters
    assert bodies["noise(30)"] == bodies["noise(30,0)"]  # the default seed is 0


@pytest.mark.gen_test
async def test_noise_zero_is_a_no_op(fetch) -> None:
    base, out = await pair(fetch, "noise(0)", "flat.png")
    assert (colour_of(out) - colour_of(base)).abs().max() == 0


# --- animations -----------------------------------------------------------------------------------


def frames(data: bytes) -> list[pyvips.Image]:
    strip = pyvips.Image.new_from_buffer(data, "", n=-1)
    page = int(strip.get("page-height"))
    return [strip.crop(0, i * page, strip.width, page) for i in range(strip.height // page)]


@pytest.mark.parametrize("filters", ["grayscale()", "brightness(50)", "noise(30,2)"])
@pytest.mark.gen_test
async def test_animated_gif(fetch, filters: str) -> None:
    plain = await fetch("/unsafe/60x40/anim.gif")
    response = await fetch(f"/unsafe/60x40/filters:{filters}/anim.gif")
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == "image/gif"
    before, after = frames(plain.body), frames(response.body)
    assert len(after) == len(before) == FRAMES
    for b, a in zip(before, after, strict=True):
        assert (a.width, a.height) == (60, 40)
        if filters == "grayscale()":
            assert chroma(a) < 1.5
        elif filters == "brightness(50)":
            assert colour_of(a).avg() > colour_of(b).avg() + 50
        else:
            assert (colour_of(a) - colour_of(b)).abs().avg() > 2
    assert (await fetch(f"/unsafe/60x40/filters:{filters}/anim.gif")).body == response.body


# --- bad arguments --------------------------------------------------------------------------------

BAD = [
    ("brightness(101)", "brightness"),
    ("brightness(abc)", "brightness"),
    ("brightness()", "brightness"),
    ("contrast(-101)", "contrast"),
    ("rgb(1,2)", "rgb"),
    ("rgb(1,2,300)", "rgb"),
    ("saturation(lots)", "saturation"),
    ("grayscale(1)", "grayscale"),
    ("colorize(10,20,30,notacolour)", "colorize"),
    ("colorize(10,20,101,red)", "colorize"),
    ("equalize(2)", "equalize"),
    (f"curve({IDENTITY},{IDENTITY},{IDENTITY})", "curve"),
    ("curve([(0,0),(300,255)],[(0,0)],[(0,0)],[(0,0)])", "curve"),  # coordinate over 255
    ("curve([(9,0),(5,255)],[(0,0)],[(0,0)],[(0,0)])", "curve"),  # x goes back
    ("curve([],[(0,0)],[(0,0)],[(0,0)])", "curve"),  # no point
    ("noise(101)", "noise"),
    ("noise(10,-1)", "noise"),
]


@pytest.mark.parametrize(("filters", "name"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.gen_test
async def test_bad_arguments_are_400(fetch, filters: str, name: str) -> None:
    response = await fetch(f"/unsafe/{W}x{H}/filters:{filters}/rgb.png")
    assert response.code == 400
    assert name in response.body.decode()
