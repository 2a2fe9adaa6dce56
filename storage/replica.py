"""Reads from a PostgreSQL read replica, where the caller says so and it is safe.

``DATABASE_REPLICA_URL`` adds a second Tortoise connection, ``replica``. ``ReplicaRouter`` sends a
model's reads there only inside ``reads_from_replica()``; writes, transactions and every read
outside it use the primary. The API enters it for feed and profile queries (``schema.routing``),
except for a viewer who wrote within the last few seconds (``RecentWrites``): a replica lags the
primary, and a person must see what they just did (read-your-own-writes).

``RecentWrites`` keeps the marks in Redis when one is configured, so a write through one process
sends the writer's next reads through any process to the primary; without Redis (one process) it
keeps them in memory. When Redis cannot answer, the read goes to the primary.

Per request, ``begin_request`` (before the operation runs) looks the viewer up once and
``end_request`` (before the response leaves) records their write, if the operation was one;
``request_reads()`` is what the schema's routing reads in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

log = logging.getLogger("gesso.replica")

REPLICA = "replica"
MARK_PREFIX = "gesso:wrote:"
MARK_TIMEOUT = 0.25  # seconds a mark may take in Redis; on a timeout the read goes to the primary
MAX_LOCAL_MARKS = 100_000

_reading: contextvars.ContextVar[bool] = contextvars.ContextVar("gesso_replica", default=False)


@dataclass(slots=True)
class RequestReads:
    """What one request's routing needs: who asks, whether they wrote lately, whether it wrote."""

    viewer_id: int | None
    wrote_recently: bool
    wrote: bool = False


_request: contextvars.ContextVar[RequestReads | None] = contextvars.ContextVar(
    "gesso_request_reads", default=None
)


def request_reads() -> RequestReads | None:
    """This request's routing state; None outside ``begin_request`` (all reads: the primary)."""
    return _request.get()


class ReplicaRouter:
    """Tortoise router (``routers`` in the config): the replica for reads, when asked."""

    def db_for_read(self, model: type[Any]) -> str | None:
        return REPLICA if _reading.get() else None

    def db_for_write(self, model: type[Any]) -> str | None:
        return None


@contextlib.contextmanager
def reads_from_replica() -> Iterator[None]:
    """Send the ORM reads made inside (and in tasks started inside) to the replica."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reading_from_replica() -> bool:
    return _reading.get()


class RecentWrites:
    """Who wrote within the last ``window`` seconds.

    ``client`` is a ``redis.asyncio`` client (or cluster client) shared by all app processes;
    ``None`` keeps the marks in this process.
    """

    @classmethod
    def from_url(cls, window: float, redis_url: str | None, *, cluster: bool) -> RecentWrites:
        """Marks shared through the Redis (or Redis Cluster) at ``redis_url``; in memory when
        ``None``."""
        client: Any = None
        if redis_url is not None:
            factory: Any = RedisCluster if cluster else aioredis.Redis
            client = factory.from_url(redis_url, socket_connect_timeout=1)
        return cls(window, client)

    def __init__(self, window: float, client: Any = None) -> None:
        if window <= 0:
            raise ValueError(f"the read-your-own-writes window must be positive, got {window}")
        self.window = window
        self.client = client
        self._local: dict[int, float] = {}

    async def mark(self, viewer_id: int) -> None:
        """``viewer_id`` just wrote: read from the primary for them for ``window`` seconds."""
        self._local[viewer_id] = time.monotonic() + self.window
        if len(self._local) > MAX_LOCAL_MARKS:
            self._expire_local()
        if self.client is None:
            return
        try:
            async with asyncio.timeout(MARK_TIMEOUT):
                await self.client.set(
                    f"{MARK_PREFIX}{viewer_id}", b"1", px=max(1, int(self.window * 1000))
                )
        except (RedisError, OSError, TimeoutError) as error:
            # Reads of this process still see the local mark; other processes may not.
            log.warning("cannot record a write in Redis: %s", error)

    async def wrote_recently(self, viewer_id: int) -> bool:
        deadline = self._local.get(viewer_id)
        if deadline is not None and deadline > time.monotonic():
            return True
        if self.client is None:
            return False
        try:
            async with asyncio.timeout(MARK_TIMEOUT):
                return bool(await self.client.exists(f"{MARK_PREFIX}{viewer_id}"))
        except (RedisError, OSError, TimeoutError):
            return True  # unknown: the primary is always right

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.client.aclose()

    def _expire_local(self) -> None:
        now = time.monotonic()
        self._local = {k: v for k, v in self._local.items() if v > now}


async def begin_request(writes: RecentWrites, viewer_id: int | None) -> None:
    """Start routing the current request (one Redis look-up for a signed-in viewer)."""
    recent = viewer_id is not None and await writes.wrote_recently(viewer_id)
    _request.set(RequestReads(viewer_id, recent))


async def end_request(writes: RecentWrites) -> None:
    """Record the viewer's write, if the request made one, before its response is sent."""
    state = _request.get()
    _request.set(None)
    if state is not None and state.wrote and state.viewer_id is not None:
        await writes.mark(state.viewer_id)
