"""The automatic persisted-query cache stays within its bounds under a flood of documents.

Bounds: entries and bytes in all (``GESSO_APQ_MAX_ENTRIES``, ``GESSO_APQ_MAX_BYTES``), bytes of one
text (``GESSO_APQ_MAX_QUERY_BYTES``) and texts stored per client address (rate limit ``apq``). A
document that is not stored still runs; a client whose text was evicted sends it again, as
Apollo's link does on ``PERSISTED_QUERY_NOT_FOUND``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from storage.persisted import sha256_of
from tests.e2e.live import ONE_ADDRESS_MANY_USERS
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION
from tests.services import RedisProcess

SHARED_REDIS = "redis://127.0.0.1:6379/0"
TYPENAME = {"__typename": "Query"}


def redis_memory_bound(max_entries: int, max_bytes: int) -> int:
    """What the cache's keys may take in Redis (``MEMORY USAGE``): the texts with the allocator's
    rounding (jemalloc's size classes waste under a quarter), about 300 bytes of hash, sorted-set
    and table entries per text (measured; 512 leaves room for a table being rehashed) and the
    keys themselves."""
    return max_bytes * 5 // 4 + max_entries * 512 + 4096


def _document(n: int, padding: int = 0) -> str:
    return f"query Flood{n} {{ __typename }}\n# {'x' * padding}\n"


def _persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(query)}}


async def _send(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _register(http: httpx.AsyncClient, query: str) -> dict[str, Any]:
    return await _send(http, {"query": query, "extensions": _persisted(query)})


async def _known(http: httpx.AsyncClient, query: str) -> bool:
    """The server runs ``query`` from its hash alone."""
    answer = await _send(http, {"extensions": _persisted(query)})
    return answer.get("data") == TYPENAME


async def _apollo(http: httpx.AsyncClient, query: str) -> dict[str, Any]:
    """Apollo's persisted-query link: the hash; on PERSISTED_QUERY_NOT_FOUND, text and hash."""
    answer = await _send(http, {"extensions": _persisted(query)})
    codes = [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]
    if codes == ["PERSISTED_QUERY_NOT_FOUND"]:
        answer = await _register(http, query)
    return answer


@contextlib.asynccontextmanager
async def _client_at(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _apq_memory(url: str) -> int:
    """``MEMORY USAGE`` of every persisted-query key in this Redis (whatever their layout)."""
    client = aioredis.Redis.from_url(url)
    try:
        total = 0
        async for key in client.scan_iter(match="*apq*"):
            if not key.startswith(b"gesso:rl:"):  # the rate-limit counters are not the cache
                total += await client.memory_usage(key, samples=0) or 0
        return total
    finally:
        await client.aclose()


async def test_one_client_stores_at_most_its_apq_limit() -> None:
    limits = f"{ONE_ADDRESS_MANY_USERS},apq=5/1h"
    async with GraphQLClient.for_app(**PRODUCTION, GESSO_RATE_LIMITS=limits) as site:
        # given one client address registering 20 distinct documents
        documents = [_document(n) for n in range(20)]
        answers = [await _register(site.http, query) for query in documents]
        known = [await _known(site.http, query) for query in documents]
        # and another address registering one
        async with _client_at(site.app, "198.51.100.7") as other:
            elsewhere = await _register(other, _document(99))
            other_known = await _known(other, _document(99))
    # then every document ran, and only the first 5 of the flooding address were stored
    assert [answer["data"] for answer in answers] == [TYPENAME] * 20
    assert known == [True] * 5 + [False] * 15
    assert "extensions" not in answers[4]
    refusal = answers[5]["extensions"]["persistedQuery"]
    assert (refusal["stored"], refusal["code"]) == (False, "RATE_LIMITED")
    assert 0 < refusal["retryAfter"] <= 3600
    assert "errors" not in answers[5]
    # and the limit is per address
    assert (elsewhere, other_known) == ({"data": TYPENAME}, True)


async def test_the_in_memory_cache_is_bounded_in_bytes() -> None:
    environ = {**PRODUCTION, "GESSO_APQ_MAX_BYTES": "16384", "GESSO_APQ_MAX_QUERY_BYTES": "4096"}
    async with GraphQLClient.for_app(**environ) as site:
        documents = [_document(n, padding=1000) for n in range(40)]
        answers = [await _register(site.http, query) for query in documents]
        known = [await _known(site.http, query) for query in documents]
    assert [answer["data"] for answer in answers] == [TYPENAME] * 40
    # 16 KiB holds 15 texts of ~1030 bytes: the most recent ones
    assert known == [False] * 25 + [True] * 15


async def test_a_flood_from_many_clients_stays_within_the_bounds_in_redis(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    max_entries, max_bytes = 40, 32768
    environ = {
        **PRODUCTION,
        "REDIS_URL": redis.url,
        "GESSO_APQ_MAX_ENTRIES": str(max_entries),
        "GESSO_APQ_MAX_BYTES": str(max_bytes),
        "GESSO_APQ_MAX_QUERY_BYTES": "2048",
    }
    rng = random.Random(7)
    normal = "query Profile { __typename }"
    try:
        async with GraphQLClient.for_app(**environ) as site:
            # given a normal client whose document is registered
            assert await _apollo(site.http, normal) == {"data": TYPENAME}
            flood: list[str] = []
            normal_answers = []
            # when 30 addresses register 5 distinct documents each (150 in all, ~130 KiB)
            for c in range(30):
                async with _client_at(site.app, f"203.0.113.{c + 1}") as attacker:
                    for n in range(5):
                        query = _document(c * 5 + n, padding=rng.randint(200, 1500))
                        flood.append(query)
                        assert (await _register(attacker, query))["data"] == TYPENAME
                # while the normal client keeps sending its document as Apollo's link does
                normal_answers.append(await _apollo(site.http, normal))
            memory = await _apq_memory(redis.url)
            known = [await _known(site.http, query) for query in flood]
            normal_known = await _known(site.http, normal)
    finally:
        redis.stop()
    # then the cache holds at most its bounds, in Redis memory too
    assert sum(known) < max_entries
    assert memory <= redis_memory_bound(max_entries, max_bytes)
    # and the normal client's document kept working from its hash
    assert normal_answers == [{"data": TYPENAME}] * 30
    assert normal_known


@pytest.mark.parametrize(
    "padding",
    [
        pytest.param("€" * 30_000, id="30k-characters-90k-bytes"),
        # the production limits count tokens, and a comment is none: the largest document they
        # accept is as large as the body cap (GESSO_MAX_BODY_BYTES, 1 MiB)
        pytest.param("x" * 1_000_000, id="near-the-body-cap"),
    ],
)
async def test_a_document_over_the_entry_bound_runs_unstored(padding: str) -> None:
    query = f"query Big {{ __typename }}\n# {padding}\n"
    async with GraphQLClient.for_app(**PRODUCTION) as site:
        answer = await _register(site.http, query)
        known = await _known(site.http, query)
    assert answer["data"] == TYPENAME
    assert "errors" not in answer
    refusal = answer["extensions"]["persistedQuery"]
    assert (refusal["stored"], refusal["code"]) == (False, "PERSISTED_QUERY_TOO_LARGE")
    assert not known


async def test_the_redis_cache_stays_exact_and_bounded_under_concurrent_writers() -> None:
    from storage.persisted import CacheBounds, RedisQueryCache

    # given four processes' caches on the shared Redis, under a prefix of this test's own
    bounds = CacheBounds(max_entries=500, max_bytes=256 * 1024, max_query_bytes=4096)
    prefix = f"{{test-apq-{uuid.uuid4().hex}}}:"
    caches = [RedisQueryCache(SHARED_REDIS, 3600, bounds, prefix=prefix) for _ in range(4)]
    client = aioredis.Redis.from_url(SHARED_REDIS)
    rng = random.Random(11)
    normal = "query Home { __typename }"
    documents = [_document(n, padding=rng.randint(50, 4000)) for n in range(3000)]
    gate = asyncio.Semaphore(32)

    async def put(n: int, query: str) -> None:
        async with gate:
            await caches[n % 4].put(sha256_of(query), query)
            if n % 50 == 0:  # a normal client keeps using its document
                assert await caches[(n + 1) % 4].get(sha256_of(normal)) == normal

    try:
        await caches[0].put(sha256_of(normal), normal)
        # when 3000 distinct texts (~6 MiB) are stored at once
        await asyncio.gather(*(put(n, query) for n, query in enumerate(documents)))
        usage = await caches[0].usage()
        texts, used, _ = caches[0].keys
        sizes = [await client.hstrlen(texts, sha) for sha in await client.hkeys(texts)]
        members = await client.zcard(used)
        memory = sum([await client.memory_usage(key, samples=0) or 0 for key in caches[0].keys])
        normal_kept = await caches[3].get(sha256_of(normal))
    finally:
        await client.delete(*caches[0].keys)
        await client.aclose()
        for cache in caches:
            await cache.close()
    # then the counts are exact and within the bounds
    assert usage.entries == len(sizes) == members <= bounds.max_entries
    assert usage.bytes == sum(sizes) <= bounds.max_bytes
    assert usage.bytes > bounds.max_bytes - bounds.max_query_bytes  # full, evicting, not refusing
    assert memory <= redis_memory_bound(bounds.max_entries, bounds.max_bytes)
    # and the document in use was never evicted
    assert normal_kept == normal


async def test_a_text_unused_for_the_lifetime_is_forgotten() -> None:
    from storage.persisted import CacheBounds, RedisQueryCache

    prefix = f"{{test-apq-{uuid.uuid4().hex}}}:"
    cache = RedisQueryCache(SHARED_REDIS, 1, CacheBounds(), prefix=prefix)
    try:
        await cache.put("a" * 64, "{ __typename }")
        await asyncio.sleep(1.1)
        await cache.put("b" * 64, "query B { __typename }")
        usage = await cache.usage()
        forgotten = await cache.get("a" * 64)
    finally:
        await cache._client.delete(*cache.keys)
        await cache.close()
    assert (usage.entries, usage.bytes, forgotten) == (1, len("query B { __typename }"), None)
