"""Every operation in production has a time limit; the answer says so, and nothing is left open."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import strawberry
from starlette.routing import Route

from schema.limits import PRODUCTION_LIMITS
from schema.production import HardenedSchema
from server.app import GessoGraphQL, create_app
from server.settings import read_settings
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


def _view_schema(**environ: str) -> object:
    """The schema the /graphql route of an app built from ``environ`` executes with."""
    app = create_app(read_settings({"GESSO_MIGRATE_ON_START": "false", **environ}))
    route = next(r for r in app.routes if isinstance(r, Route) and r.path == "/graphql")
    view: Any = route.app
    while not isinstance(view, GessoGraphQL):
        view = view.app  # through the body limit and the bearer auth middleware
    return view.schema


def test_production_uses_the_configured_limit(tmp_path: Path) -> None:
    schema = _view_schema(
        **PRODUCTION, GESSO_OPERATION_TIMEOUT_SECONDS="7", GESSO_DATA_DIR=str(tmp_path)
    )
    assert isinstance(schema, HardenedSchema)
    assert schema.operation_timeout == 7


def test_development_has_no_time_limit(tmp_path: Path) -> None:
    schema = _view_schema(GESSO_ENV="development", GESSO_DATA_DIR=str(tmp_path))
    assert not isinstance(schema, HardenedSchema)
