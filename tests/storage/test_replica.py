"""Read-your-own-writes marks, shared between processes through a real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from storage.replica import RecentWrites, reading_from_replica, reads_from_replica
from tests.services import RedisProcess


async def test_a_mark_made_in_one_process_is_seen_in_another_until_it_expires(
    tmp_path: Path,
) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    first = RecentWrites(0.5, aioredis.Redis.from_url(server.url))
    second = RecentWrites(0.5, aioredis.Redis.from_url(server.url))
    try:
        assert await second.wrote_recently(7) is False
        await first.mark(7)
        assert await second.wrote_recently(7) is True
        assert await second.wrote_recently(8) is False
        await asyncio.sleep(0.6)
        assert await second.wrote_recently(7) is False
        # when Redis is gone, nobody can tell: the primary answers
        server.stop()
        assert await second.wrote_recently(7) is True
    finally:
        await first.close()
        await second.close()
        server.stop()


async def test_without_redis_marks_stay_in_the_process() -> None:
    writes = RecentWrites(0.2)
    await writes.mark(1)
    assert (await writes.wrote_recently(1), await writes.wrote_recently(2)) == (True, False)
    await asyncio.sleep(0.25)
    assert await writes.wrote_recently(1) is False


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window must be positive, got 0"):
        RecentWrites(0)


async def test_replica_reads_are_scoped_and_reach_tasks_started_inside() -> None:
    async def inner() -> bool:
        return reading_from_replica()

    assert reading_from_replica() is False
    with reads_from_replica():
        assert await asyncio.create_task(inner()) is True
    assert reading_from_replica() is False
