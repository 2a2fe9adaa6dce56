"""Read-replica routing against two real PostgreSQL databases: the second stands in for a replica
and differs from the primary, so each answer shows which database gave it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import postgres_admin, postgres_url
from tests.e2e.live import REPO, LiveServer
from tests.graphql import GraphQLClient

pytestmark = pytest.mark.e2e

PROFILE = 'query Profile { user(handle: "replica_only") { handle } }'
MIXED = 'query Mixed { user(handle: "replica_only") { handle } viewer { handle } }'
FEED = "query Discover { discoverFeed(first: 5) { edges { node { text } } } }"
EDIT = 'mutation Edit { updateProfile(input: {bio: "new"}) { errors { code } } }'
POST = 'mutation Say { createPost(input: {text: "on the primary"}) { errors { code } } }'


@pytest.fixture
async def databases() -> AsyncIterator[tuple[str, str]]:
    """Two migrated, empty databases: (primary, replica)."""
    admin = await postgres_admin()
    names = [f"gesso_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
            _migrate(postgres_url(name))
        yield postgres_url(names[0]), postgres_url(names[1])
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _migrate(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "DATABASE_"))}
    env.update({"DATABASE_URL": url, "PYTHONPATH": str(REPO)})
    subprocess.run([sys.executable, "-m", "server", "migrate"], env=env, check=True, cwd=REPO)


async def _sign_up_on(url: str, workdir: Path, handles: list[str]) -> None:
    server = LiveServer(workdir, {"DATABASE_URL": url}).start()
    try:
        async with GraphQLClient.for_url(server.url) as gql:
            for handle in handles:
                await gql.sign_up(handle)
    finally:
        server.stop()


async def test_feed_and_profile_reads_use_the_replica_except_after_the_viewers_write(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    primary, replica = databases
    # given a user who exists only on the "replica", and a writer who exists on both
    await _sign_up_on(replica, tmp_path, ["replica_only", "writer"])
    await _sign_up_on(primary, tmp_path, ["writer"])
    server = LiveServer(
        tmp_path,
        {
            "DATABASE_URL": primary,
            "DATABASE_REPLICA_URL": replica,
            "GESSO_READ_YOUR_WRITES_SECONDS": "1",
        },
    ).start()
    try:
        async with GraphQLClient.for_url(server.url) as gql:
            # the writer's token is issued on the primary (log-in is a mutation)
            logged = await gql.execute(
                'mutation { logIn(input: {login: "writer", password: "correct horse"}) { token } }'
            )
            token = logged.data["logIn"]["token"]
            as_writer = {"Authorization": f"Bearer {token}"}
            # when anyone reads a profile, the replica answers
            anonymous = await gql.execute(PROFILE)
            # but a query that also reads the viewer goes to the primary
            mixed = await gql.execute(MIXED, headers=as_writer)
            # and right after the writer's own write, their reads go to the primary
            posted = await gql.execute(POST, headers=as_writer)
            feed_after_write = await gql.execute(FEED, headers=as_writer)
            profile_after_write = await gql.execute(PROFILE, headers=as_writer)
            feed_of_others = await gql.execute(FEED)
            # until the window has passed
            await asyncio.sleep(1.2)
            profile_later = await gql.execute(PROFILE, headers=as_writer)
            edited = await gql.execute(EDIT, headers=as_writer)
            profile_after_edit = await gql.execute(PROFILE, headers=as_writer)
            ready = await gql.http.get("/readyz")
    finally:
        server.stop()
    assert anonymous.data == {"user": {"handle": "replica_only"}}
    assert mixed.data == {"user": None, "viewer": {"handle": "writer"}}
    assert posted.data["createPost"]["errors"] == []
    assert feed_after_write.data["discoverFeed"]["edges"] == [{"node": {"text": "on the primary"}}]
    assert profile_after_write.data == {"user": None}
    assert feed_of_others.data["discoverFeed"]["edges"] == []
    assert profile_later.data == {"user": {"handle": "replica_only"}}
    assert edited.data["updateProfile"]["errors"] == []
    assert profile_after_edit.data == {"user": None}
    assert ready.json()["checks"] == {
        "database": "ok",
        "database_replica": "ok",
        "object_store": "ok",
    }
    assert "Traceback" not in server.log()
