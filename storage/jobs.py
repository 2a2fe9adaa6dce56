"""Background jobs: a durable queue on Redis Streams, or in process.

A job names one row (its row holds everything else): a ``MediaAsset`` to protect (kind
``image``), an ``AccountExport`` to build (kind ``export``) or an account to delete (kind
``delete_account``, its ``AccountDeletion`` row), so a job is a few bytes and the database
stays the source of truth.

``RedisJobQueue`` uses one stream and one consumer group (redis-py, no further library):

* ``enqueue``: ``XADD``. ``receive``: first ``XAUTOCLAIM`` of an entry whose consumer has not
  touched it for ``visibility`` seconds (its worker died: the job runs again), else
  ``XREADGROUP``. A worker ``keep``s its entry while it works (``XCLAIM ... JUSTID`` resets the
  idle time without counting a delivery), so only a dead worker's job is taken over.
* ``ack``: ``XACK`` and ``XDEL`` in one transaction, so the stream holds only unfinished jobs.
* ``retry``: the job moves to a sorted set scored by when it is due (backoff) and a Lua script
  moves due jobs back into the stream atomically; ``dead``: the job moves to a dead-letter stream.
* Deliveries are counted (the retry count in the entry plus Redis's delivery count), so a job that
  kills its worker every time ends in the dead-letter stream after ``max_attempts``.
* Outcomes and job seconds are counted in a hash shared by every process, so any API process's
  ``/metrics`` shows the fleet's totals.

``InProcessJobQueue`` is the embedded default: an asyncio queue in the API process. It is not
durable by itself; the PROCESSING rows are (``resolvers.uploads.requeue``), so the jobs of a
restarted process run again.

Redis errors are translated into ``QueueUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

GROUP = "workers"
# Seconds of a job, for the shared histogram.
JOB_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
OUTCOMES = ("ready", "refused", "retried", "dead", "skipped", "deleted")

# What a job does with the row it names (an entry that names no kind is an image).
IMAGE = "image"  # protect a staged upload (resolvers.jobs)
EXPORT = "export"  # build an account's archive (resolvers.exports)
DELETE_ACCOUNT = "delete_account"  # delete an account, step by step (resolvers.leaving)
KINDS = (IMAGE, EXPORT, DELETE_ACCOUNT)

# Move the jobs due by ARGV[1] from the delayed set KEYS[1] to the stream KEYS[2], atomically.
# A member is "<row>:<attempt>:<entry>[:<kind>]" (no kind: an image).
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  local asset, attempt = string.match(member, '^(%d+):(%d+):')
  local kind = string.match(member, ':(%a[%w_]*)$') or 'image'
  redis.call('XADD', KEYS[2], '*', 'asset', asset, 'attempt', attempt, 'kind', kind)
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


class QueueUnavailable(Exception):
    """The queue's Redis cannot be reached or refused the command."""


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery of a job: the row it names (an image to protect, an export to build or an
    account to delete: ``kind``) and how many times it has been tried."""

    asset_id: int  # the row's id, of the table its kind names
    attempt: int  # 1 on the first run
    entry: str = ""  # the stream entry id (Redis only)
    kind: str = IMAGE


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued: int  # waiting for a worker
    in_flight: int  # taken by a worker, not yet finished
    delayed: int  # waiting for a retry after a failure
    dead: int  # given up (dead-letter stream)
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds_sum: float = 0.0
    seconds_buckets: dict[float, int] = field(default_factory=dict)  # cumulative, by upper bound


def backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Seconds to wait after try ``attempt`` failed: 2, 4, 8 ... and at most ``cap``."""
    return float(min(cap, base * 2 ** (attempt - 1)))


class JobQueue:
    """What the API and the workers ask of a queue."""

    max_attempts: int = 5
    visibility: float = 60.0

    async def start(self) -> None:
        """Connect (lazily where the backend allows)."""

    async def close(self) -> None:
        """Release connections."""

    async def enqueue(self, asset_id: int, *, kind: str = IMAGE) -> None:
        raise NotImplementedError

    async def receive(self, consumer: str, *, wait: float) -> Job | None:
        """The next job for ``consumer``, waiting at most ``wait`` seconds; None if none."""
        raise NotImplementedError

    async def ack(self, job: Job) -> None:
        """The job is finished (whatever its outcome): remove it."""
        raise NotImplementedError

    async def keep(self, job: Job, consumer: str) -> None:
        """The job is still being worked on by ``consumer``: do not hand it to another worker."""

    async def retry(self, job: Job, delay: float) -> None:
        """Run the job again in ``delay`` seconds."""
        raise NotImplementedError

    async def dead(self, job: Job, reason: str) -> None:
        """Give the job up: keep it in the dead-letter list with ``reason``."""
        raise NotImplementedError

    async def record(self, outcome: str, seconds: float | None = None) -> None:
        """Count one finished job (and how long it ran)."""

    async def stats(self) -> QueueStats:
        raise NotImplementedError


class InProcessJobQueue(JobQueue):
    """The embedded queue: jobs live in this process (their rows make them survive a restart)."""

    def __init__(self, *, max_attempts: int = 5) -> None:
        self.max_attempts = max_attempts
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._in_flight: set[tuple[str, int]] = set()
        self._delayed: set[asyncio.TimerHandle] = set()
        self._dead: list[tuple[Job, str]] = []
        self._outcomes: Counter[str] = Counter()
        self._seconds: list[float] = []

    async def enqueue(self, asset_id: int, *, kind: str = IMAGE) -> None:
        self._queue.put_nowait(Job(asset_id, 1, kind=_kind(kind)))

    async def receive(self, consumer: str, *, wait: float) -> Job | None:
        try:
            job = await asyncio.wait_for(self._queue.get(), wait)
        except TimeoutError:
            return None
        self._in_flight.add((job.kind, job.asset_id))
        return job

    async def ack(self, job: Job) -> None:
        self._in_flight.discard((job.kind, job.asset_id))

    async def retry(self, job: Job, delay: float) -> None:
        self._in_flight.discard((job.kind, job.asset_id))
        again = Job(job.asset_id, job.attempt + 1, kind=job.kind)
        loop = asyncio.get_running_loop()

        def due() -> None:
            self._delayed.discard(handle)
            self._queue.put_nowait(again)

        handle = loop.call_later(delay, due)
        self._delayed.add(handle)

    async def dead(self, job: Job, reason: str) -> None:
        self._in_flight.discard((job.kind, job.asset_id))
        self._dead.append((job, reason))

    async def record(self, outcome: str, seconds: float | None = None) -> None:
        self._outcomes[outcome] += 1
        if seconds is not None:
            self._seconds.append(seconds)

    async def close(self) -> None:
        for handle in self._delayed:
            handle.cancel()
        self._delayed.clear()

    async def stats(self) -> QueueStats:
        return QueueStats(
            queued=self._queue.qsize(),
            in_flight=len(self._in_flight),
            delayed=len(self._delayed),
            dead=len(self._dead),
            outcomes=dict(self._outcomes),
            seconds_sum=sum(self._seconds),
            seconds_buckets={b: sum(s <= b for s in self._seconds) for b in JOB_BUCKETS},
        )


class RedisJobQueue(JobQueue):
    """Jobs in a Redis stream with one consumer group (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gesso:jobs",
        visibility: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        self.url = url
        self.visibility = visibility
        self.max_attempts = max_attempts
        self.stream = f"{prefix}:stream"
        self.delayed = f"{prefix}:delayed"
        self.dead_stream = f"{prefix}:dead"
        self.counters = f"{prefix}:stats"
        self._client: aioredis.Redis | None = None
        self._group_ready = False

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=2.0, socket_timeout=10.0
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._client.aclose()
            self._client = None

    async def _call(self, command: Any) -> Any:
        try:
            return await command
        except (RedisError, OSError, TimeoutError) as error:
            raise QueueUnavailable(f"the job queue is unavailable: {error}") from error

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._call(self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True))
        except QueueUnavailable as error:
            if not isinstance(error.__cause__, ResponseError) or "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def enqueue(self, asset_id: int, *, kind: str = IMAGE) -> None:
        await self._call(
            self.client.xadd(self.stream, {"asset": asset_id, "attempt": 1, "kind": _kind(kind)})
        )

    async def receive(self, consumer: str, *, wait: float) -> Job | None:
        await self._ensure_group()
        await self._call(self.client.eval(_PROMOTE, 2, self.delayed, self.stream, str(time.time())))
        claimed = await self._call(
            self.client.xautoclaim(
                self.stream, GROUP, consumer, int(self.visibility * 1000), "0-0", count=1
            )
        )
        entries = claimed[1] if claimed else []
        if entries:
            entry_id, fields = entries[0]
            return await self._job(entry_id, fields)
        answer = await self._call(
            self.client.xreadgroup(
                GROUP, consumer, {self.stream: ">"}, count=1, block=max(1, int(wait * 1000))
            )
        )
        if not answer:
            return None
        entry_id, fields = answer[0][1][0]
        return await self._job(entry_id, fields)

    async def _job(self, entry_id: bytes | str, fields: dict[Any, Any]) -> Job:
        entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        values = {_text(k): _text(v) for k, v in fields.items()}
        pending = await self._call(
            self.client.xpending_range(self.stream, GROUP, min=entry, max=entry, count=1)
        )
        deliveries = int(pending[0]["times_delivered"]) if pending else 1
        # The retries this job went through, plus the deliveries of this try beyond the first
        # (each one a worker that died holding it).
        attempt = int(values.get("attempt", "1")) + deliveries - 1
        return Job(int(values["asset"]), attempt, entry, values.get("kind", IMAGE))

    async def ack(self, job: Job) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, job.entry)
            pipe.xdel(self.stream, job.entry)
            await self._call(pipe.execute())

    async def keep(self, job: Job, consumer: str) -> None:
        await self._call(
            self.client.xclaim(self.stream, GROUP, consumer, 0, [job.entry], justid=True)
        )

    async def retry(self, job: Job, delay: float) -> None:
        member = f"{job.asset_id}:{job.attempt + 1}:{job.entry}:{job.kind}"
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(self.delayed, {member: time.time() + delay})
            pipe.xack(self.stream, GROUP, job.entry)
            pipe.xdel(self.stream, job.entry)
            await self._call(pipe.execute())

    async def dead(self, job: Job, reason: str) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.dead_stream,
                {
                    "asset": job.asset_id,
                    "attempt": job.attempt,
                    "reason": reason[:1000],
                    **({} if job.kind == IMAGE else {"kind": job.kind}),
                },
            )
            pipe.xack(self.stream, GROUP, job.entry)
            pipe.xdel(self.stream, job.entry)
            await self._call(pipe.execute())

    async def record(self, outcome: str, seconds: float | None = None) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.counters, f"outcome:{outcome}", 1)
            if seconds is not None:
                pipe.hincrbyfloat(self.counters, "seconds:sum", seconds)
                for bound in JOB_BUCKETS:
                    if seconds <= bound:
                        pipe.hincrby(self.counters, f"seconds:le:{bound}", 1)
            await self._call(pipe.execute())

    async def stats(self) -> QueueStats:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xlen(self.stream)
            pipe.xpending(self.stream, GROUP)
            pipe.zcard(self.delayed)
            pipe.xlen(self.dead_stream)
            pipe.hgetall(self.counters)
            try:
                results = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError, TimeoutError) as error:
                raise QueueUnavailable(f"the job queue is unavailable: {error}") from error
        length, pending, delayed, dead, counters = results
        for result in (length, delayed, dead, counters):
            if isinstance(result, Exception):
                raise QueueUnavailable(f"the job queue is unavailable: {result}")
        in_flight = 0 if isinstance(pending, Exception) else int(pending["pending"])
        values = {_text(k): _text(v) for k, v in cast("dict[Any, Any]", counters).items()}
        return QueueStats(
            queued=max(0, int(length) - in_flight),
            in_flight=in_flight,
            delayed=int(delayed),
            dead=int(dead),
            outcomes={o: int(values.get(f"outcome:{o}", "0")) for o in OUTCOMES},
            seconds_sum=float(values.get("seconds:sum", "0")),
            seconds_buckets={b: int(values.get(f"seconds:le:{b}", "0")) for b in JOB_BUCKETS},
        )

    async def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        """The newest dead-lettered jobs (for operators)."""
        entries = await self._call(self.client.xrevrange(self.dead_stream, count=count))
        return [{_text(k): _text(v) for k, v in fields.items()} for _, fields in entries]


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; one of {', '.join(KINDS)}")
    return kind


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
