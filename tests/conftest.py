"""Shared fixtures: a real database (SQLite and PostgreSQL), the app, a GraphQL client.

Tests that take the ``database`` fixture run once per backend. PostgreSQL is reached at
``GESSO_TEST_POSTGRES`` (default postgres://postgres@127.0.0.1:5432/test); each run creates and
drops its own database there. Without PostgreSQL the postgres half is skipped locally and fails when
``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from tortoise import Tortoise, connections

from storage import db
from tests.graphql import GraphQLClient
from tests.services import MotoServer

POSTGRES_ADMIN_URL = os.environ.get(
    "GESSO_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


async def postgres_admin() -> asyncpg.Connection:
    """A connection to the server's admin database; fails when CI=true and it is missing, else
    skips the test."""
    try:
        return await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {error}")


def postgres_url(name: str) -> str:
    """The URL of database ``name`` on the admin database's server."""
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _tables() -> list[str]:
    return [model._meta.db_table for model in Tortoise.apps["gesso"].values()]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database URL with Tortoise connected to it (one per backend per session)."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path_factory.mktemp('sqlite') / 'gesso.sqlite3'}"
        await db.migrate(url)
        await db.connect(url)
        yield url
        await db.close()
        return

    name = f"gesso_test_{uuid.uuid4().hex[:12]}"
    admin = await postgres_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = postgres_url(name)
        await db.migrate(url)
        await db.connect(url)
        yield url
        await db.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def empty(database: str) -> None:
    """Delete every row of the connected ``database``."""
    conn = connections.get("default")
    tables = _tables()
    if database.startswith("postgres"):
        await conn.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("".join(f"DELETE FROM {t};" for t in tables))


@pytest.fixture
async def clean_db(database: str) -> str:
    """The database, emptied before the test."""
    await empty(database)
    return database


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    """moto's S3 server, one per test module that asks for it."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def gql(clean_db: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client talking to the ASGI app in-process, against ``clean_db``."""
    async with GraphQLClient.for_app() as client:
        yield client
