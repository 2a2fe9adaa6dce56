"""Persisted queries: documents known by the SHA-256 of their text.

Two sources, one lookup:

* the automatic cache (Apollo's "automatic persisted queries"): a client sends only the hash, and
  on a miss sends the text once with it; the text is kept in Redis (shared by every process) or, on
  the embedded default, in this process. Either is an LRU bounded in entries and in bytes, and
  refuses a text longer than one entry may be (``CacheBounds``): a flood of distinct documents
  evicts the least recently used ones, whose clients then send their text again;
* the registered operations: a manifest file written by ``gesso persisted register`` from the
  frontend's ``.graphql`` files. In allowlist mode only these run.

A Redis failure is a cache miss (the client then sends the text again), never a failed request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("gesso.persisted")

MODES = ("off", "apq", "allowlist")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# One hash tag ({...}): the cache's keys share a Redis Cluster slot, as each script uses them all.
REDIS_PREFIX = "{gesso:apq}:"
MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """The manifest file cannot be read; the message names the file and the problem."""


def sha256_of(query: str) -> str:
    """The hash a client sends for ``query`` (lowercase hex of the UTF-8 text)."""
    return hashlib.sha256(query.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheBounds:
    """What the automatic cache may hold: entries, bytes of text in all, bytes of one text."""

    max_entries: int = 10_000
    max_bytes: int = 32 * 1024 * 1024
    max_query_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if min(self.max_entries, self.max_bytes, self.max_query_bytes) < 1:
            raise ValueError(f"cache bounds must be positive: {self}")
        if self.max_query_bytes > self.max_bytes:
            raise ValueError(
                f"one text ({self.max_query_bytes} bytes) cannot exceed the whole cache "
                f"({self.max_bytes} bytes)"
            )

    def size_of(self, query: str) -> bytes:
        """``query`` as stored (UTF-8); ``QueryTooLarge`` past ``max_query_bytes``."""
        text = query.encode()
        if len(text) > self.max_query_bytes:
            raise QueryTooLarge(len(text), self.max_query_bytes)
        return text


class QueryTooLarge(ValueError):
    """A text longer than one cache entry may be; it is not stored."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the document has {size} bytes; at most {limit} are stored")
        self.size, self.limit = size, limit


@dataclass(frozen=True, slots=True)
class Usage:
    entries: int
    bytes: int  # UTF-8 bytes of the texts


class QueryCache(Protocol):
    bounds: CacheBounds

    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, query: str) -> None:
        """Store ``query``, evicting the least recently used texts to stay within the bounds;
        ``QueryTooLarge`` (and nothing stored) past ``bounds.max_query_bytes``."""
        ...

    async def usage(self) -> Usage: ...

    async def close(self) -> None: ...


class MemoryQueryCache:
    """A bounded LRU in this process (the embedded default)."""

    def __init__(self, bounds: CacheBounds) -> None:
        self.bounds = bounds
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._bytes = 0

    async def get(self, sha256: str) -> str | None:
        query = self._entries.get(sha256)
        if query is not None:
            self._entries.move_to_end(sha256)
        return query

    async def put(self, sha256: str, query: str) -> None:
        size = len(self.bounds.size_of(query))
        if sha256 in self._entries:
            self._entries.move_to_end(sha256)
            return
        while self._entries and (
            len(self._entries) >= self.bounds.max_entries
            or self._bytes + size > self.bounds.max_bytes
        ):
            oldest, _ = self._entries.popitem(last=False)
            self._bytes -= self._sizes.pop(oldest)
        self._entries[sha256] = query
        self._sizes[sha256] = size
        self._bytes += size

    async def usage(self) -> Usage:
        return Usage(len(self._entries), self._bytes)

    async def close(self) -> None:
        self._entries.clear()
        self._sizes.clear()
        self._bytes = 0


# KEYS: the texts (a hash sha256 -> text), their last use (a sorted set sha256 -> ms on Redis's
# clock) and the bytes of all texts (a counter). The three change together, in these scripts
# only, so the counts stay exact whatever the number of processes. Each call also sets the three
# keys' lifetime to the TTL, so they expire together once the cache goes unused.
_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local function drop(sha)
  redis.call('DECRBY', KEYS[3], redis.call('HSTRLEN', KEYS[1], sha))
  redis.call('HDEL', KEYS[1], sha)
  redis.call('ZREM', KEYS[2], sha)
end
local function keep()
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
"""

# ARGV: sha256, ttl (ms). Returns the text, or nil when unknown or unused for longer than ttl.
_GET = (
    _COMMON
    + """
local used = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not used then return false end
local text = redis.call('HGET', KEYS[1], ARGV[1])
if tonumber(used) <= now - ttl or not text then
  drop(ARGV[1])
  return false
end
redis.call('ZADD', KEYS[2], 'XX', now, ARGV[1])
keep()
return text
"""
)

# ARGV: sha256, ttl (ms), text, max entries, max bytes.
# Returns {stored (0: known already), entries, bytes, evicted}.
_PUT = (
    _COMMON
    + """
local size = string.len(ARGV[3])
local max_entries, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local entries = redis.call('ZCARD', KEYS[2])
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
if redis.call('HLEN', KEYS[1]) ~= entries or (entries == 0) ~= (total == 0) or total < 0 then
  -- a key went missing (say, evicted by Redis's maxmemory policy): start again, empty
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  entries, total = 0, 0
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], 'XX', now, ARGV[1])
  keep()
  return {0, entries, total, 0}
end
if size > max_bytes then return {0, entries, total, 0} end
local evicted = 0
local function evict(sha)
  total = total - redis.call('HSTRLEN', KEYS[1], sha)
  drop(sha)
  entries, evicted = entries - 1, evicted + 1
end
for _, sha in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, 64)) do
  evict(sha)
end
while entries > 0 and (entries + 1 > max_entries or total + size > max_bytes) do
  evict(redis.call('ZRANGE', KEYS[2], 0, 0)[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('INCRBY', KEYS[3], size)
keep()
return {1, entries + 1, total + size, evicted}
"""
)


class RedisQueryCache:
    """Texts in Redis, shared by all processes, within ``bounds``: to make room, the least
    recently used texts are evicted; a text unused for ``ttl_seconds`` is forgotten."""

    def __init__(
        self, url: str, ttl_seconds: int, bounds: CacheBounds, *, prefix: str = REDIS_PREFIX
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.bounds = bounds
        self.keys = [f"{prefix}texts", f"{prefix}used", f"{prefix}bytes"]
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._get = self._client.register_script(_GET)
        self._put = self._client.register_script(_PUT)

    async def get(self, sha256: str) -> str | None:
        try:
            raw = await self._get(keys=self.keys, args=[sha256, self.ttl_seconds * 1000])
        except (RedisError, OSError) as error:
            log.warning("persisted query lookup failed, treated as a miss: %s", error)
            return None
        return raw.decode() if isinstance(raw, bytes) else None

    async def put(self, sha256: str, query: str) -> None:
        text = self.bounds.size_of(query)
        ttl, bounds = self.ttl_seconds * 1000, self.bounds
        try:
            _, entries, total, evicted = await self._put(
                keys=self.keys,
                args=[sha256, ttl, text, bounds.max_entries, bounds.max_bytes],
            )
        except (RedisError, OSError) as error:
            log.warning("persisted query not stored: %s", error)
            return
        if evicted:
            log.info("persisted queries evicted: %d (%d left, %d bytes)", evicted, entries, total)

    async def usage(self) -> Usage:
        """The cache's own counts; ``RedisError`` when Redis cannot be reached."""
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zcard(self.keys[1])
            pipe.get(self.keys[2])
            entries, total = await pipe.execute()
        return Usage(int(entries), int(total or 0))

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True, slots=True)
class RegisteredOperation:
    name: str | None
    query: str


def read_manifest(path: Path) -> dict[str, RegisteredOperation]:
    """The registered operations of a manifest (empty when the file does not exist)."""
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not a readable JSON manifest ({error})") from None
    if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: expected a manifest of version {MANIFEST_VERSION}")
    operations = raw.get("operations")
    if not isinstance(operations, dict):
        raise ManifestError(f"{path}: 'operations' must be an object")
    found: dict[str, RegisteredOperation] = {}
    for sha256, entry in operations.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("query"), str):
            raise ManifestError(f"{path}: operation {sha256!r} has no query text")
        if sha256_of(entry["query"]) != sha256:
            raise ManifestError(f"{path}: operation {sha256!r} does not match its text")
        name = entry.get("name")
        found[sha256] = RegisteredOperation(name if isinstance(name, str) else None, entry["query"])
    return found


def write_manifest(path: Path, operations: dict[str, RegisteredOperation]) -> None:
    """Write ``operations`` sorted by name then hash, so the file diffs well under review."""
    ordered = sorted(operations.items(), key=lambda item: (item[1].name or "", item[0]))
    document = {
        "version": MANIFEST_VERSION,
        "operations": {h: {"name": op.name, "query": op.query} for h, op in ordered},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    temporary.replace(path)


@dataclass
class PersistedQueries:
    """The mode (``off``, ``apq`` or ``allowlist``), the cache and the registered operations."""

    mode: str
    cache: QueryCache
    registered: dict[str, RegisteredOperation] = field(default_factory=dict)

    async def lookup(self, sha256: str) -> str | None:
        operation = self.registered.get(sha256)
        if operation is not None:
            return operation.query
        if self.mode == "allowlist":
            return None
        return await self.cache.get(sha256)

    def is_registered(self, sha256: str) -> bool:
        return sha256 in self.registered
