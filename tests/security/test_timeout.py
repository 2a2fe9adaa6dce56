"""Every operation in production has a time limit; the answer says so, and nothing is left open."""

from __future__ import annotations

import asyncio

import strawberry

from schema.limits import PRODUCTION_LIMITS
from schema.production import HardenedSchema, hardened_schema
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

finished: list[str] = []


@strawberry.type
class SlowQuery:
    @strawberry.field
    async def slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        finished.append("slow")
        return "done"


def _schema(timeout: float) -> HardenedSchema:
    return HardenedSchema(query=SlowQuery, limits=PRODUCTION_LIMITS, operation_timeout=timeout)


async def test_an_operation_over_its_time_limit_is_cut_off() -> None:
    # given a 0.2 s limit
    schema = _schema(0.2)
    # when an operation would take 5 s
    started = asyncio.get_running_loop().time()
    result = await schema.execute("{ slow(seconds: 5) }")
    elapsed = asyncio.get_running_loop().time() - started
    # then it is answered with one clear error once the limit passes, and its work is cancelled
    assert 0.2 <= elapsed < 2
    assert result.data is None
    assert result.errors is not None
    assert [e.formatted for e in result.errors] == [
        {
            "message": "the operation took longer than its limit of 0.2 s",
            "extensions": {"code": "OPERATION_TIMEOUT"},
        }
    ]
    await asyncio.sleep(0.05)
    assert finished == []


async def test_an_operation_within_its_time_limit_answers() -> None:
    result = await _schema(2).execute("{ slow(seconds: 0.01) }")
    assert result.errors is None
    assert result.data == {"slow": "done"}


async def test_production_uses_the_configured_limit(clean_db: str) -> None:
    async with GraphQLClient.for_app(**PRODUCTION, GESSO_OPERATION_TIMEOUT_SECONDS="7") as client:
        result = await client.execute("{ __typename }")
        assert result.data == {"__typename": "Query"}
    assert hardened_schema(7).operation_timeout == 7
