"""An account deletion survives a crash: ``gesso worker`` killed with SIGKILL halfway through an
account of 500 posts and 200 images, then another worker, and nothing of it is left.

The API process and the workers share a SQLite file, Redis and the store (a local directory, or
moto's S3 server); the account's images are seeded as the upload job publishes them
(``tests.leaving``). "Nothing left" is read outside the application: every table's rows counted
with sqlite3 against the counts before the account existed, and the store's keys listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]

from server.media import create_store
from server.settings import read_settings
from storage import db
from storage.models import User
from tests.e2e.live import LiveServer
from tests.e2e.test_upload_jobs import Worker, deployment  # noqa: F401 (the fixture)
from tests.graphql import GraphQLClient, pk_of
from tests.leaving import seed_account
from tests.services import stop_process

PASSWORD = "correct horse"
DELETE = "mutation($p: String!) { deleteAccount(password: $p) { deletedId errors { code } } }"
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
# The deletion's own record and its line in the moderation log are what stays.
KEPT = {"account_deletions": 1, "moderation_actions": 1}


def lister(env: dict[str, str], keys: Any) -> Any:
    """Every key of the store (an S3 listing page by page: the fixture's reads one page)."""
    if "S3_BUCKET" not in env:
        return keys
    client = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )

    def listed() -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=env["S3_BUCKET"])
        return sorted(str(item["Key"]) for page in pages for item in page.get("Contents", []))

    return listed


def row_counts(database: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT LIKE '%_fts%' AND name != 'tortoise_migrations'"
            )
        ]
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in sorted(tables)
        }


def deletion(database: Path, account_id: int) -> tuple[str, dict[str, int]] | None:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        row = connection.execute(
            "SELECT state, removed FROM account_deletions WHERE id = ?", (account_id,)
        ).fetchone()
    return None if row is None else (row[0], json.loads(row[1]))


async def seed(env: dict[str, str], database: Path, account_id: int) -> None:
    """500 posts and 200 images of the account, written to the shared database and store."""
    settings = read_settings(env)
    store = create_store(settings)
    await db.connect(f"sqlite://{database}")
    await store.start()
    try:
        await seed_account(store, account_id, posts=500, images=200)
        await User.filter(id=account_id).update(post_count=500, artwork_count=50)
    finally:
        await store.close()
        await db.close()


async def test_a_deletion_killed_halfway_is_finished_by_the_next_worker(
    tmp_path: Path,
    deployment: tuple[dict[str, str], Any],  # noqa: F811
) -> None:
    env, first_page = deployment
    keys = lister(env, first_page)
    env = env | {"GESSO_DELETION_BATCH": "10", "GESSO_KEEP_ORIGINALS": "true"}
    database = tmp_path / "shared.sqlite3"
    api = LiveServer(tmp_path, env | {"GESSO_JOBS": "redis"}).start()
    workers: list[Worker] = []
    try:
        async with GraphQLClient.for_url(api.url) as gql:
            # given a member, and what the database and the store hold before the account
            await gql.sign_up("friend", PASSWORD)
            before_rows = row_counts(database)
            before_keys = keys()
            # and an account of 500 posts and 200 images, followed by the member
            leaver_gid = await gql.sign_up("leaver", PASSWORD)
            leaver = pk_of(leaver_gid)
            await seed(env, database, leaver)
            followed = await gql.execute(FOLLOW, {"u": leaver_gid}, as_="friend")
            assert followed.data["follow"]["errors"] == []
            seeded_keys = len(keys()) - len(before_keys)
            assert seeded_keys == 198 * 7 + 2  # six derivatives and an original; two staged
            # when the account is deleted, and the worker running it is killed halfway
            deleted = await gql.execute(DELETE, {"p": PASSWORD}, as_="leaver")
            assert deleted.data["deleteAccount"] == {"deletedId": leaver_gid, "errors": []}
            started = time.perf_counter()
            workers.append(Worker(tmp_path, env, "first"))
            while True:
                state = deletion(database, leaver)
                assert state is not None
                assert state[0] == "running", state  # it must not finish before the kill
                if state[1].get("posts", 0) >= 100:
                    break
                assert time.perf_counter() - started < 120, workers[0].log()
                await asyncio.sleep(0.01)
            os.kill(workers[0].process.pid, signal.SIGKILL)
            workers[0].process.wait(10)
            halfway = deletion(database, leaver)
            assert halfway is not None
            assert halfway[0] == "running"
            left = row_counts(database)
            assert 0 < left["posts"] - before_rows["posts"] < 500, left
            assert len(keys()) > len(before_keys)
            # then another worker takes it over once the lease has lapsed, and finishes it
            workers.append(Worker(tmp_path, env, "second"))
            while (state := deletion(database, leaver)) is not None and state[0] != "done":
                assert time.perf_counter() - started < 240, workers[1].log()
                await asyncio.sleep(0.1)
            print(f"deleted, with a crash, in {time.perf_counter() - started:.1f} s: {state}")
            # and no row and no object of it is left
            after = row_counts(database)
            expected = {t: n + KEPT.get(t, 0) for t, n in before_rows.items()}
            assert after == expected
            assert keys() == before_keys
            # the member follows nobody any more
            viewer = await gql.execute("{ viewer { followingCount } }", as_="friend")
            assert viewer.data == {"viewer": {"followingCount": 0}}
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                stop_process(worker.process, grace=20)
        api.stop()
    assert "Traceback" not in workers[1].log(), workers[1].log()
    assert "Traceback" not in api.log(), api.log()
