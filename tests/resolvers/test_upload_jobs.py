"""Protection jobs from the resolvers' side: a queue that is down, a job run twice, an upload
sent twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resolvers import jobs
from storage.jobs import RedisJobQueue
from storage.models import MediaAsset, MediaStatus
from tests.graphql import GraphQLClient
from tests.images import photo
from tests.services import free_port

CREATE = (
    "mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {"
    " artwork { images { id } } errors { code } } }"
)


@pytest.fixture
async def api(clean_db: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient.for_app(GESSO_UPLOADS_WAIT="false") as client:
        await client.sign_up("queued")
        yield client


@pytest.fixture
async def redis_queue() -> AsyncIterator[RedisJobQueue]:
    prefix = f"test-upload-jobs-{uuid.uuid4().hex[:10]}"
    queue = RedisJobQueue("redis://127.0.0.1:6379/13", prefix=prefix, visibility=30)
    try:
        yield queue
    finally:
        async for key in queue.client.scan_iter(f"{prefix}:*"):
            await queue.client.delete(key)
        await queue.close()


async def _upload(api: GraphQLClient, upload_id: str) -> dict[str, object]:
    result = await api.upload(
        CREATE,
        {"i": {"title": "Q", "images": [{"file": None, "uploadId": upload_id}]}},
        {"i.images.0.file": ("q.jpg", photo(), "image/jpeg")},
        as_="queued",
    )
    payload: dict[str, object] = result.data["createArtwork"]
    return payload


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_with_the_queue_down_an_upload_is_accepted_and_runs_when_it_is_back(
    api: GraphQLClient, redis_queue: RedisJobQueue
) -> None:
    media = api.services.media
    media.queue = RedisJobQueue(f"redis://127.0.0.1:{free_port()}/0")
    # when an upload arrives while Redis is unreachable
    payload = await _upload(api, "down-1")
    # then it is accepted, durably: the row waits PROCESSING, never queued, its upload staged
    assert payload["errors"] == []
    row = await MediaAsset.get()
    assert (row.status, row.queued_at) == (MediaStatus.PROCESSING, None)
    assert row.staging_key is not None
    assert await media.store.exists(row.staging_key)
    await media.queue.close()
    # and once the queue is back, the sweep hands it over and a worker protects it
    media.queue = redis_queue
    assert await jobs.requeue(api.services, everything=False) == 1
    assert await jobs.requeue(api.services, everything=False) == 0  # queued now
    worker = jobs.Worker(api.services, jobs.in_thread, consumer="test")
    job = await redis_queue.receive("test-0", wait=1)
    assert job is not None
    assert await worker.handle(job, "test-0") == "ready"
    done = await MediaAsset.get(id=row.id)
    assert (done.status, done.stage, done.staging_key) == (MediaStatus.READY, "ready", None)
    assert not await media.store.exists(f"private/staging/{row.owner_id}/{row.id}")
    stats = await redis_queue.stats()
    assert (stats.queued, stats.in_flight, stats.outcomes["ready"]) == (0, 0, 1)


async def test_a_job_delivered_again_after_it_finished_changes_nothing(
    api: GraphQLClient, redis_queue: RedisJobQueue
) -> None:
    media = api.services.media
    media.queue = redis_queue
    await _upload(api, "twice-1")
    job = await redis_queue.receive("a", wait=1)
    assert job is not None
    worker = jobs.Worker(api.services, jobs.in_thread, consumer="test")
    assert await worker.handle(job, "a") == "ready"
    root = Path(media.store.root)
    files = _files(root)
    row = await MediaAsset.get()
    # when the same job comes again (a duplicate from a sweep, or a redelivery)
    await redis_queue.enqueue(row.id)
    again = await redis_queue.receive("b", wait=1)
    assert again is not None
    assert await worker.handle(again, "b") == "skipped"
    # then there is still one image, and not one more file
    assert await MediaAsset.all().count() == 1
    assert _files(root) == files


async def test_an_upload_sent_twice_is_one_image(api: GraphQLClient) -> None:
    first = await _upload(api, "same-1")
    assert first["errors"] == []
    # when the client sends the same upload again (a retry after a lost answer)
    second = await _upload(api, "same-1")
    # then it is refused as a duplicate and nothing more is created
    assert second == {"artwork": None, "errors": [{"code": "DUPLICATE"}]}
    assert await MediaAsset.all().count() == 1
