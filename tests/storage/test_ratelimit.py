"""Sliding-window counters, in memory and in a real Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from storage.ratelimit import (
    MemoryRateLimitStore,
    RateLimitStore,
    RateLimitUnavailable,
    RedisRateLimitStore,
)
from tests.services import RedisProcess

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex}"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RateLimitStore]:
    made: RateLimitStore = (
        MemoryRateLimitStore() if request.param == "memory" else RedisRateLimitStore(REDIS_URL)
    )
    yield made
    await made.close()


async def test_hits_up_to_the_limit_pass_and_the_next_is_refused(
    store: RateLimitStore, key: str
) -> None:
    decisions = [await store.hit(key, limit=3, window=60) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    # the refused hit may come back when the first hit leaves the window, about 60 s later
    assert 59 < refused.retry_after <= 60
    assert 59 < decisions[0].reset_after <= 60


async def test_cost_and_peeking(store: RateLimitStore, key: str) -> None:
    # a charge of several hits counts them all, or none when they do not fit
    assert (await store.hit(key, limit=5, window=60, cost=4)).remaining == 1
    assert not (await store.hit(key, limit=5, window=60, cost=2)).allowed
    # cost=0 only asks whether one more fits, and counts nothing
    assert (await store.hit(key, limit=5, window=60, cost=0)).allowed
    assert (await store.hit(key, limit=5, window=60)).allowed
    assert not (await store.hit(key, limit=5, window=60, cost=0)).allowed
    # a charge larger than the limit can never fit: it waits a whole window
    too_big = await store.hit(key + ":b", limit=2, window=60, cost=3)
    assert (too_big.allowed, too_big.retry_after) == (False, 60)


async def test_keys_are_counted_apart(store: RateLimitStore, key: str) -> None:
    assert (await store.hit(key + ":a", limit=1, window=60)).allowed
    assert (await store.hit(key + ":b", limit=1, window=60)).allowed
    assert not (await store.hit(key + ":a", limit=1, window=60)).allowed
    await store.reset(key + ":a")
    assert (await store.hit(key + ":a", limit=1, window=60)).allowed


async def test_the_window_slides_and_refusals_are_not_counted(key: str) -> None:
    clock = Clock()
    store = MemoryRateLimitStore(clock=clock)
    # given 2 hits at t=0 and 2 at t=30, with 4 per 60 s
    for at in (0, 0, 30, 30):
        clock.now = 1000 + at
        assert (await store.hit(key, limit=4, window=60)).allowed
    # when the client keeps knocking at t=59 (refused: a fixed minute would have let it in at 60)
    clock.now = 1059
    refused = await store.hit(key, limit=4, window=60)
    assert (refused.allowed, refused.retry_after) == (False, 1)
    # then at t=60 the first two have left the window: exactly two more fit
    clock.now = 1060
    assert [(await store.hit(key, limit=4, window=60)).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]


async def test_redis_windows_expire_in_real_time(key: str) -> None:
    store = RedisRateLimitStore(REDIS_URL)
    try:
        assert (await store.hit(key, limit=1, window=0.3)).allowed
        refused = await store.hit(key, limit=1, window=0.3)
        assert not refused.allowed
        assert 0 < refused.retry_after <= 0.3
        await asyncio.sleep(refused.retry_after + 0.05)
        assert (await store.hit(key, limit=1, window=0.3)).allowed
    finally:
        await store.close()


async def test_redis_counts_atomically_across_clients(key: str) -> None:
    # given four clients (as four processes would have) sharing one Redis
    stores = [RedisRateLimitStore(REDIS_URL) for _ in range(4)]
    try:
        # when 200 hits race for a limit of 50
        decisions = await asyncio.gather(
            *(stores[i % 4].hit(key, limit=50, window=60) for i in range(200))
        )
        # then exactly 50 pass
        assert sum(d.allowed for d in decisions) == 50
    finally:
        for store in stores:
            await store.close()


async def test_an_unreachable_redis_is_reported(tmp_path: Path, key: str) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    store = RedisRateLimitStore(server.url)
    try:
        assert (await store.hit(key, limit=1, window=60)).allowed
        server.stop()
        with pytest.raises(RateLimitUnavailable):
            await store.hit(key, limit=1, window=60)
    finally:
        server.stop()
        await store.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.hit("k", limit=0, window=1),
        lambda s: s.hit("k", limit=1, window=0),
        lambda s: s.hit("k", limit=1, window=1, cost=-1),
    ],
)
async def test_nonsense_limits_are_refused(call: Callable[[MemoryRateLimitStore], object]) -> None:
    with pytest.raises(ValueError, match="bad rate limit"):
        await call(MemoryRateLimitStore())  # type: ignore[misc]


async def test_a_hung_redis_fails_a_hit_in_bounded_time_and_is_not_asked_again_at_once(
    tmp_path: Path, key: str
) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    assert server.process is not None
    store = RedisRateLimitStore(server.url, timeout=0.2, retry_after_failure=0.5)
    try:
        assert (await store.hit(key, limit=2, window=60)).allowed
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            # when Redis hangs, a hit fails after the timeout ...
            started = time.monotonic()
            with pytest.raises(RateLimitUnavailable, match=r"no answer within 0\.2 s"):
                await asyncio.wait_for(store.hit(key, limit=2, window=60), 5)
            first = time.monotonic() - started
            # ... and the next ones at once, without waiting on Redis again
            started = time.monotonic()
            for _ in range(10):
                with pytest.raises(RateLimitUnavailable, match="failed a moment ago"):
                    await store.hit(key, limit=2, window=60)
            rest = time.monotonic() - started
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert 0.2 <= first < 0.5
        assert rest < 0.05
        # then, once it answers and the pause is over, the count it kept applies (the hit that
        # timed out may have been counted when Redis woke up: either way the limit is reached)
        await asyncio.sleep(0.5)
        assert (await store.hit(key, limit=2, window=60)).remaining == 0
        assert not (await store.hit(key, limit=2, window=60)).allowed
    finally:
        await store.close()
        server.stop()
