"""Upgrading a database of the previous release: its rows survive and the new columns are filled.

The previous release had migrations 0001..0004. A database is migrated that far, seeded through
SQL with what an artist's account holds (posts with tags and attached artworks, follows, likes,
comments, tokens, media assets), then migrated to the head: every row must still be there and read
back through the models, 0005 must name the artwork each copied tag comes from, 0006 must count
each account's posts and artworks per visibility, 0007 each post's public replies, and 0008 each
tag's post visibility.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from tortoise.migrations.api import migrate as run_migrations

from storage import db
from storage.models import (
    Artwork,
    AuthToken,
    Comment,
    Follow,
    MediaAsset,
    Post,
    PostArtwork,
    PostLike,
    PostTag,
    User,
    Visibility,
)
from tests.conftest import postgres_admin, postgres_url

PREVIOUS_RELEASE = "gesso.0004_orphaned_objects"
MIGRATIONS = Path(__file__).resolve().parents[2] / "storage" / "migrations"
TABLES = (
    "users", "artworks", "posts", "post_artworks", "post_tags", "follows", "post_likes",
    "artwork_likes", "comments", "auth_tokens", "media_assets", "orphaned_objects",
)  # fmt: skip
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# ids: users 1xx, artworks 2xx, posts 3xx, media 4xx (the app's ids are larger; any BIGINT does)
ADA, BOB, CYD = 101, 102, 103
PUBLIC_INK, FOLLOWERS_CAT, PRIVATE_SKETCH, BOB_PUBLIC = 201, 202, 203, 204
# ada's posts: one per visibility, one more public; bob's: two replies to ada, one for followers
ATTACHED_TWO, FOLLOWERS_NOTE, PRIVATE_NOTE, PLAIN, BOB_REPLY = 301, 302, 303, 304, 305
BOB_QUIET_REPLY = 306


@dataclass(frozen=True)
class OldDatabase:
    """A database at the previous release's schema, and SQL against it in its own dialect."""

    url: str

    @property
    def postgres(self) -> bool:
        return self.url.startswith("postgres")

    async def run(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        if self.postgres:
            connection = await asyncpg.connect(self.url)
            try:
                async with connection.transaction():
                    for query, values in statements:
                        await connection.execute(_numbered(query), *values)
            finally:
                await connection.close()
            return
        path = self.url.removeprefix("sqlite://")
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            for query, values in statements:
                connection.execute(query, tuple(_sqlite_value(v) for v in values))

    async def rows(self, query: str) -> list[dict[str, Any]]:
        if self.postgres:
            connection = await asyncpg.connect(self.url)
            try:
                return [dict(r) for r in await connection.fetch(query)]
            finally:
                await connection.close()
        path = self.url.removeprefix("sqlite://")
        with contextlib.closing(sqlite3.connect(path)) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(r) for r in connection.execute(query).fetchall()]


def _numbered(query: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2 ...``."""
    parts = query.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


def _sqlite_value(value: Any) -> Any:
    # as Tortoise writes them to SQLite
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


@pytest.fixture
async def old_database(database: str, tmp_path: Path) -> AsyncIterator[OldDatabase]:
    """A new database of the backend under test, migrated to the previous release; the session's
    database is connected again afterwards."""
    await db.close()
    name = f"gesso_upgrade_{uuid.uuid4().hex[:12]}"
    admin = None
    if database.startswith("postgres"):
        admin = await postgres_admin()
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = postgres_url(name)
    else:
        url = f"sqlite://{tmp_path / 'previous.sqlite3'}"
    try:
        try:
            await run_migrations(config=db.tortoise_config(url), target=PREVIOUS_RELEASE)
        finally:
            await db.close()
        yield OldDatabase(url)
    finally:
        await db.close()
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        await db.connect(database)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _seed() -> list[tuple[str, tuple[Any, ...]]]:
    users = [
        (ADA, "Ada", "ada", 2, 0, 4, 3),
        (BOB, "Bob", "bob", 1, 1, 2, 1),
        (CYD, "Cyd", "cyd", 0, 2, 0, 0),
    ]
    statements: list[tuple[str, tuple[Any, ...]]] = [
        (
            "INSERT INTO users (id, handle, handle_key, email, email_key, password_hash,"
            " display_name, bio, links, open_for_commissions, ai_training_policy,"
            " follower_count, following_count, post_count, artwork_count, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                uid,
                handle,
                key,
                f"{key}@example.com",
                f"{key}@example.com",
                "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                f"{handle} the artist",
                "ink and paper",
                _json([f"https://{key}.example"]),
                uid == ADA,
                "disallowed",
                followers,
                following,
                posts,
                artworks,
                AT,
            ),
        )
        for uid, handle, key, followers, following, posts, artworks in users
    ]
    artworks = [
        (PUBLIC_INK, ADA, "Ink study", ["ink", "cat"], "public", None),
        (FOLLOWERS_CAT, ADA, "Cat, unfinished", ["cat", "wip"], "followers", "allowed"),
        (PRIVATE_SKETCH, ADA, "Private sketch", ["wip", "secret"], "private", None),
        (BOB_PUBLIC, BOB, "Harbour", ["sea"], "public", None),
    ]
    statements += [
        (
            "INSERT INTO artworks (id, owner_id, title, description, medium, tags, position,"
            " visibility, ai_training_policy, like_count, comment_count, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                aid,
                owner,
                title,
                "",
                "ink on paper",
                _json(tags),
                n,
                visibility,
                policy,
                1 if aid == PUBLIC_INK else 0,
                0,
                AT + timedelta(minutes=n),
                AT,
            ),
        )
        for n, (aid, owner, title, tags, visibility, policy) in enumerate(artworks)
    ]
    posts = [
        (ATTACHED_TWO, ADA, "New pieces! #ink #Inktober", "public", None, 1, 1, 2),
        (FOLLOWERS_NOTE, ADA, "for my followers", "followers", None, 0, 0, 0),
        (PRIVATE_NOTE, ADA, "note to self #secret", "private", None, 0, 0, 0),
        (PLAIN, ADA, "#sketch of the day", "public", None, 0, 0, 0),
        (BOB_REPLY, BOB, "lovely", "public", ATTACHED_TWO, 0, 0, 0),
        (BOB_QUIET_REPLY, BOB, "(for the fans)", "followers", ATTACHED_TWO, 0, 0, 0),
    ]
    statements += [
        (
            "INSERT INTO posts (id, author_id, text, visibility, reply_to_id, like_count,"
            " comment_count, reply_count, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pid,
                author,
                text,
                visibility,
                reply_to,
                likes,
                comments,
                replies,
                AT + timedelta(hours=n),
            ),
        )
        for n, (pid, author, text, visibility, reply_to, likes, comments, replies) in enumerate(
            posts
        )
    ]
    # the first post shows the followers-only cat first, then the public ink study
    statements += [
        ("INSERT INTO post_artworks (post_id, artwork_id, position) VALUES (?, ?, ?)", row)
        for row in [(ATTACHED_TWO, FOLLOWERS_CAT, 0), (ATTACHED_TWO, PUBLIC_INK, 1)]
    ]
    # the tags the previous release wrote: the hashtags, then the attached artworks' tags
    statements += [
        ("INSERT INTO post_tags (post_id, tag) VALUES (?, ?)", row)
        for row in [
            (ATTACHED_TWO, "ink"),
            (ATTACHED_TWO, "inktober"),
            (ATTACHED_TWO, "cat"),
            (ATTACHED_TWO, "wip"),
            (PRIVATE_NOTE, "secret"),
            (PLAIN, "sketch"),
        ]
    ]
    statements += [
        ("INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES (?, ?, ?, ?)", row)
        for row in [(501, BOB, ADA, AT), (502, CYD, ADA, AT), (503, CYD, BOB, AT)]
    ]
    statements += [
        (
            "INSERT INTO post_likes (id, user_id, post_id) VALUES (?, ?, ?)",
            (601, BOB, ATTACHED_TWO),
        ),
        (
            "INSERT INTO artwork_likes (id, user_id, artwork_id) VALUES (?, ?, ?)",
            (602, CYD, PUBLIC_INK),
        ),
        (
            "INSERT INTO comments (id, author_id, post_id, artwork_id, text, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (701, CYD, ATTACHED_TWO, None, "the cat!", AT),
        ),
        (
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            ("a" * 64, ADA, AT, AT + timedelta(days=30)),
        ),
        (
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            ("b" * 64, BOB, AT, AT + timedelta(days=30)),
        ),
        (
            "INSERT INTO orphaned_objects (key, created_at) VALUES (?, ?)",
            ("media/orphan/1.webp", AT),
        ),
    ]
    assets = [
        (401, ADA, PUBLIC_INK, None, "artwork", 0),
        (402, ADA, None, PLAIN, "post", 0),
        (403, ADA, None, None, "avatar", 0),
    ]
    statements += [
        (
            "INSERT INTO media_assets (id, owner_id, artwork_id, post_id, kind, position,"
            " watermark_id, width, height, alt_text, dominant_color, variants, report,"
            " original_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mid,
                owner,
                artwork,
                post,
                kind,
                position,
                9_000 + mid,
                1200,
                800,
                "a cat in ink",
                "#202020",
                _json([{"name": "display", "key": f"media/{mid}/display.webp", "width": 1200}]),
                _json({"psnr": 41.5}),
                None,
                AT,
            ),
        )
        for mid, owner, artwork, post, kind, position in assets
    ]
    return statements


async def _counts(database: OldDatabase) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        (row,) = await database.rows(f"SELECT COUNT(*) AS n FROM {table}")
        counts[table] = int(row["n"])
    return counts


async def test_an_upgrade_keeps_every_row_and_fills_the_new_columns(
    old_database: OldDatabase,
) -> None:
    # given a database of the previous release holding an artist's account and its neighbours
    await old_database.run(_seed())
    before = await _counts(old_database)
    assert before == {
        "users": 3, "artworks": 4, "posts": 6, "post_artworks": 2, "post_tags": 6,
        "follows": 3, "post_likes": 1, "artwork_likes": 1, "comments": 1, "auth_tokens": 2,
        "media_assets": 3, "orphaned_objects": 1,
    }  # fmt: skip

    # when it is upgraded to this release
    await db.migrate(old_database.url)

    # then every row is still there
    assert await _counts(old_database) == before
    applied = await old_database.rows("SELECT name FROM tortoise_migrations ORDER BY name")
    assert [r["name"] for r in applied] == sorted(path.stem for path in MIGRATIONS.glob("0*.py"))

    await db.connect(old_database.url)
    try:
        # a copied tag names the most visible attached artwork having it; a hashtag names none
        sources = {(t.post_id, t.tag): t.artwork_id for t in await PostTag.all()}
        assert sources == {
            (ATTACHED_TWO, "ink"): None,  # in the text, though the ink study has it too
            (ATTACHED_TWO, "inktober"): None,
            (ATTACHED_TWO, "cat"): PUBLIC_INK,  # public beats followers, whatever the order
            (ATTACHED_TWO, "wip"): FOLLOWERS_CAT,
            (PRIVATE_NOTE, "secret"): None,
            (PLAIN, "sketch"): None,
        }
        # each tag keeps its post's visibility (0008): the private note's tag is private
        kept = {(t.post_id, t.tag): t.post_visibility for t in await PostTag.all()}
        assert kept == {
            (ATTACHED_TWO, "ink"): Visibility.PUBLIC,
            (ATTACHED_TWO, "inktober"): Visibility.PUBLIC,
            (ATTACHED_TWO, "cat"): Visibility.PUBLIC,
            (ATTACHED_TWO, "wip"): Visibility.PUBLIC,
            (PRIVATE_NOTE, "secret"): Visibility.PRIVATE,
            (PLAIN, "sketch"): Visibility.PUBLIC,
        }

        # the per-visibility counters are counted from the rows; the old ones are untouched
        counters = {
            u.id: (
                u.post_count, u.public_post_count, u.followers_post_count,
                u.artwork_count, u.public_artwork_count, u.followers_artwork_count,
                u.follower_count, u.following_count,
            )
            for u in await User.all()
        }  # fmt: skip
        assert counters == {
            ADA: (4, 2, 1, 3, 1, 1, 2, 0),
            BOB: (2, 1, 1, 1, 1, 0, 1, 1),
            CYD: (0, 0, 0, 0, 0, 0, 0, 2),
        }

        # and the rows read back through the models as they were written
        ada = await User.get(id=ADA)
        assert (ada.handle, ada.links, ada.open_for_commissions, ada.created_at) == (
            "Ada",
            ["https://ada.example"],
            True,
            AT,
        )
        cat = await Artwork.get(id=FOLLOWERS_CAT)
        assert (cat.tags, cat.visibility, cat.ai_training_policy.value) == (
            ["cat", "wip"],
            Visibility.FOLLOWERS,
            "allowed",
        )
        # the replies a post counts for every viewer are its public ones
        replies = {
            p.id: (p.reply_count, p.public_reply_count)
            for p in await Post.filter(id__in=[ATTACHED_TWO, BOB_REPLY])
        }
        assert replies == {ATTACHED_TWO: (2, 1), BOB_REPLY: (0, 0)}
        reply = await Post.get(id=BOB_REPLY)
        assert (reply.reply_to_id, reply.visibility) == (ATTACHED_TWO, Visibility.PUBLIC)
        assert [
            (a.post_id, a.artwork_id, a.position)
            for a in await PostArtwork.all().order_by("position")
        ] == [(ATTACHED_TWO, FOLLOWERS_CAT, 0), (ATTACHED_TWO, PUBLIC_INK, 1)]
        assert await Follow.filter(followee_id=ADA).count() == 2
        assert await PostLike.filter(post_id=ATTACHED_TWO, user_id=BOB).exists()
        comment = await Comment.get(id=701)
        assert (comment.text, comment.post_id, comment.artwork_id) == (
            "the cat!",
            ATTACHED_TWO,
            None,
        )
        token = await AuthToken.get(token_hash="a" * 64)
        assert (token.user_id, token.expires_at) == (ADA, AT + timedelta(days=30))
        image = await MediaAsset.get(id=401)
        assert (image.artwork_id, image.watermark_id, image.report, image.variants[0]["key"]) == (
            PUBLIC_INK,
            9_401,
            {"psnr": 41.5},
            "media/401/display.webp",
        )
    finally:
        await db.close()


async def test_an_upgraded_database_takes_new_writes(old_database: OldDatabase) -> None:
    # given an upgraded database of the previous release
    await old_database.run(_seed())
    await db.migrate(old_database.url)
    await db.connect(old_database.url)
    try:
        # when a new tag row names its artwork and a counter moves, as this release writes them
        await PostTag.create(post_id=PLAIN, tag="harbour", artwork_id=BOB_PUBLIC)
        await User.filter(id=BOB).update(public_post_count=2)
        # then both read back
        tag = await PostTag.get(post_id=PLAIN, tag="harbour")
        assert tag.artwork_id == BOB_PUBLIC
        assert (await User.get(id=BOB)).public_post_count == 2
    finally:
        await db.close()
