"""/healthz and /readyz against real dependencies: the database, a Redis process, the store."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from server.health import run_checks
from tests.graphql import GraphQLClient
from tests.services import RedisProcess


async def test_ready_when_the_database_and_store_answer(clean_db: str) -> None:
    async with GraphQLClient.for_app() as gql:
        response = await gql.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "object_store": "ok"},
    }


async def test_healthz_answers_without_checking_dependencies(clean_db: str) -> None:
    async with GraphQLClient.for_app() as gql:
        store_root = gql.services.media.store.root
        shutil.rmtree(store_root)
        alive = await gql.http.get("/healthz")
        ready = await gql.http.get("/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["object_store"]
    assert ready.json()["checks"]["database"] == "ok"


async def test_not_ready_while_redis_is_down_and_ready_again_after(
    clean_db: str, tmp_path: Path
) -> None:
    # given an app whose broker is on a Redis of its own
    redis = RedisProcess(tmp_path)
    redis.start()
    async with GraphQLClient.for_app(REDIS_URL=redis.url) as gql:
        broker = gql.services.broker
        await broker.start()
        try:
            await asyncio.wait_for(broker.wait_available(), 5)
            up = await gql.http.get("/readyz")
            # when Redis stops
            redis.stop()
            started = time.monotonic()
            down = await gql.http.get("/readyz")
            elapsed = time.monotonic() - started
            # and starts again
            redis.start()
            again = await gql.http.get("/readyz")
        finally:
            await broker.close()
            redis.stop()
    # then readiness follows it, and a failed check answers within the timeout
    assert up.status_code == 200
    assert up.json()["checks"] == {"database": "ok", "redis": "ok", "object_store": "ok"}
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert down.json()["failed"] == ["redis"]
    assert down.json()["checks"]["redis"].startswith("failed: ")
    assert elapsed < 2.0
    assert again.status_code == 200


async def test_a_dependency_that_hangs_fails_after_the_timeout() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    async def answers() -> None:
        return None

    started = time.monotonic()
    results = await run_checks({"slow": hangs, "fast": answers}, limit=0.2)
    assert results == {"slow": "failed: no answer within 0.2 s", "fast": "ok"}
    assert time.monotonic() - started < 0.5


async def test_a_failure_reason_never_shows_a_password() -> None:
    async def refuses() -> None:
        raise ConnectionError("cannot reach postgres://gesso:hunter2@db:5432/gesso")

    results = await run_checks({"database": refuses})
    assert results == {"database": "failed: cannot reach postgres://gesso:[redacted]@db:5432/gesso"}
