"""The page-view benchmark's rows beside the graph: images from the pool, and viewers."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.image_pool import PoolImage
from bench.seed_graph import created_at, snowflake_ids

MEDIA_WORKER = 1002  # the Snowflake worker bits of the seeded media rows

MEDIA_COLUMNS = (
    "id", "owner_id", "artwork_id", "post_id", "kind", "position", "watermark_id", "width",
    "height", "alt_text", "dominant_color", "variants", "report", "created_at",
)  # fmt: skip


@dataclass(slots=True)
class MediaSummary:
    avatars: int = 0
    post_images: int = 0
    artwork_images: int = 0
    pictures: int = 0


def media_rows(
    pool: Sequence[PoolImage],
    users: Sequence[int],
    posts: Sequence[tuple[int, int]],
    artworks: Sequence[tuple[int, int]],
    rng: random.Random,
) -> list[tuple[Any, ...]]:
    """The ``media_assets`` rows: an avatar per user; one image on 30% of the posts and two on
    another 10%; one image on 70% of the artworks and two on the rest. Each row is a picture of
    the pool chosen at random, and its id is made at its parent's time."""
    # (kind, owner, artwork, post, position, parent id)
    wanted: list[tuple[str, int, int | None, int | None, int, int]] = [
        ("avatar", user, None, None, 0, user) for user in users
    ]
    for post, author in posts:
        roll = rng.random()
        for position in range(2 if roll < 0.1 else 1 if roll < 0.4 else 0):
            wanted.append(("post", author, None, post, position, post))
    for artwork, owner in artworks:
        for position in range(2 if rng.random() < 0.3 else 1):
            wanted.append(("artwork", owner, artwork, None, position, artwork))
    ids = snowflake_ids([parent >> 22 for *_, parent in wanted], worker=MEDIA_WORKER)
    rows = []
    for number, ((kind, owner_id, artwork_id, post_id, position, _), pk) in enumerate(
        zip(wanted, ids, strict=True), start=1
    ):
        picture = pool[rng.randrange(len(pool))]
        rows.append(
            (
                pk, owner_id, artwork_id, post_id, kind, position, number,
                picture.width, picture.height,
                f"picture {number}" if kind != "avatar" else "", picture.dominant_color,
                json.dumps(picture.variants), json.dumps(picture.report),
                created_at(pk),
            )
        )  # fmt: skip
    return rows


async def seed_media(dsn: str, pool: Sequence[PoolImage], seed_number: int) -> MediaSummary:
    conn = await asyncpg.connect(dsn)
    try:
        users = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]
        posts = [
            (r["id"], r["author_id"])
            for r in await conn.fetch("SELECT id, author_id FROM posts ORDER BY id")
        ]
        artworks = [
            (r["id"], r["owner_id"])
            for r in await conn.fetch("SELECT id, owner_id FROM artworks ORDER BY id")
        ]
        rows = media_rows(pool, users, posts, artworks, random.Random(seed_number))
        await conn.copy_records_to_table("media_assets", records=rows, columns=MEDIA_COLUMNS)
        await conn.execute("ANALYZE media_assets")
    finally:
        await conn.close()
    kinds = [row[4] for row in rows]
    return MediaSummary(
        avatars=kinds.count("avatar"),
        post_images=kinds.count("post"),
        artwork_images=kinds.count("artwork"),
        pictures=len(pool),
    )


async def make_viewers(dsn: str, seed_number: int) -> list[str]:
    """A token for every member who follows someone, in a random order: the first is the most
    popular viewer."""
    conn = await asyncpg.connect(dsn)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM users WHERE following_count > 0")]
        random.Random(seed_number).shuffle(ids)
        tokens = [secrets.token_urlsafe(24) for _ in ids]
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "auth_tokens",
            records=[
                (hashlib.sha256(t.encode()).hexdigest(), pk, now, now + timedelta(days=1))
                for t, pk in zip(tokens, ids, strict=True)
            ],
            columns=["token_hash", "user_id", "created_at", "expires_at"],
        )
    finally:
        await conn.close()
    return tokens


async def drop_database(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
