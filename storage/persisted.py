"""Persisted queries: documents known by the SHA-256 of their text.

Two sources, one lookup:

* the automatic cache (Apollo's "automatic persisted queries"): a client sends only the hash, and
  on a miss sends the text once with it; the text is kept in Redis with a lifetime (shared by every
  process) or, on the embedded default, in a bounded in-process LRU;
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
REDIS_PREFIX = "gesso:apq:"
MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """The manifest file cannot be read; the message names the file and the problem."""


def sha256_of(query: str) -> str:
    """The hash a client sends for ``query`` (lowercase hex of the UTF-8 text)."""
    return hashlib.sha256(query.encode()).hexdigest()


class QueryCache(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, query: str) -> None: ...

    async def close(self) -> None: ...


class MemoryQueryCache:
    """A bounded LRU in this process (the embedded default)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, str] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        query = self._entries.get(sha256)
        if query is not None:
            self._entries.move_to_end(sha256)
        return query

    async def put(self, sha256: str, query: str) -> None:
        self._entries[sha256] = query
        self._entries.move_to_end(sha256)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def close(self) -> None:
        self._entries.clear()


class RedisQueryCache:
    """Texts in Redis under ``gesso:apq:<sha256>`` with a lifetime, shared by all processes."""

    def __init__(self, url: str, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )

    async def get(self, sha256: str) -> str | None:
        try:
            raw = await self._client.get(REDIS_PREFIX + sha256)
        except (RedisError, OSError) as error:
            log.warning("persisted query lookup failed, treated as a miss: %s", error)
            return None
        return raw.decode() if isinstance(raw, bytes) else None

    async def put(self, sha256: str, query: str) -> None:
        try:
            await self._client.set(REDIS_PREFIX + sha256, query.encode(), ex=self.ttl_seconds)
        except (RedisError, OSError) as error:
            log.warning("persisted query not stored: %s", error)

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
