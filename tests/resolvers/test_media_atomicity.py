"""An upload is all or nothing, even when the S3 endpoint dies in the middle of it.

The store is the S3 implementation talking HTTP to moto's server mode; the outage is real: the
server is stopped after the first object of the upload was written.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from resolvers import portfolio
from resolvers.context import Context
from resolvers.media import ImageUpload, StorageUnavailable, sweep_orphans
from resolvers.services import MediaService, Services
from storage.models import Artwork, MediaAsset, OrphanedObject, User
from storage.objects import S3ObjectStore, StoredObject
from tests.images import photo
from tests.services import MotoServer


class StopsAfterFirstPut(S3ObjectStore):
    """An S3 store whose endpoint goes down right after the first object is written."""

    def __init__(self, moto: MotoServer, **options: Any) -> None:
        super().__init__(**options)
        self.moto = moto
        self.written: list[str] = []

    async def put(self, key: str, data: bytes, **options: Any) -> StoredObject:
        stored = await super().put(key, data, **options)
        self.written.append(key)
        if len(self.written) == 1:
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
    # when the endpoint dies after the first of the upload's six files was written
    with pytest.raises(StorageUnavailable, match="nothing was saved"):
        await portfolio.create_artwork(ctx, title="Storm", images=[ImageUpload(data=photo())])
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
