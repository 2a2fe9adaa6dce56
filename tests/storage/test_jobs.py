"""The protection job queue on a real Redis (its own DB and key prefix) and in process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from storage.jobs import (
    DELETE_ACCOUNT,
    EXPORT,
    IMAGE,
    InProcessJobQueue,
    JobQueue,
    QueueUnavailable,
    RedisJobQueue,
    backoff,
)
from tests.services import free_port

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
async def queue() -> AsyncIterator[RedisJobQueue]:
    prefix = f"test-queue-{uuid.uuid4().hex[:10]}"
    jobs = RedisJobQueue(REDIS_URL, prefix=prefix, visibility=0.3, max_attempts=3)
    try:
        yield jobs
    finally:
        async for key in jobs.client.scan_iter(f"{prefix}:*"):
            await jobs.client.delete(key)
        await jobs.close()


async def test_a_job_is_delivered_once_and_gone_when_acknowledged(queue: RedisJobQueue) -> None:
    await queue.enqueue(41)
    job = await queue.receive("a", wait=1)
    assert job is not None
    assert (job.asset_id, job.attempt) == (41, 1)
    assert (await queue.stats()).in_flight == 1
    # another consumer gets nothing while the first holds it
    assert await queue.receive("b", wait=0.05) is None
    await queue.ack(job)
    stats = await queue.stats()
    assert (stats.queued, stats.in_flight, stats.delayed, stats.dead) == (0, 0, 0, 0)


async def test_the_job_of_a_silent_consumer_goes_to_another_counting_the_delivery(
    queue: RedisJobQueue,
) -> None:
    await queue.enqueue(7)
    first = await queue.receive("dies", wait=1)
    assert first is not None
    await asyncio.sleep(0.4)  # past the visibility timeout, with no keep()
    again = await queue.receive("survivor", wait=1)
    assert again is not None
    assert (again.asset_id, again.entry, again.attempt) == (7, first.entry, 2)


async def test_a_kept_job_is_not_taken_over(queue: RedisJobQueue) -> None:
    await queue.enqueue(8)
    job = await queue.receive("busy", wait=1)
    assert job is not None
    for _ in range(3):
        await asyncio.sleep(0.15)
        await queue.keep(job, "busy")
    assert await queue.receive("other", wait=0.05) is None


async def test_a_retry_waits_its_backoff_then_comes_back_with_its_count(
    queue: RedisJobQueue,
) -> None:
    await queue.enqueue(9)
    job = await queue.receive("a", wait=1)
    assert job is not None
    await queue.retry(job, 0.3)
    assert (await queue.stats()).delayed == 1
    assert await queue.receive("a", wait=0.05) is None
    await asyncio.sleep(0.35)
    again = await queue.receive("a", wait=1)
    assert again is not None
    assert (again.asset_id, again.attempt) == (9, 2)
    assert (await queue.stats()).delayed == 0


async def test_a_dead_letter_is_kept_with_its_reason(queue: RedisJobQueue) -> None:
    await queue.enqueue(10)
    job = await queue.receive("a", wait=1)
    assert job is not None
    await queue.dead(job, "store down 3 times")
    await queue.record("dead")
    stats = await queue.stats()
    assert (stats.queued, stats.in_flight, stats.dead, stats.outcomes["dead"]) == (0, 0, 1, 1)
    assert await queue.dead_letters() == [
        {"asset": "10", "attempt": "1", "reason": "store down 3 times"}
    ]


async def test_outcomes_and_seconds_are_shared_counts(queue: RedisJobQueue) -> None:
    await queue.record("ready", 1.5)
    await queue.record("ready", 25.0)
    stats = await queue.stats()
    assert stats.outcomes["ready"] == 2
    assert stats.seconds_sum == pytest.approx(26.5)
    assert (stats.seconds_buckets[2.0], stats.seconds_buckets[30.0]) == (1, 2)


async def test_an_unreachable_redis_is_a_queue_error() -> None:
    dead = RedisJobQueue(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(QueueUnavailable):
        await dead.enqueue(1)
    await dead.close()


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(30) == 300.0


async def test_the_in_process_queue_retries_after_the_delay() -> None:
    jobs = InProcessJobQueue()
    await jobs.enqueue(3)
    job = await jobs.receive("api", wait=1)
    assert job is not None
    await jobs.retry(job, 0.05)
    assert (await jobs.stats()).delayed == 1
    again = await jobs.receive("api", wait=1)
    assert again is not None
    assert (again.asset_id, again.attempt) == (3, 2)
    await jobs.close()


@pytest.mark.parametrize("backend", ["redis", "in_process"])
async def test_an_export_job_keeps_its_kind_through_a_retry_and_the_dead_letters(
    queue: RedisJobQueue, backend: str
) -> None:
    jobs: JobQueue = queue if backend == "redis" else InProcessJobQueue()
    await jobs.enqueue(12, kind=EXPORT)
    job = await jobs.receive("a", wait=1)
    assert job is not None
    assert (job.asset_id, job.kind) == (12, EXPORT)
    await jobs.retry(job, 0.05)
    await asyncio.sleep(0.1)
    again = await jobs.receive("a", wait=1)
    assert again is not None
    assert (again.asset_id, again.attempt, again.kind) == (12, 2, EXPORT)
    await jobs.dead(again, "gave up")
    if isinstance(jobs, RedisJobQueue):
        (letter,) = await jobs.dead_letters()
        assert letter["kind"] == EXPORT
    with pytest.raises(ValueError, match="unknown job kind"):
        await jobs.enqueue(13, kind="bogus")


async def test_a_job_keeps_its_kind_through_a_retry_and_into_the_dead_letters(
    queue: RedisJobQueue,
) -> None:
    # given an account deletion queued next to a protection job
    await queue.enqueue(7, kind=DELETE_ACCOUNT)
    await queue.enqueue(8)
    first = await queue.receive("a", wait=1)
    second = await queue.receive("a", wait=1)
    assert first is not None
    assert second is not None
    assert [(j.asset_id, j.kind) for j in (first, second)] == [(7, DELETE_ACCOUNT), (8, IMAGE)]
    # when both are retried, they come back as what they were
    await queue.retry(first, 0)
    await queue.retry(second, 0)
    again = [await queue.receive("a", wait=1) for _ in range(2)]
    assert sorted((j.asset_id, j.attempt, j.kind) for j in again if j is not None) == [
        (7, 2, DELETE_ACCOUNT),
        (8, 2, IMAGE),
    ]
    # and a dead letter says which kind it was
    deletion = next(j for j in again if j is not None and j.kind == DELETE_ACCOUNT)
    await queue.dead(deletion, "gave up")
    assert await queue.dead_letters() == [
        {"asset": "7", "attempt": "2", "kind": DELETE_ACCOUNT, "reason": "gave up"}
    ]


async def test_the_in_process_queue_keeps_the_kind_of_a_retried_job() -> None:
    jobs = InProcessJobQueue()
    await jobs.enqueue(5, kind=DELETE_ACCOUNT)
    job = await jobs.receive("api", wait=1)
    assert job is not None
    assert job.kind == DELETE_ACCOUNT
    await jobs.retry(job, 0.01)
    again = await jobs.receive("api", wait=1)
    assert again is not None
    assert (again.asset_id, again.attempt, again.kind) == (5, 2, DELETE_ACCOUNT)
    await jobs.close()
