"""How long deleting an account of 500 posts and 200 images takes, on SQLite and PostgreSQL.

``python -m bench.leaving [--postgres URL] [--batch N] [--json]``: seeds the account in a fresh
database (SQLite in a temporary directory; with ``--postgres``, a database created and dropped
on that server) and a local store, as ``tests.leaving`` seeds it (images as the upload job
publishes them, originals kept), then runs the deletion job in this process and prints its wall
time and this process's CPU time (the database server's own CPU is not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from resolvers import leaving
from resolvers.services import MediaService, Services
from storage import db
from storage.models import AccountDeletion, User
from storage.objects import LocalObjectStore
from tests.leaving import seed_account

POSTS, IMAGES = 500, 200


def _count(root: Path) -> int:
    """The objects under a local store's root (not its metadata files)."""
    return sum(1 for p in root.rglob("*") if p.is_file() and p.name[0] != ".")


async def measure(url: str, media: Path, batch: int) -> dict[str, Any]:
    await db.migrate(url)
    await db.connect(url)
    store = LocalObjectStore(media, keep_originals=True)
    await store.start()
    services = Services(
        token_ttl_seconds=3600,
        media=MediaService(store=store, watermark_key=b"k" * 32, cloak_keys=lambda _: b"c" * 32),
        deletion_batch=batch,
    )
    try:
        user = await User.create(
            handle="leaver", handle_key="leaver", email="l@x.test", email_key="l@x.test",
            password_hash="-",  # noqa: S106 (no password signs in to it)
        )  # fmt: skip
        await seed_account(store, user.id, posts=POSTS, images=IMAGES)
        objects = await asyncio.to_thread(_count, Path(store._objects))
        await AccountDeletion.create(id=user.id, handle_key="leaver", step=leaving.STEPS[0].name)
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = await leaving.run(services, user.id)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        left = await asyncio.to_thread(_count, Path(store._objects))
        return {
            "outcome": outcome,
            "posts": POSTS,
            "images": IMAGES,
            "objects_before": objects,
            "objects_after": left,
            "batch": batch,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
        }
    finally:
        await store.close()
        await db.close()


async def run(postgres: str | None, batch: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gesso-leaving-") as tmp:
        root = Path(tmp)
        results["sqlite"] = await measure(f"sqlite://{root / 'db.sqlite3'}", root / "m1", batch)
        if postgres is not None:
            name = f"gesso_leaving_{uuid.uuid4().hex[:10]}"
            admin = await asyncpg.connect(postgres)
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = postgres.rsplit("/", 1)[0] + f"/{name}"
                results["postgres"] = await measure(url, root / "m2", batch)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (also measured)")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(args.postgres, args.batch))
    if args.json:
        print(json.dumps(results))
        return
    for engine, result in results.items():
        print(
            f"{engine}: {result['posts']} posts, {result['images']} images"
            f" ({result['objects_before']} objects) deleted in {result['wall_s']} s wall,"
            f" {result['cpu_s']} s CPU of this process; {result['objects_after']} objects left"
        )


if __name__ == "__main__":
    main()
