"""An upload is all or nothing, even when the S3 endpoint dies in the middle of it, and so is
the protection job that publishes it.

The store is the S3 implementation talking HTTP to moto's server mode; the outage is real: the
server is stopped after an object was written.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from resolvers import jobs, portfolio
from resolvers.context import Context
from resolvers.media import ImageUpload, StorageUnavailable, sweep_orphans
from resolvers.services import MediaService, Services
from storage.models import Artwork, MediaAsset, MediaStatus, OrphanedObject, User
from storage.objects import S3ObjectStore, StoredObject
from tests.images import photo
from tests.services import MotoServer


class StopsAfterFirstPut(S3ObjectStore):
    """An S3 store whose endpoint goes down right after the ``stop_after``-th object is written
    (the first, unless a test says otherwise)."""

    def __init__(self, moto: MotoServer, **options: Any) -> None:
        super().__init__(**options)
        self.moto = moto
        self.written: list[str] = []
        self.stop_after = 1

    async def put(self, key: str, data: bytes, **options: Any) -> StoredObject:
        stored = await super().put(key, data, **options)
        self.written.append(key)
        if len(self.written) == self.stop_after:
            self.moto.stop()
        return stored


@pytest.fixture
async def outage(clean_db: str) -> AsyncIterator[tuple[Context, StopsAfterFirstPut, MotoServer]]:
    moto = MotoServer()
    moto.start()
    store = StopsAfterFirstPut(
        moto,
        bucket=f"atomic-{uuid.uuid4().hex[:12]}",
        endpoint_url=moto.endpoint_url,
        access_key="test",
        secret_key="test",
        create_bucket=True,
        connect_timeout=1,
        read_timeout=2,
        max_attempts=1,
    )
    await store.start()
    media = MediaService(store=store, watermark_key=b"k" * 32, cloak_keys=lambda _: b"c" * 32)
    user = await User.create(
        handle="atomic", handle_key="atomic", email="a@example.com", email_key="a@example.com",
        password_hash="x",
    )  # fmt: skip
    ctx = Context(services=Services(token_ttl_seconds=60, media=media), viewer=user)
    try:
        yield ctx, store, moto
    finally:
        media.shutdown()
        await store.close()
        moto.stop()


async def test_an_endpoint_dying_mid_upload_leaves_nothing_behind(
    outage: tuple[Context, StopsAfterFirstPut, MotoServer],
) -> None:
    ctx, store, moto = outage
    # when the endpoint dies after the first of the two staged uploads was written
    with pytest.raises(StorageUnavailable, match="nothing was saved"):
        await portfolio.create_artwork(
            ctx, title="Storm", images=[ImageUpload(data=photo()), ImageUpload(data=photo())]
        )
    # then no row remains, and the written file is recorded for removal
    assert await Artwork.all().count() == 0
    assert await MediaAsset.all().count() == 0
    assert [o.key for o in await OrphanedObject.all()] == store.written
    # and once the endpoint is back, the sweeper removes it
    moto.start()
    assert await store.exists(store.written[0])
    assert await sweep_orphans(ctx.services) == 1
    assert not await store.exists(store.written[0])
    assert await OrphanedObject.all().count() == 0


async def test_an_endpoint_dying_while_a_job_publishes_keeps_the_job_for_a_retry(
    outage: tuple[Context, StopsAfterFirstPut, MotoServer],
) -> None:
    ctx, store, moto = outage
    store.stop_after = 2  # the staged upload, then the first published file
    artwork = await portfolio.create_artwork(ctx, title="Storm", images=[ImageUpload(data=photo())])
    row = await MediaAsset.get(artwork_id=artwork.id)
    staged = row.staging_key
    assert staged == store.written[0]
    # when the endpoint dies after the job wrote the first of the image's files
    with pytest.raises(jobs.Transient):
        await jobs.run_job(ctx.services, row.id, jobs.in_thread)
    # then the image still waits, staged, and the written file is recorded for removal
    waiting = await MediaAsset.get(id=row.id)
    assert (waiting.status, waiting.staging_key) == (MediaStatus.PROCESSING, staged)
    assert [o.key for o in await OrphanedObject.all()] == store.written[1:2]
    # and once the endpoint is back, the sweep removes it and the retry publishes the image
    moto.start()
    assert await sweep_orphans(ctx.services) == 1
    assert await jobs.run_job(ctx.services, row.id, jobs.in_thread) == "ready"
    done = await MediaAsset.get(id=row.id)
    assert (done.status, done.staging_key) == (MediaStatus.READY, None)
    assert not await store.exists(staged)
    assert all([await store.exists(str(v["key"])) for v in done.variants])
