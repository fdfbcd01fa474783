"""The filesystem result cache with the file loader: layout, hits, TTL, store faults."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.ioloop

from imgserver.settings import Settings
from imgserver.state import AppState
from tests.integration.conftest import close_test_state, make_settings, open_test_state

pytestmark = pytest.mark.integration


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def settings(image_root: Path, cache_root: Path) -> Settings:
    return make_settings(
        image_root,
        result_cache__kind="file",
        result_cache__root=str(cache_root),
        result_cache__ttl=3600,
        imaging__coalesce_linger=0,  # back-to-back requests must reach the cache, not a lingering flight
    )


@pytest.fixture
def state(io_loop: tornado.ioloop.IOLoop, settings: Settings) -> Iterator[AppState]:
    state = open_test_state(io_loop, settings)
    yield state
    close_test_state(io_loop, state)


async def settle(state: AppState) -> None:
    while state.background:
        await asyncio.wait(set(state.background), timeout=10)


@pytest.mark.gen_test
async def test_file_cache_layout_hit_and_ttl(fetch, state: AppState, cache_root: Path) -> None:
    first = await fetch("/unsafe/300x200/photos/doctor.jpg")
    await settle(state)
    stored = await asyncio.to_thread(lambda: list((cache_root / "photos" / "doctor.jpg").iterdir()))
    assert len(stored) == 1 and stored[0].suffix == ".jpg" and len(stored[0].stem) == 64
    second = await fetch("/unsafe/300x200/photos/doctor.jpg")
    assert second.body == first.body and second.headers["Content-Type"] == "image/jpeg"
    assert state.metrics["result_cache_hits"] == 1 and state.metrics["renders"] == 1

    old = time.time() - 7200  # older than the TTL: a miss, rendered and stored again
    os.utime(stored[0], (old, old))
    third = await fetch("/unsafe/300x200/photos/doctor.jpg")
    assert third.code == 200
    assert state.metrics["result_cache_misses"] == 2 and state.metrics["renders"] == 2


@pytest.fixture
def blocked_root(cache_root: Path) -> Path:
    cache_root.parent.mkdir(parents=True, exist_ok=True)
    cache_root.write_text("a file where the cache folder should be")
    return cache_root


@pytest.mark.gen_test
async def test_unwritable_cache_is_counted_not_an_error(fetch, blocked_root: Path, state: AppState) -> None:
    response = await fetch("/unsafe/100x100/small.jpg")
    assert response.code == 200
    await settle(state)
    assert state.metrics["result_cache_store_failures"] == 1


def test_store_reads_small_results_on_the_loop_and_large_ones_in_a_thread(tmp_path: Path) -> None:
    import threading

    from imgserver.storage.base import CachedResult
    from imgserver.storage.fs import FileResultStore

    store = FileResultStore(tmp_path, ttl=3600)
    small, large = b"s" * 1000, b"L" * (FileResultStore.LOOP_READ_BYTES + 1)
    readers: list[str] = []
    read_all = FileResultStore._read_all

    def spy(fd: int, size: int) -> bytes:
        readers.append(threading.current_thread().name)
        return read_all(fd, size)

    async def scenario() -> list[CachedResult | None]:
        await store.put("k/small.jpg", CachedResult(small, "image/jpeg"))
        await store.put("k/large.png", CachedResult(large, "image/png"))
        os.mkfifo(tmp_path / "k" / "fifo.jpg")  # must be a miss at once, not a wait for a writer
        old = tmp_path / "k" / "old.jpg"
        old.write_bytes(b"x")
        os.utime(old, (0, 0))  # older than the TTL
        names = ("k/small.jpg", "k/large.png", "k/fifo.jpg", "k/old.jpg", "k/none.jpg")
        return [await store.get(name) for name in names]

    store._read_all = spy  # type: ignore[method-assign]
    got = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert got[0] == CachedResult(small, "image/jpeg") and got[1] == CachedResult(large, "image/png")
    assert got[2:] == [None, None, None]
    assert readers[0] == threading.main_thread().name and readers[1] != threading.main_thread().name
