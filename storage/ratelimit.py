"""Sliding-window rate-limit counters: in memory (one process) or in Redis (shared).

A window is a log of the times of recent hits, so "at most ``limit`` in any ``window`` seconds"
holds exactly, not only per fixed minute: a burst across a window boundary is refused too, and a
refused client learns precisely when the next hit fits (``retry_after``). Refused hits are not
recorded, so a client that keeps hammering is not locked out longer than the window.

The Redis store runs the check and the insert as one Lua script (atomic, one round trip) with the
server's clock, so any number of processes share one count without racing. Every request waits on
it, so a call is bounded (``REDIS_TIMEOUT``): a Redis that hangs rather than refuses fails the call
(``RateLimitUnavailable``) instead of the request, and after a failure the store does not ask Redis
again for ``RETRY_AFTER_FAILURE`` seconds, so an outage makes a request wait now and then, not
every request.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

PREFIX = "gesso:rl:"
# Seconds one call to Redis may take (a connection, the script, its answer). Not less: a burst of
# concurrent hits opens connections, and on a busy host those took over 0.25 s.
REDIS_TIMEOUT = 1.0
# Seconds after a failed call during which the store fails at once, without asking Redis.
RETRY_AFTER_FAILURE = 1.0


class RateLimitUnavailable(Exception):
    """The shared counter store cannot be reached."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # hits left in the window after this one
    reset_after: float  # seconds until the window holds one hit fewer (0 when empty)
    retry_after: float  # seconds until this hit would be allowed (0 when it was)


class RateLimitStore(Protocol):
    async def hit(self, key: str, *, limit: int, window: float, cost: int = 1) -> Decision:
        """Record ``cost`` hits under ``key`` if they fit in ``limit`` per ``window`` seconds;
        ``cost=0`` only asks whether one more would fit."""
        ...

    async def reset(self, key: str) -> None: ...

    async def close(self) -> None: ...


def _check(limit: int, window: float, cost: int) -> None:
    if limit < 1 or window <= 0 or cost < 0:
        raise ValueError(f"bad rate limit: limit={limit}, window={window}, cost={cost}")


class MemoryRateLimitStore:
    """Per process; for the embedded default and tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._logs: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, limit: int, window: float, cost: int = 1) -> Decision:
        _check(limit, window, cost)
        now = self._clock()
        log = self._logs.get(key)
        if log is None:
            if len(self._logs) >= self._max_keys:
                self._evict(now, window)
            log = self._logs[key] = deque()
        while log and log[0] <= now - window:
            log.popleft()
        needed = max(cost, 1)
        if len(log) + needed > limit:
            index = len(log) + needed - limit - 1
            retry = log[index] + window - now if needed <= limit else window
            reset = log[0] + window - now if log else 0.0
            if not log:
                del self._logs[key]
            return Decision(False, limit, max(0, limit - len(log)), reset, max(retry, 0.001))
        log.extend([now] * cost)
        reset = (log[0] + window - now) if log else 0.0
        if not log:
            del self._logs[key]
        return Decision(True, limit, limit - len(log), reset, 0.0)

    def _evict(self, now: float, window: float) -> None:
        """Drop logs whose newest hit is older than ``window`` (bounded memory under a flood of
        distinct keys); if none is that old, drop the oldest-created half."""
        stale = [k for k, log in self._logs.items() if not log or log[-1] <= now - window]
        for k in stale or list(self._logs)[: len(self._logs) // 2]:
            del self._logs[k]

    async def reset(self, key: str) -> None:
        self._logs.pop(key, None)

    async def close(self) -> None:
        self._logs.clear()


# KEYS[1]: the log (a sorted set of hit times in microseconds). ARGV: limit, window (µs), cost,
# a unique member prefix. Returns {allowed, count after, reset µs, retry µs}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local needed = math.max(cost, 1)
local reset = 0
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then reset = tonumber(first[2]) + window - now end
if count + needed > limit then
  local retry = window
  if needed <= limit then
    local at = redis.call('ZRANGE', KEYS[1], count + needed - limit - 1,
                          count + needed - limit - 1, 'WITHSCORES')
    retry = tonumber(at[2]) + window - now
  end
  return {0, count, reset, retry}
end
for i = 1, cost do
  redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i)
end
if cost > 0 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  if reset == 0 then reset = window end
end
return {1, count + cost, reset, 0}
"""


class RedisRateLimitStore:
    """Shared by every process using the same Redis."""

    def __init__(
        self,
        url: str,
        *,
        cluster: bool = False,
        timeout: float = REDIS_TIMEOUT,
        retry_after_failure: float = RETRY_AFTER_FAILURE,
    ) -> None:
        # One key per script call, so a Redis Cluster routes each call to the key's node.
        # No retries of its own: a call is bounded by ``timeout`` as a whole.
        options: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        self._redis: Any = (
            aioredis.RedisCluster.from_url(url, **options)
            if cluster
            else aioredis.from_url(url, **options)
        )
        self._script = self._redis.register_script(_SCRIPT)
        self._ids = itertools.count()
        self._origin = f"{os.getpid()}-{id(self):x}"
        self._timeout = timeout
        self._retry_after_failure = retry_after_failure
        self._failed_at: float | None = None
        self._failure = ""

    async def _call(self, command: Callable[[], Awaitable[Any]]) -> Any:
        if self._failed_at is not None:
            if time.monotonic() - self._failed_at < self._retry_after_failure:
                raise RateLimitUnavailable(f"Redis failed a moment ago: {self._failure}")
            self._failed_at = None
        try:
            async with asyncio.timeout(self._timeout):
                return await command()
        except (TimeoutError, RedisError, OSError) as error:
            self._failed_at = time.monotonic()
            self._failure = str(error) or f"no answer within {self._timeout} s"
            raise RateLimitUnavailable(self._failure) from error

    async def hit(self, key: str, *, limit: int, window: float, cost: int = 1) -> Decision:
        _check(limit, window, cost)
        window_us = max(1, round(window * 1_000_000))
        member = f"{self._origin}-{next(self._ids)}"
        allowed, count, reset, retry = await self._call(
            lambda: self._script(keys=[PREFIX + key], args=[limit, window_us, cost, member])
        )
        remaining = max(0, limit - int(count))
        return Decision(
            bool(allowed),
            limit,
            remaining,
            int(reset) / 1_000_000,
            max(int(retry) / 1_000_000, 0.001) if not allowed else 0.0,
        )

    async def reset(self, key: str) -> None:
        await self._call(lambda: self._redis.delete(PREFIX + key))

    async def close(self) -> None:
        await self._redis.aclose()


def seconds(value: float) -> int:
    """Whole seconds for a header: rounded up, so a client that waits that long gets in."""
    return max(0, math.ceil(value))
