"""watermark() and frame() through the real server: positions, transparency, ratio boxes,
alpha marks, animations, the mark cache, nine-patch frames and argument errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from imgserver.imaging.filters.marks import DECODED
from imgserver.settings import Settings
from tests import images
from tests.images import decode
from tests.integration.conftest import make_settings

pytestmark = pytest.mark.integration

GREY = [128, 128, 128]
RED = [255, 0, 0]
W, H = 100, 80  # the base image


def solid(width: int, height: int, colour: list[int]) -> pyvips.Image:
    return (pyvips.Image.black(width, height, bands=len(colour)) + colour).cast("uchar").copy(interpretation="srgb")


def png(image: pyvips.Image) -> bytes:
    return bytes(image.pngsave_buffer(keep=images.KEEP_NONE))


def nine_patch(size: int, stretch: range, content: range | None, ink: list[int]) -> pyvips.Image:
    """A size x size nine-patch: 1-px guides (top/left: ``stretch``; bottom/right: ``content``),
    art = an ``ink`` ring 3 px wide around a transparent middle."""
    art = solid(size - 2, size - 2, [*ink, 255]).draw_rect([0, 0, 0, 0], 3, 3, size - 8, size - 8, fill=True)
    image = solid(size, size, [0, 0, 0, 0]).insert(art, 1, 1)
    black = [0, 0, 0, 255]
    image = image.draw_rect(black, stretch.start, 0, len(stretch), 1, fill=True)
    image = image.draw_rect(black, 0, stretch.start, 1, len(stretch), fill=True)
    if content is not None:
        image = image.draw_rect(black, content.start, size - 1, len(content), 1, fill=True)
        image = image.draw_rect(black, size - 1, content.start, 1, len(content), fill=True)
    return image


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("marks")
    w = images.write
    w(root, "grey.png", png(solid(W, H, GREY)))
    w(root, "grey1.png", png(solid(W, H, [128]).copy(interpretation="b-w")))
    w(root, "grey-alpha.png", png(solid(W, H, [*GREY, 255]).draw_rect([0, 0, 0, 0], 50, 0, 50, H, fill=True)))
    w(root, "photo.jpg", images.jpeg(W, H))
    w(root, "anim.gif", images.animated(60, 40, 4, delay=80))
    w(root, "marks/red.png", png(solid(20, 10, [*RED, 255])))
    w(root, "marks/red-rgb.png", png(solid(20, 10, RED)))
    w(root, "marks/wide.png", png(solid(30, 25, [*RED, 255])))
    # Left half opaque blue, right half fully transparent.
    w(root, "marks/half.png", png(solid(20, 10, [0, 0, 255, 255]).draw_rect([0, 0, 0, 0], 10, 0, 10, 10, fill=True)))
    w(root, "marks/huge.png", png(solid(2100, 2000, [*RED, 255])))
    w(root, "marks/not-an-image.png", b"just text\n" * 20)
    # Frames: green nine-patch without content guides, blue one with 2-px content padding,
    # and a plain picture frame without guides (10-px green ring, transparent middle).
    w(root, "frames/nine.png", png(nine_patch(14, range(6, 8), None, [0, 255, 0])))
    w(root, "frames/padded.png", png(nine_patch(14, range(6, 8), range(3, 11), [0, 0, 255])))
    plain = solid(30, 30, [0, 255, 0, 255]).draw_rect([0, 0, 0, 0], 10, 10, 10, 10, fill=True)
    w(root, "frames/plain.png", png(plain))
    return root


@pytest.fixture
def settings(root: Path) -> Settings:
    return make_settings(root)



def px(image: pyvips.Image, x: int, y: int) -> list[float]:
    return list(image.getpoint(x, y))


def red_box(image: pyvips.Image) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the red pixels."""
    r, g = image.extract_band(0), image.extract_band(1)
    mask = r.relational_const("more", [200.0]).boolean(g.relational_const("less", [60.0]), "and")
    left, top, width, height = mask.find_trim(background=[0.0], threshold=0.5)
    return left, top, width, height


def red_columns(image: pyvips.Image, y: int) -> list[bool]:
    return [px(image, x, y)[0] > 200 and px(image, x, y)[1] < 60 for x in range(image.width)]


def red_rows(image: pyvips.Image, x: int) -> list[bool]:
    return [px(image, x, y)[0] > 200 and px(image, x, y)[1] < 60 for y in range(image.height)]


async def get_png(fetch, filters: str, key: str = "grey.png") -> pyvips.Image:  # type: ignore[no-untyped-def]
    response = await fetch(f"/unsafe/filters:format(png):{filters}/{key}")
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == "image/png"
    return decode(response.body)


# --- watermark: positions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "box"),
    [
        ("10", "20", (10, 20, 20, 10)),
        ("0", "0", (0, 0, 20, 10)),
        ("-10", "-20", (W - 20 - 10, H - 10 - 20, 20, 10)),
        ("-0", "-0", (W - 20, H - 10, 20, 10)),  # Thumbor compat: "-0" aligns right/bottom
        ("30p", "50p", (30, 40, 20, 10)),  # N % of the image side (Thumbor's formula)
        ("-30p", "-25p", (W - 20 - 30, H - 10 - 20, 20, 10)),
        ("center", "center", ((W - 20) // 2, (H - 10) // 2, 20, 10)),
        ("center", "5", ((W - 20) // 2, 5, 20, 10)),
        ("90", "75", (90, 75, 10, 5)),  # partly outside: clipped
    ],
    ids=["int", "zero", "negative", "minus-zero", "percent", "negative-percent", "center", "center-x", "clipped"],
)
@pytest.mark.gen_test
async def test_watermark_positions(fetch, x, y, box) -> None:
    image = await get_png(fetch, f"watermark(marks/red.png,{x},{y},0)")
    assert (image.width, image.height, image.bands) == (W, H, 3)
    assert red_box(image) == box
    assert px(image, *(5, 75) if box[1] < 60 else (5, 5)) == GREY  # the rest is untouched


@pytest.mark.gen_test
async def test_watermark_repeat_x(fetch) -> None:
    # divmod(100, 30) = (3, 10): 3 marks, 10 // 2 = 5 px apart → x = 0, 35, 70.
    image = await get_png(fetch, "watermark(marks/wide.png,repeat,40,0)")
    columns = red_columns(image, 50)
    expected = [x < 30 or 35 <= x < 65 or x >= 70 for x in range(W)]
    assert columns == expected
    assert not any(red_columns(image, 39)) and not any(red_columns(image, 65))


@pytest.mark.gen_test
async def test_watermark_repeat_y(fetch) -> None:
    # divmod(80, 25) = (3, 5): 3 marks, 5 // 2 = 2 px apart → y = 0, 27, 54 (rows up to 78).
    image = await get_png(fetch, "watermark(marks/wide.png,10,repeat,0)")
    rows = red_rows(image, 20)
    assert rows == [y < 25 or 27 <= y < 52 or 54 <= y < 79 for y in range(H)]
    assert not any(red_rows(image, 9)) and not any(red_rows(image, 40))


@pytest.mark.gen_test
async def test_watermark_repeat_both_axes(fetch) -> None:
    image = await get_png(fetch, "watermark(marks/wide.png,repeat,repeat,0)")
    assert red_box(image) == (0, 0, W, H - 1)
    for x, y in [(0, 0), (36, 28), (99, 78), (70, 54)]:
        assert px(image, x, y) == RED, (x, y)
    for x, y in [(32, 10), (10, 26), (99, 79), (67, 60)]:
        assert px(image, x, y) == GREY, (x, y)


# --- watermark: transparency, ratio box, alpha marks, colour spaces ----------------------------


@pytest.mark.parametrize(
    ("alpha", "colour"),
    [
        (0, RED),
        # Thumbor: mark alpha 255 - 255 * 50 // 100 = 128 → 128/255 red over grey.
        (50, [255 * 128 / 255 + 128 * 127 / 255, 128 * 127 / 255, 128 * 127 / 255]),
        (100, GREY),
    ],
    ids=["opaque", "half", "invisible"],
)
@pytest.mark.gen_test
async def test_watermark_alpha(fetch, alpha, colour) -> None:
    image = await get_png(fetch, f"watermark(marks/red.png,10,10,{alpha})")
    inside, outside = px(image, 15, 15), px(image, 50, 50)
    assert outside == GREY
    assert all(abs(a - b) <= 1.5 for a, b in zip(inside, colour, strict=True)), inside


@pytest.mark.parametrize(
    ("ratios", "size"),
    [
        ("10", (10, 5)),  # 10 % of 100 px wide; height follows the aspect
        ("10,none", (10, 5)),
        ("none,5", (8, 4)),  # 5 % of 80 px high
        ("50,5", (8, 4)),  # the tighter side wins
        ("40", (40, 20)),  # Thumbor enlarges a mark smaller than its box
        ("0,0", (20, 10)),  # 0 means no box (Thumbor: falsy)
        ("none,none", (20, 10)),
    ],
    ids=["w", "w-none", "h", "both", "enlarge", "zero", "none"],
)
@pytest.mark.gen_test
async def test_watermark_ratio_box(fetch, ratios, size) -> None:
    image = await get_png(fetch, f"watermark(marks/red.png,0,0,0,{ratios})")
    assert red_box(image) == (0, 0, *size)


@pytest.mark.gen_test
async def test_watermark_ratio_box_with_negative_position(fetch) -> None:
    image = await get_png(fetch, "watermark(marks/red.png,-0,-0,0,10)")
    assert red_box(image) == (W - 10, H - 5, 10, 5)


@pytest.mark.gen_test
async def test_watermark_mark_with_alpha_channel(fetch) -> None:
    image = await get_png(fetch, "watermark(marks/half.png,10,10,0)")
    assert px(image, 12, 15) == [0, 0, 255]  # the opaque half
    assert px(image, 25, 15) == GREY  # the transparent half shows the image
    image = await get_png(fetch, "watermark(marks/half.png,10,10,50)")
    assert px(image, 25, 15) == GREY
    blue = px(image, 12, 15)
    assert 120 < blue[2] < 200 and 50 < blue[0] < 80


@pytest.mark.parametrize(
    ("key", "bands"),
    [("grey1.png", 3), ("grey-alpha.png", 4), ("grey.png", 3)],
    ids=["grey-becomes-rgb", "alpha-kept", "rgb"],
)
@pytest.mark.gen_test
async def test_watermark_bands(fetch, key, bands) -> None:
    image = await get_png(fetch, "watermark(marks/red-rgb.png,60,10,0)", key)
    assert (image.width, image.height, image.bands) == (W, H, bands)
    assert px(image, 65, 15)[:3] == RED
    if bands == 4:
        assert px(image, 65, 15)[3] == 255  # the mark is opaque over a transparent pixel
        assert px(image, 65, 40)[3] == 0  # elsewhere the alpha is untouched
        assert px(image, 10, 40) == [*GREY, 255]


@pytest.mark.gen_test
async def test_watermark_jpeg_output(fetch) -> None:
    response = await fetch("/unsafe/50x40/filters:watermark(marks/red.png,-0,-0,0)/photo.jpg")
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == "image/jpeg"
    image = decode(response.body)
    assert (image.width, image.height, image.bands) == (50, 40, 3)
    r, g, b = px(image, 40, 35)
    assert r > 220 and g < 40 and b < 40


@pytest.mark.gen_test
async def test_watermark_every_frame_of_an_animation(fetch) -> None:
    # The animation's frames carry a red bar at x = 12 * i; the mark is blue (its left half).
    response = await fetch("/unsafe/filters:watermark(marks/half.png,40,20,0)/anim.gif")
    assert response.code == 200, response.body
    assert response.headers["Content-Type"] == "image/gif"
    assert images.frames_of(response.body)[:4] == (60, 40, 4, [80] * 4)
    strip = pyvips.Image.new_from_buffer(response.body, "", n=-1)
    for page in range(4):
        r, g, b = px(strip, 45, page * 40 + 25)[:3]
        assert b > 220 and r < 40 and g < 40, page
        r, g, b = px(strip, 45, page * 40 + 5)[:3]  # above the mark: the frame as it was
        assert b < 120, page
        assert (r > 220) == (page == 3), page


@pytest.mark.gen_test
async def test_watermark_mark_is_loaded_once(fetch, state) -> None:
    decodes = DECODED.decodes
    for alpha in (0, 10, 0):
        response = await fetch(f"/unsafe/filters:watermark(marks/red.png,0,0,{alpha})/grey.png")
        assert response.code == 200
    response = await fetch("/unsafe/filters:watermark(marks/red.png,0,0,0)/anim.gif")
    assert response.code == 200
    assert state.marks.misses == 1  # loaded through the loader once
    assert DECODED.decodes - decodes <= 1  # and decoded at most once (maybe by an earlier test)


# --- frame ----------------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_frame_nine_patch_keeps_size_and_paints_border(fetch) -> None:
    image = await get_png(fetch, "frame(frames/nine.png)")
    assert (image.width, image.height, image.bands) == (W, H, 3)
    green = [0, 255, 0]
    for x, y in [(0, 0), (2, 40), (W - 1, H - 1), (50, 1), (W - 2, 40), (50, H - 3)]:
        assert px(image, x, y) == green, (x, y)
    for x, y in [(3, 40), (50, 3), (50, 40), (W - 4, H - 4)]:
        assert px(image, x, y) == GREY, (x, y)


@pytest.mark.gen_test
async def test_frame_without_guides_stretches_the_middle(fetch) -> None:
    image = await get_png(fetch, "frame(frames/plain.png)")
    assert (image.width, image.height) == (W, H)
    green = [0, 255, 0]
    assert px(image, 0, 0) == green and px(image, 9, 40) == green and px(image, 50, H - 10) == green
    assert px(image, 10, 10) == GREY and px(image, 50, 40) == GREY and px(image, W - 11, H - 11) == GREY


@pytest.mark.gen_test
async def test_frame_content_padding_grows_the_image(fetch) -> None:
    # Thumbor compat: the image is padded (white) by the content guides' margins (2 px each
    # side here) before the frame is drawn over it.
    image = await get_png(fetch, "frame(frames/padded.png)")
    assert (image.width, image.height) == (W + 4, H + 4)
    blue = [0, 0, 255]
    assert px(image, 0, 0) == blue and px(image, 2, 50) == blue and px(image, W + 3, H + 3) == blue
    assert px(image, 3, 50) == GREY and px(image, 50, 50) == GREY


@pytest.mark.gen_test
async def test_frame_on_alpha_image_and_jpeg(fetch) -> None:
    image = await get_png(fetch, "frame(frames/nine.png)", "grey-alpha.png")
    assert image.bands == 4
    assert px(image, 0, 40) == [0, 255, 0, 255]  # painted over a transparent pixel
    assert px(image, 80, 40)[3] == 0 and px(image, 20, 40) == [*GREY, 255]
    response = await fetch("/unsafe/60x40/filters:frame(frames/plain.png)/photo.jpg")
    assert response.code == 200 and response.headers["Content-Type"] == "image/jpeg"
    jpeg = decode(response.body)
    assert (jpeg.width, jpeg.height) == (60, 40)
    r, g, b = px(jpeg, 2, 2)
    assert g > 220 and r < 40 and b < 40


@pytest.mark.gen_test
async def test_frame_every_frame_of_an_animation(fetch) -> None:
    response = await fetch("/unsafe/filters:frame(frames/nine.png)/anim.gif")
    assert response.code == 200, response.body
    assert images.frames_of(response.body)[:3] == (60, 40, 4)
    strip = pyvips.Image.new_from_buffer(response.body, "", n=-1)
    for page in range(4):
        r, g, b = px(strip, 1, page * 40 + 20)[:3]
        assert g > 220 and r < 40 and b < 40, page


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        ("watermark(marks/missing.png,0,0,0)", "not found"),
        ("frame(frames/missing.png)", "not found"),
        ("watermark(marks/huge.png,0,0,0)", "too large"),
        ("frame(marks/huge.png)", "too large"),
        ("watermark(marks/not-an-image.png,0,0,0)", "watermark image"),
        ("watermark(marks/red.png,left,0,0)", "watermark"),
        ("watermark(marks/red.png,0,0,101)", "watermark"),
        ("watermark(marks/red.png,0,0)", "watermark"),
        ("watermark(marks/red.png,0,0,0,-5)", "watermark"),
        ("watermark(marks/red.png,0,0,0,1001)", "watermark"),
        ("watermark(marks/red.png,0,0,0,10,10,10)", "watermark"),
        ("frame()", "frame"),
        ("frame(a,b)", "frame"),
    ],
    ids=[
        "missing-mark",
        "missing-frame",
        "huge-mark",
        "huge-frame",
        "not-an-image",
        "bad-x",
        "alpha-over-100",
        "too-few",
        "negative-ratio",
        "ratio-over-limit",
        "too-many",
        "frame-no-arg",
        "frame-two-args",
    ],
)
@pytest.mark.gen_test
async def test_bad_marks_and_arguments_are_400(fetch, filters, words) -> None:
    response = await fetch(f"/unsafe/filters:{filters}/grey.png")
    assert response.code == 400, response.body
    assert words in response.body.decode(errors="replace")
