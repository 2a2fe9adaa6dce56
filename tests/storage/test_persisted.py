"""The persisted-query caches (a real Redis and the in-process LRU) and the manifest file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.persisted import (
    CacheBounds,
    ManifestError,
    MemoryQueryCache,
    RedisQueryCache,
    RegisteredOperation,
    read_manifest,
    sha256_of,
    write_manifest,
)
from tests.services import RedisProcess

BOUNDS = CacheBounds()


def test_sha256_is_the_hex_digest_of_the_text() -> None:
    # the same digest as `printf "{ __typename }" | sha256sum` (coreutils)
    assert sha256_of("{ __typename }") == (
        "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
    )


async def test_the_memory_cache_forgets_the_least_recently_used() -> None:
    cache = MemoryQueryCache(CacheBounds(max_entries=2))
    await cache.put("a", "A")
    await cache.put("b", "B")
    assert await cache.get("a") == "A"  # a is now the most recent
    await cache.put("c", "C")
    assert (await cache.get("a"), await cache.get("b"), await cache.get("c")) == ("A", None, "C")


async def test_the_redis_cache_shares_texts_with_a_lifetime(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        writer = RedisQueryCache(server.url, 60, BOUNDS)
        reader = RedisQueryCache(server.url, 60, BOUNDS)
        await writer.put("h" * 64, "{ __typename }")
        assert await reader.get("h" * 64) == "{ __typename }"
        assert await reader.get("0" * 64) is None
        assert [0 < await reader._client.ttl(key) <= 60 for key in reader.keys] == [True] * 3
        await writer.close()
        await reader.close()
    finally:
        server.stop()


async def test_a_redis_outage_is_a_miss_not_a_failure(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    cache = RedisQueryCache(server.url, 60, BOUNDS)
    await cache.put("h" * 64, "{ __typename }")
    server.stop()
    # with Redis gone, a lookup misses and a store is skipped, without raising
    assert await cache.get("h" * 64) is None
    await cache.put("i" * 64, "{ __typename }")
    await cache.close()


def test_a_manifest_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ops" / "persisted-queries.json"
    operations = {
        sha256_of(q): RegisteredOperation(n, q)
        for n, q in (("B", "query B { __typename }"), ("A", "query A { viewer { id } }"))
    }
    write_manifest(path, operations)
    assert read_manifest(path) == operations
    assert [op["name"] for op in json.loads(path.read_text())["operations"].values()] == ["A", "B"]


def test_a_missing_manifest_is_empty(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "none.json") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a readable JSON manifest"),
        ('{"version": 2, "operations": {}}', "expected a manifest of version 1"),
        ('{"version": 1, "operations": []}', "'operations' must be an object"),
        ('{"version": 1, "operations": {"x": {}}}', "operation 'x' has no query text"),
    ],
)
def test_a_broken_manifest_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)
