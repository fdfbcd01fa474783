"""The fast paths kept by the benchmark work (issue 9): JPEG DCT shrink choice, admission."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from imgserver.errors import Overloaded
from imgserver.imaging.steps import _jpeg_shrink
from imgserver.plan.model import SourceFacts
from imgserver.pool import RenderPool


def _facts(width: int, height: int, orientation: int = 1) -> SourceFacts:
    display = (height, width) if orientation >= 5 else (width, height)
    return SourceFacts("jpeg", display[0], display[1], width, height, orientation)


@pytest.mark.parametrize(
    ("stored", "orientation", "target", "shrink"),
    [
        ((1920, 1080), 1, (356, 200), 4),  # 480x270 still covers it; 240x135 would not
        ((4000, 3000), 1, (800, 600), 4),
        ((6000, 4000), 1, (1200, 800), 4),
        ((6000, 4000), 1, (750, 500), 8),
        ((640, 480), 6, (300, 400), 1),  # shown portrait: needs 400x300 stored
        ((640, 480), 6, (240, 320), 2),
        ((101, 101), 1, (51, 51), 2),  # libjpeg rounds up: 101 at 1/2 decodes to 51
        ((100, 100), 1, (100, 100), 1),
    ],
)
def test_jpeg_shrink_is_the_largest_that_covers_the_target(
    stored: tuple[int, int], orientation: int, target: tuple[int, int], shrink: int
) -> None:
    assert _jpeg_shrink(_facts(*stored, orientation), *target) == shrink


def test_admission_is_bounded_and_first_come_first_served() -> None:
    async def scenario() -> list[str]:
        pool = RenderPool(threads=1, queue_size=2)
        order: list[str] = []
        release = asyncio.Event()

        async def request(name: str) -> None:
            async with pool.admit():
                order.append(name)
                await release.wait()

        tasks = [asyncio.create_task(request(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0.01)
        assert order == ["a"]  # one place; b and c wait, holding nothing
        with pytest.raises(Overloaded):
            async with pool.admit():
                pass  # a fourth request finds the waiting room full
        release.set()
        await asyncio.gather(*tasks)
        pool.shutdown()
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_heap_trimmer_trims_marked_heaps_at_most_once_per_interval_under_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imgserver.imaging import setup

    calls: list[int] = []
    monkeypatch.setattr(setup, "trim_memory", lambda: calls.append(1))
    trimmer = setup.HeapTrimmer(interval=60.0)
    assert not trimmer.trim()  # nothing freed by a large render yet
    trimmer.mark()
    assert not trimmer.trim(busy=True)  # under load, within the interval: wait
    assert trimmer.trim()  # idle: trim now
    assert not trimmer.dirty and calls == [1]
    trimmer.mark()
    assert not trimmer.trim(busy=True)
    trimmer.interval = 0.0
    assert trimmer.trim(busy=True)  # interval passed: trim even while busy
    assert calls == [1, 1]


def test_render_pool_trims_the_heap_once_it_has_gone_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    from imgserver import pool as pool_module
    from imgserver.imaging import setup

    trims: list[int] = []
    monkeypatch.setattr(setup, "trim_memory", lambda: trims.append(1))
    monkeypatch.setattr(pool_module, "IDLE_TRIM_DELAY", 0.05)
    monkeypatch.setattr(setup.HEAP, "interval", 3600.0)  # never while busy, in this test

    async def scenario() -> tuple[int, int, bool]:
        pool = RenderPool(threads=2, queue_size=4)
        try:
            await asyncio.gather(*(pool.run(setup.HEAP.mark) for _ in range(4)))
            during = len(trims)  # the jobs just finished: no trim yet
            await asyncio.sleep(0.3)
            return during, len(trims), setup.HEAP.dirty
        finally:
            pool.shutdown()

    during, after, dirty = asyncio.run(scenario())
    assert (during, after, dirty) == (0, 1, False)


def test_render_pool_runs_jobs_on_its_own_threads_and_hands_back_results_and_errors() -> None:
    import threading

    async def scenario() -> tuple[list[str], set[str], str]:
        pool = RenderPool(threads=2, queue_size=8)
        try:
            names = await asyncio.gather(*(pool.run(lambda: threading.current_thread().name) for _ in range(6)))
            with pytest.raises(ZeroDivisionError):
                await pool.run(lambda: 1 // 0)  # the job's own exception reaches the request
            after = await pool.run(lambda x: f"still serving {x}", 7)
            return list(names), {t.name for t in pool._workers}, after
        finally:
            pool.shutdown()

    names, workers, after = asyncio.run(scenario())
    assert set(names) <= workers and len(workers) == 2  # never more threads than configured
    assert all(name.startswith("render_") for name in names)
    assert after == "still serving 7"


def test_render_pool_shutdown_cancels_queued_jobs_and_stops_its_threads() -> None:
    import threading

    started, release = threading.Event(), threading.Event()

    def blocking() -> str:
        started.set()
        release.wait(5)
        return "done"

    async def scenario() -> tuple[str, bool, list[threading.Thread]]:
        pool = RenderPool(threads=1, queue_size=8)
        running = asyncio.ensure_future(pool.run(blocking))
        await asyncio.to_thread(started.wait, 5)
        queued = asyncio.ensure_future(pool.run(lambda: "never"))
        await asyncio.sleep(0.01)
        pool.shutdown()
        release.set()
        first = await running  # the job under way finishes and is answered
        with pytest.raises(asyncio.CancelledError):
            await queued
        with pytest.raises(RuntimeError):
            await pool.run(lambda: "too late")
        return first, queued.cancelled(), pool._workers

    first, cancelled, workers = asyncio.run(scenario())
    assert (first, cancelled) == ("done", True)
    for worker in workers:
        worker.join(5)
        assert not worker.is_alive()


def test_render_pool_skips_a_queued_job_whose_request_was_cancelled() -> None:
    import threading

    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocking() -> None:
        started.set()
        release.wait(5)

    async def scenario() -> None:
        pool = RenderPool(threads=1, queue_size=8)
        try:
            running = asyncio.ensure_future(pool.run(blocking))
            await asyncio.to_thread(started.wait, 5)
            queued = asyncio.ensure_future(pool.run(lambda: ran.append("abandoned")))
            await asyncio.sleep(0.01)
            queued.cancel()  # its client went away while the job waited for the thread
            with pytest.raises(asyncio.CancelledError):
                await queued
            release.set()
            await running
            assert await pool.run(lambda: "next") == "next"  # the thread went on to the next job
        finally:
            pool.shutdown()

    asyncio.run(scenario())
    assert ran == []


def test_request_ids_are_unique_hex_and_differ_after_a_reset() -> None:
    import re

    from imgserver.handlers.base import _RequestIds

    ids = _RequestIds()
    made = [ids.new() for _ in range(1000)]
    assert len(set(made)) == 1000 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)
    prefix = made[0][:16]
    ids.reset()
    assert ids.new()[:16] != prefix


def test_forked_serving_processes_make_different_request_ids() -> None:
    import os

    from imgserver.handlers.base import _IDS

    mine = _IDS.new()[:16]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a serving process forked by the supervisor would make
        try:
            os.write(write, _IDS.new()[:16].encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        theirs = pipe.read().decode()
    os.waitpid(pid, 0)
    assert len(theirs) == 16 and theirs != mine  # register_at_fork gave the child its own prefix


def test_file_loader_stat_reads_only_the_head_and_refuses_like_read(tmp_path: object) -> None:
    from pathlib import Path

    from imgserver.errors import NotFound, SourceTooLarge
    from imgserver.sources.base import HEAD_BYTES
    from imgserver.sources.file import FileLoader

    base = Path(str(tmp_path))
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "x.jpg").write_bytes(bytes(range(256)) * 4)
    (outside / "secret.jpg").write_bytes(b"secret")
    (root / "link-out.jpg").symlink_to(outside / "secret.jpg")
    loader = FileLoader(root)
    info = asyncio.run(loader.stat("x.jpg", 5000))
    assert info.head == bytes(range(HEAD_BYTES)) and info.size == 1024
    assert info.identity == loader.read("x.jpg", 5000).identity
    for key in ("link-out.jpg", "../outside/secret.jpg", "missing.jpg", "."):
        with pytest.raises(NotFound):
            asyncio.run(loader.stat(key, 5000))
    with pytest.raises(SourceTooLarge):
        asyncio.run(loader.stat("x.jpg", 1000))


def test_file_loader_refuses_fifos_without_waiting_for_a_writer(tmp_path: object) -> None:
    """A FIFO (or a symlink to one) under the root: open() must not block — stat runs on the
    event loop — and the key is a plain NotFound."""
    import os
    from pathlib import Path

    from imgserver.errors import NotFound
    from imgserver.sources.file import FileLoader

    base = Path(str(tmp_path))
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    os.mkfifo(root / "pipe.jpg")
    os.mkfifo(outside / "pipe.jpg")
    (root / "link.jpg").symlink_to(outside / "pipe.jpg")
    loader = FileLoader(root)
    for key in ("pipe.jpg", "link.jpg"):
        with pytest.raises(NotFound):
            asyncio.run(loader.stat(key, 5000))
        with pytest.raises(NotFound):
            loader.read(key, 5000)


def test_file_loader_read_is_load_on_the_calling_thread_and_refuses_the_same_keys(tmp_path: object) -> None:
    from pathlib import Path

    from imgserver.errors import NotFound, SourceTooLarge
    from imgserver.sources.file import FileLoader

    base = Path(str(tmp_path))
    root, outside = base / "root", base / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "x.jpg").write_bytes(b"inside" * 10)
    (outside / "secret.jpg").write_bytes(b"secret")
    (root / "link-in.jpg").symlink_to(root / "a" / "x.jpg")
    (root / "link-out.jpg").symlink_to(outside / "secret.jpg")
    (root / "dir-out").symlink_to(outside, target_is_directory=True)
    loader = FileLoader(root)
    loaded = asyncio.run(loader.load("a/x.jpg", 1000))
    assert loader.read("a/x.jpg", 1000) == loaded
    assert loader.read("link-in.jpg", 1000).data == b"inside" * 10
    for key in ("link-out.jpg", "dir-out/secret.jpg", "../outside/secret.jpg", "a", "missing.jpg", "a/\x00.jpg"):
        with pytest.raises(NotFound):
            loader.read(key, 1000)
    with pytest.raises(SourceTooLarge):
        loader.read("a/x.jpg", 59)
    assert len(loader.read("a/x.jpg", 60).data) == 60


Frame = tuple[tuple[int, int, int, int], bool, int]


def _gif(frames: list[Frame], size: tuple[int, int] = (8, 6)) -> bytes:
    """A GIF's block structure: per frame (box, transparent flag, disposal). The image data
    is a placeholder: gif_is_opaque reads the structure only."""
    out = bytearray(b"GIF89a" + size[0].to_bytes(2, "little") + size[1].to_bytes(2, "little") + b"\x80\x00\x00")
    out += b"\x00\x00\x00\xff\xff\xff"  # two-colour global table
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for (left, top, w, h), transparent, disposal in frames:
        out += b"\x21\xf9\x04" + bytes([(disposal << 2) | int(transparent)]) + b"\x0a\x00\x00\x00"
        out += b"\x2c" + b"".join(v.to_bytes(2, "little") for v in (left, top, w, h)) + b"\x00"
        out += b"\x02\x02\x4c\x01\x00"
    return bytes(out + b"\x3b")


FULL = (0, 0, 8, 6)


@pytest.mark.parametrize(
    ("frames", "opaque"),
    [
        ([(FULL, False, 0)], True),
        ([(FULL, True, 0)], False),  # a transparent colour on the empty canvas
        ([((0, 0, 4, 6), False, 0)], False),  # half the canvas stays transparent
        ([(FULL, False, 1), ((2, 2, 3, 3), True, 1), ((0, 0, 1, 1), True, 0)], True),  # deltas on an opaque canvas
        ([(FULL, False, 2), ((2, 2, 3, 3), False, 1)], False),  # cleared to background first
        ([(FULL, False, 2), (FULL, False, 0)], True),  # cleared, then covered again
        ([(FULL, False, 3), ((1, 1, 2, 2), True, 3)], True),  # restore-to-previous keeps it opaque
    ],
)
def test_gif_is_opaque_follows_the_canvas(frames: list[Frame], opaque: bool) -> None:
    from imgserver.plan.sniff import gif_is_opaque

    assert gif_is_opaque(_gif(frames)) is opaque


def test_gif_is_opaque_is_false_when_unsure() -> None:
    from imgserver.plan.sniff import gif_is_opaque

    data = _gif([(FULL, False, 0)])
    assert gif_is_opaque(data)
    for bad in (data[:-1], data[:20], b"", b"GIF89a", b"\x89PNG\r\n\x1a\n" + data[8:], data[:-1] + b"\x99\x3b"):
        assert not gif_is_opaque(bad)


def test_gif_is_opaque_never_says_opaque_when_libvips_decodes_transparency() -> None:
    import pyvips

    from imgserver.plan.sniff import gif_is_opaque
    from tests import images

    opaque_anim = images.animated(60, 40, 5)
    scene = images.scene(60, 40)
    holes = scene.bandjoin(scene.extract_band(0).linear(0, 255).cast("uchar").draw_rect([0], 10, 10, 20, 10, fill=True))
    cases = {"opaque animation": opaque_anim, "holes": bytes(holes.gifsave_buffer())}
    verdicts = {}
    for name, data in cases.items():
        decoded = pyvips.Image.new_from_buffer(data, "", n=-1)
        really_opaque = decoded.bands < 4 or decoded.extract_band(3).min() == 255
        verdicts[name] = gif_is_opaque(data)
        assert really_opaque or not verdicts[name], name
    assert verdicts == {"opaque animation": True, "holes": False}


def test_grayscale_is_pillows_integer_luma_on_every_colour() -> None:
    """The weighted band mean (issue 9: cheaper than recomb) against Pillow's "L":
    (r*19595 + g*38470 + b*7471 + 0x8000) >> 16, over every 8-bit red and green and every
    fourth blue: never more than one level off, and exact on all but ties."""
    import pyvips

    from imgserver.imaging.filters.color import grayscale
    from imgserver.imaging.filters.registry import FilterContext
    from imgserver.url.filters import FilterCall

    xy = pyvips.Image.xyz(4096, 1024)
    r, g = xy[0] % 256, xy[1] % 256
    b = (xy[0] // 256) * 4 + (xy[1] // 256) * 64
    rgb = r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")
    out = grayscale(rgb, FilterCall("grayscale"), cast(FilterContext, None))
    pillow = (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16
    off = (out.cast("int") - pillow).abs()
    assert (out.bands, out.format, out.interpretation) == (1, "uchar", "b-w")
    assert off.max() <= 1
    assert off.avg() < 0.001


def test_libvips_log_messages_do_not_run_python_on_libvips_threads(caplog: pytest.LogCaptureFixture) -> None:
    """After configure(), libvips' log messages (an INFO at the end of every pipeline, warnings
    for damaged files) are left to GLib, not forwarded into Python logging from the libvips
    thread that emits them."""
    import logging

    import pyvips

    from imgserver.imaging.setup import configure

    with caplog.at_level(logging.DEBUG, logger="pyvips"):
        configure(1)
        caplog.clear()
        pyvips.Image.black(64, 48).avg()  # without configure(): "VIPS: threadpool completed ..."
    assert not [r for r in caplog.records if r.name == "pyvips" and r.getMessage().startswith("VIPS")]


@pytest.mark.parametrize(("bitdepth", "most"), [(7, 128), (8, 256)])
def test_gif_palette_follows_bitdepth(bitdepth: int, most: int) -> None:
    """formats.gif_bitdepth bounds the palette: a 4096-colour gradient keeps at most
    2**bitdepth colours, and 8 bits keeps more than 7 would."""
    import pyvips

    from imgserver.imaging.encode import EncodeSettings, _save
    from imgserver.plan.model import Output

    x, y = pyvips.Image.xyz(64, 64).bandsplit()
    rgb = (x * 4).bandjoin([y * 4, (x + y) * 2]).cast("uchar")
    data = _save(rgb, Output("gif"), None, EncodeSettings(gif_bitdepth=bitdepth))
    decoded = pyvips.Image.gifload_buffer(data).extract_band(0, n=3)
    colours = {tuple(decoded(i, j)) for i in range(64) for j in range(64)}
    assert 64 < len(colours) <= most
    if bitdepth == 8:
        assert len(colours) > 128


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_leading_grayscale_runs_before_the_rotation_buffer_with_the_same_bytes(orientation: int) -> None:
    """grayscale() first: the load hands back one band already (no colour through the
    rotation buffer) and the JPEG is byte for byte what the grey-after-rotation path makes
    (brightness(0) first keeps the old order and changes no pixel)."""
    from imgserver.imaging.probe import probe
    from imgserver.imaging.steps import RenderSettings, load_geometry, render
    from imgserver.url.grammar import parse_path
    from tests import images

    data = images.jpeg(160, 120, orientation=orientation)
    settings = RenderSettings()
    facts = probe(data, settings.source_limits)

    def bands(path: str) -> int:
        _, frames = load_geometry(data, parse_path("unsafe/" + path), facts, settings)
        return int(frames[0].bands)

    rotated = orientation != 1
    assert bands("90x0/filters:grayscale()/a.jpg") == (1 if rotated else 3)
    assert bands("90x0/filters:brightness(0):grayscale()/a.jpg") == 3
    assert bands("90x30/smart/filters:grayscale()/a.jpg") == 3  # detection sees the colours
    assert bands("debug/90x0/filters:grayscale()/a.jpg") == 3  # outlines are drawn in colour
    early = render(data, parse_path("unsafe/90x0/filters:quality(70):grayscale()/a.jpg"), settings)
    late = render(data, parse_path("unsafe/90x0/filters:quality(70):brightness(0):grayscale()/a.jpg"), settings)
    assert images.decode(early.body).bands == 1
    assert early.body == late.body


def test_http_dates_match_the_standard_formatting() -> None:
    import email.utils
    import time

    from imgserver.handlers.base import HTTP_DATES

    before = int(time.time())
    now = HTTP_DATES.now()
    after = int(time.time())
    assert now in {email.utils.formatdate(t, usegmt=True) for t in range(before, after + 1)}
    for stamp in (0.0, 1359312200.9, 1700000000.0):
        assert HTTP_DATES.of(stamp) == email.utils.formatdate(int(stamp), usegmt=True)
    assert HTTP_DATES.of(1359312200.0) == "Sun, 27 Jan 2013 18:43:20 GMT"  # Tornado's doctest value


def test_base_handler_clear_sets_what_tornados_clear_sets() -> None:
    """BaseHandler.clear mirrors Tornado's (with a cached Date): same fields, same defaults."""
    from unittest import mock

    import tornado.web
    from tornado.httputil import HTTPServerRequest, RequestStartLine

    from imgserver.handlers.base import BaseHandler

    app = tornado.web.Application()
    request = HTTPServerRequest(start_line=RequestStartLine("GET", "/x", "HTTP/1.0"), connection=mock.Mock())
    ours = BaseHandler(app, request)
    theirs = BaseHandler(app, request)
    for handler in (ours, theirs):
        handler.set_status(404)
        handler.write(b"stale")
        handler.set_header("ETag", "x")
    ours.clear()
    tornado.web.RequestHandler.clear(theirs)
    assert set(vars(ours)) == set(vars(theirs))
    assert ours.get_status() == theirs.get_status() == 200
    assert ours._reason == theirs._reason and ours._write_buffer == theirs._write_buffer == []
    assert "ETag" not in ours._headers and ours._headers["Server"] == "imgserver"
    assert set(ours._headers) == set(theirs._headers)
    fixed = ("Date", "Server", "X-Request-Id")
    assert [(k, v) for k, v in ours._headers.get_all() if k not in fixed] == [
        (k, v) for k, v in theirs._headers.get_all() if k not in fixed
    ]


@pytest.mark.parametrize(
    ("path", "handler"),
    [
        ("/unsafe/300x200/a.jpg", "ImageHandler"),
        ("/abcdefghijklmnopqrstuvwxyz01/a.jpg", "ImageHandler"),
        ("/imagesx/a.jpg", "ImageHandler"),
        ("/consolex", "ImageHandler"),
        ("/console/a/b", "ImageHandler"),  # as before: no console route has two segments
        ("/api", "ImageHandler"),  # reserved first segments that no route takes fall through
        ("/api/x", "ImageHandler"),
        ("/healthcheck/", "ImageHandler"),
        ("/metrics/", "ImageHandler"),
        ("/image/", "ImageHandler"),
        ("/images/", "ImageHandler"),
        ("/%68ealthcheck", "ImageHandler"),  # the path is matched undecoded, as before
        ("/healthcheck", "HealthHandler"),
        ("/metrics", "MetricsHandler"),
        ("/image", "UploadHandler"),
        ("/image/a.jpg", "ImageApiHandler"),
        ("/image/a.jpg/metadata", "MetadataHandler"),
        ("/images", "ListHandler"),
        ("/api/sign", "SignHandler"),
        ("/console", "ConsoleHandler"),
        ("/console/", "ConsoleHandler"),
        ("/console/app.js", "ConsoleHandler"),
        ("/", "RootHandler"),
    ],
)
def test_image_urls_are_routed_first_and_the_other_routes_still_win(path: str, handler: str) -> None:
    from unittest import mock

    from tornado.httputil import HTTPServerRequest, RequestStartLine

    from imgserver.app import make_app

    app = make_app(mock.Mock())
    request = HTTPServerRequest(start_line=RequestStartLine("GET", path, "HTTP/1.0"), connection=mock.Mock())
    delegate = app.find_handler(request)
    assert delegate.handler_class.__name__ == handler


def test_read_and_close_reads_to_the_end_or_the_limit_and_closes(tmp_path: object) -> None:
    import os
    from pathlib import Path

    from imgserver.storage.objects import read_and_close

    path = Path(str(tmp_path)) / "f"
    path.write_bytes(bytes(range(256)) * 1000)
    for limit, size in ((10**9, 256_000), (10**9, 100), (64, 64), (1000, 256_000), (10**9, 0), (10**9, 10**6)):
        fd = os.open(path, os.O_RDONLY)
        assert read_and_close(fd, limit, size) == path.read_bytes()[:limit]  # size is only a hint
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(fd)


def test_repeated_urls_reuse_one_parse_and_spellings_share_a_key() -> None:
    from imgserver.handlers.image import understood
    from imgserver.url.grammar import parse_options

    first = understood(None, "x200/filters:quality(70)/a.jpg")
    assert understood(None, "x200/filters:quality(70)/a.jpg") is first
    assert first[0] == parse_options(None, "x200/filters:quality(70)/a.jpg")
    assert understood(None, "0x200/filters:quality(70)/a.jpg")[1] == first[1]
    assert understood(None, "0x200/filters:quality(71)/a.jpg")[1] != first[1]
    assert understood("sig", "0x200/filters:quality(70)/a.jpg")[1] == first[1]  # signature is not in it


@pytest.mark.parametrize(
    ("filters", "builder", "builds"),
    [
        ("watermark(m.png,2,3,30,50,50)", "_resize_rgba", 1),  # faded and resized: both once
        ("frame(m.png)", "draw_nine_patch", 1),
        # Two marks that differ only in alpha and ratios, and a frame with the same key: the
        # memo must keep all three apart (each once), and the bytes must match per frame.
        ("watermark(m.png,0,0,30,50,50):watermark(m.png,5,5,60,20,20):frame(m.png)", "_resize_rgba", 2),
    ],
)
def test_overlays_are_prepared_once_per_animation(
    monkeypatch: pytest.MonkeyPatch, filters: str, builder: str, builds: int
) -> None:
    """A watermark or frame on an animation is prepared once for all its frames (not faded,
    resized or drawn again per frame), and every frame gets the same pixels as when each
    frame prepared its own."""
    import pyvips

    from imgserver.imaging.filters import marks as marks_module
    from imgserver.imaging.filters.registry import FilterContext
    from imgserver.imaging.steps import RenderSettings, render
    from imgserver.url.grammar import parse_path
    from tests import images

    anim = images.animated(60, 40, 5)
    mark = pyvips.Image.black(16, 12, bands=3).add([200, 30, 90]).bandjoin(180).cast("uchar")
    overlays = {"m.png": bytes(mark.copy(interpretation="srgb").pngsave_buffer())}
    parsed = parse_path(f"unsafe/filters:{filters}/a.gif")
    settings = RenderSettings()

    calls = []
    original = getattr(marks_module, builder)

    def counted(*args: object, **kwargs: object) -> pyvips.Image:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(marks_module, builder, counted)
    shared = render(anim, parsed, settings, marks=overlays)
    assert len(calls) == builds

    # The same render with nothing shared between frames: one preparation per frame.
    real_prepare = FilterContext.prepare

    def per_frame(self: FilterContext, ident: tuple[object, ...], build: object, max_pixels: int) -> pyvips.Image:
        self.prepared.clear()
        return real_prepare(self, ident, build, max_pixels)  # type: ignore[arg-type]

    monkeypatch.setattr(FilterContext, "prepare", per_frame)
    calls.clear()
    alone = render(anim, parsed, settings, marks=overlays)
    assert len(calls) == 5 * builds
    assert images.frames_of(shared.body)[:3] == (60, 40, 5)
    assert shared.body == alone.body


def test_a_prepared_overlay_larger_than_the_frame_stays_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A watermark whose ratio box is 10x the frame is not materialised (that could take
    gigabytes at large frame sizes): only overlays up to the frame's size are."""
    import pyvips

    from imgserver.imaging.steps import RenderSettings, render
    from imgserver.url.grammar import parse_path
    from tests import images

    anim = images.animated(60, 40, 3)
    mark = pyvips.Image.black(16, 12, bands=3).add([200, 30, 90]).bandjoin(255).cast("uchar")
    overlays = {"m.png": bytes(mark.copy(interpretation="srgb").pngsave_buffer())}
    materialised: list[tuple[int, int]] = []
    original = pyvips.Image.copy_memory

    def spy(self: pyvips.Image) -> pyvips.Image:
        materialised.append((self.width, self.height))
        return original(self)

    monkeypatch.setattr(pyvips.Image, "copy_memory", spy)
    settings = RenderSettings()
    small = render(anim, parse_path("unsafe/filters:watermark(m.png,0,0,0,50,50)/a.gif"), settings, marks=overlays)
    assert (27, 20) in materialised  # the 16x12 mark fitted into half the 60x40 frame
    materialised.clear()
    huge = render(anim, parse_path("unsafe/filters:watermark(m.png,0,0,0,1000,1000)/a.gif"), settings, marks=overlays)
    # Fitted into 600x400 it would be 533x400: nothing larger than the 3-frame strip is buffered.
    assert materialised and all(w * h <= 60 * 40 * 3 for w, h in materialised)
    assert images.frames_of(small.body)[:3] == (60, 40, 3)
    # The opaque mark covers every frame, so the encoder merges the identical frames into one.
    assert images.frames_of(huge.body)[:4] == (60, 40, 1, [210])


@pytest.mark.parametrize(
    ("source", "limit", "most"),
    [
        ("alpha-png", 1, 1),  # premultiplied in float: one at a time per process
        ("alpha-png", 2, 2),
        ("alpha-png", 0, 4),  # 0: no limit beyond the render threads
        ("opaque-jpeg", 1, 4),  # opaque renders are never held back
        ("opaque-gif", 1, 4),  # a GIF's alpha band is dropped when every frame is opaque
    ],
)
def test_alpha_renders_run_at_most_the_configured_number_at_once(
    monkeypatch: pytest.MonkeyPatch, source: str, limit: int, most: int
) -> None:
    """imaging.alpha_renders: renders that resize an alpha channel wait for one of that many
    places in the process; others run side by side."""
    import threading
    import time

    from imgserver.imaging import steps
    from imgserver.url.grammar import parse_path
    from tests import images

    data = {
        "alpha-png": images.png(120, 80, alpha=True),
        "opaque-jpeg": images.jpeg(120, 80),
        "opaque-gif": images.animated(60, 40, 2),
    }[source]
    parsed = parse_path("unsafe/40x40/a")
    settings = steps.RenderSettings(alpha_renders=limit)
    running = peak = 0
    lock = threading.Lock()
    original = steps.load_geometry

    def slow(*args: object, **kwargs: object) -> object:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)  # long enough for every thread to get here if nothing holds it back
        with lock:
            running -= 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(steps, "load_geometry", slow)
    threads = [threading.Thread(target=steps.render, args=(data, parsed, settings)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert peak == most
