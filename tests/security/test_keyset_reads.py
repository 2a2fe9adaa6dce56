"""Keyset reads cost a page, not a table: each read's statements find their rows by an index
condition, never by walking an index (or the table) and filtering what it finds.

The graph is skewed like the ones where a filtering walk reads everything (``bench.keyset``): an
artist whose newest posts and most artworks are private, an account followed by most of the
table whose rows are older than the rest, a discover feed whose newest posts are private. Each
read runs through its resolver; the statements it sends are explained (PostgreSQL: ``EXPLAIN
(FORMAT JSON)`` with sequential and bitmap scans and sorts off; SQLite: ``EXPLAIN QUERY
PLAN``) and must use the read's index with the read's columns as its condition. No timing: the
plan is the assertion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from tortoise import connections

from resolvers import feed, portfolio, social
from resolvers.context import Context
from resolvers.rules import DISCOVER, Relation
from resolvers.usersql import Person, PortfolioReader
from storage import rawsql
from storage.models import PUBLIC_POSTS, Artwork, Follow, Post, PostTag, User, Visibility
from tests.graphql import QueryCounter

ARTIST, FOLLOWER, STRANGER, FAMOUS = 1, 2, 3, 4
OTHERS = range(10, 40)
FANS = range(1000, 3000)


@pytest.fixture
async def skewed(clean_db: str) -> str:
    users = [*(ARTIST, FOLLOWER, STRANGER, FAMOUS), *OTHERS, *FANS]
    await User.bulk_create(
        [User(id=i, handle=f"u{i}", handle_key=f"u{i}", email=f"{i}@e", email_key=f"{i}@e",
              password_hash="") for i in users]
    )  # fmt: skip
    # Follows: most rows are the famous account's followers, and the oldest; the newest are
    # others following each other.
    follows = [Follow(id=i, follower_id=i, followee_id=FAMOUS) for i in FANS]
    follows.append(Follow(id=100, follower_id=FOLLOWER, followee_id=ARTIST))
    follows += [
        Follow(id=10_000 + 100 * a + b, follower_id=a, followee_id=b)
        for a in OTHERS
        for b in OTHERS
        if a != b
    ]
    await Follow.bulk_create(follows)
    # Others' public posts first, then the artist's: the newest, nearly all private.
    posts = [Post(id=1 + n, author_id=OTHERS[n % len(OTHERS)]) for n in range(1500)]
    posts += [Post(id=10_000 + n, author_id=ARTIST, visibility=_sparse(n)) for n in range(1500)]
    await Post.bulk_create(posts)
    artworks = [
        Artwork(id=1 + n, owner_id=OTHERS[n % len(OTHERS)], title="a", position=n)
        for n in range(1000)
    ]
    artworks += [
        Artwork(id=10_000 + n, owner_id=ARTIST, title="a", position=n, visibility=_sparse(999 - n))
        for n in range(1000)
    ]
    await Artwork.bulk_create(artworks)
    # A tag on every post: nearly all of its newest posts are private.
    await PostTag.bulk_create(
        [PostTag(tag="sketch", post_id=p.id, post_visibility=p.visibility) for p in posts]
    )
    # As autovacuum keeps a table: statistics, and the visibility map that index-only scans use.
    await connections.get("default").execute_script(
        "VACUUM ANALYZE" if clean_db.startswith("postgres") else "ANALYZE"
    )
    return clean_db


def _sparse(rank: int) -> Visibility:
    """Public for the 5 a page reaches last, followers-only for the 5 before, else private."""
    if rank < 5:
        return Visibility.PUBLIC
    if rank < 10:
        return Visibility.FOLLOWERS
    return Visibility.PRIVATE


async def _ctx(viewer: int | None) -> Context:
    user = await User.get(id=viewer) if viewer is not None else None
    return Context(services=cast("Any", None), viewer=user)


async def _page_statements(read: Callable[[], Awaitable[object]], table: str) -> list[Any]:
    """The statements of ``read`` that page through ``table`` (not the look-ups by id)."""
    with QueryCounter.capture() as sent:
        await read()
    found = [
        (sql, args)
        for sql, args in zip(sent.statements, sent.arguments, strict=True)
        # the ORM's statements name the table quoted, hand-written ones (storage.rawsql) do not
        if (f'"{table}"' in sql or f"FROM {table} " in sql)
        and "LIMIT" in sql
        and sql.lstrip().upper().startswith("SELECT")
    ]
    assert found, sent.statements
    return found


async def _postgres_plan(sql: str, args: list[Any]) -> list[dict[str, Any]]:
    conn = connections.get("default")
    async with conn.acquire_connection() as raw, raw.transaction():
        # A small table's plans as a large one's: no scan of the whole table, no sort of it.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await raw.execute(f"SET LOCAL {setting} = off")
        text = await raw.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    nodes: list[dict[str, Any]] = []
    stack = [json.loads(text)[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", ()))
    return nodes


_EXCLUSIONS = re.compile(r"\(?NOT \(hashed SubPlan \d+\)\)?|AND")


async def _assert_indexed(
    database: str, read: Callable[[], Awaitable[object]], table: str, index: str, cond: str
) -> None:
    """Every page statement of ``read`` finds its page in ``index`` with ``cond`` (the columns, in
    SQLite's ``a=? AND b=?`` form) as the index condition, filtering nothing out."""
    for sql, args in await _page_statements(read, table):
        if database.startswith("postgres"):
            nodes = [n for n in await _postgres_plan(sql, args) if n.get("Relation Name") == table]
            assert all(node["Node Type"] != "Seq Scan" for node in nodes), (sql, nodes)
            # The scan that finds the page: the read's index, with no rows filtered out.
            used = [n for n in nodes if n.get("Index Name") == index]
            assert used, (
                sql,
                [
                    (n["Node Type"], n.get("Index Name"), n.get("Index Cond"), n.get("Filter"))
                    for n in nodes
                ],
            )
            assert used[0]["Node Type"] in ("Index Scan", "Index Only Scan"), (sql, used)
            # nothing filtered out but the things of owners the rules' exclusions and holds
            # hide (blocks, mutes, suspensions: resolvers.rules), each a hashed subplan
            assert _EXCLUSIONS.sub("", used[0].get("Filter", "")).strip("() ") == "", (sql, used)
            columns = [part.split("=")[0] for part in cond.split(" AND ")]
            if columns != [""]:
                assert all(c in used[0].get("Index Cond", "") for c in columns), (sql, used)
        else:
            rows = await connections.get("default").execute_query_dict(
                f"EXPLAIN QUERY PLAN {rawsql.sqlite_dialect(sql)}", args
            )
            details = " | ".join(str(row["detail"]) for row in rows)
            assert f"INDEX {index}{f' ({cond})' if cond else ''}" in details, (sql, details)
            assert f"SCAN {table}" not in details, (sql, details)


@pytest.mark.parametrize("viewer", [STRANGER, None, FOLLOWER])
async def test_user_posts_read_one_index_range_per_visibility(
    skewed: str, viewer: int | None
) -> None:
    async def read() -> object:
        page = await feed.user_posts(
            await _ctx(viewer), await User.get(id=ARTIST), first=20, after=None
        )
        assert len(page.items) == (10 if viewer == FOLLOWER else 5)
        return page

    await _assert_indexed(
        skewed, read, "posts", "posts_author_visibility", "author_id=? AND visibility=?"
    )


@pytest.mark.parametrize("viewer", [STRANGER, FOLLOWER])
async def test_portfolio_reads_one_index_range_per_visibility(skewed: str, viewer: int) -> None:
    async def read() -> object:
        owner = await User.get(id=ARTIST)
        page = await portfolio.portfolio(await _ctx(viewer), owner, first=20, after=None)
        assert len(page.items) == (10 if viewer == FOLLOWER else 5)
        return page

    await _assert_indexed(
        skewed, read, "artworks", "artworks_owner_visibility", "owner_id=? AND visibility=?"
    )


@pytest.mark.parametrize("followers", [True, False])
async def test_follow_lists_read_their_index(skewed: str, followers: bool) -> None:
    user = FAMOUS if followers else FOLLOWER

    async def read() -> object:
        page = await social.follow_list(
            await _ctx(None), await User.get(id=user), followers=followers, first=20, after=None
        )
        assert len(page.items) == (20 if followers else 1)
        return page

    index, column = (
        ("follows_followee_id", "followee_id")
        if followers
        else ("follows_follower_id", "follower_id")
    )
    await _assert_indexed(skewed, read, "follows", index, f"{column}=?")


@pytest.mark.parametrize("viewer", [STRANGER, None])
async def test_tag_feed_reads_one_range_of_the_tag(skewed: str, viewer: int | None) -> None:
    async def read() -> object:
        page = await feed.tag_feed(await _ctx(viewer), "sketch", first=20, after=None)
        assert len(page.items) == 20
        return page

    await _assert_indexed(
        skewed, read, "post_tags", "post_tags_tag_visibility", "tag=? AND post_visibility=?"
    )


async def test_discover_reads_the_public_posts_index(skewed: str) -> None:
    async def read() -> object:
        page = await feed.discover_feed(await _ctx(STRANGER), first=20, after=None)
        assert len(page.items) == 20
        return page

    # The public posts' own index, or the visibility's (SQLite sees the visibility as a
    # parameter, which a partial index cannot match).
    index, cond = (
        ("posts_public_id", "")
        if skewed.startswith("postgres")
        else ("posts_visibility_id", "visibility=?")
    )
    await _assert_indexed(skewed, read, "posts", index, cond)


def test_the_public_posts_index_holds_what_discover_shows() -> None:
    for relation in Relation:
        assert DISCOVER.visibilities(relation) == {Visibility(PUBLIC_POSTS)}


async def test_a_deep_portfolio_page_of_a_plan_reads_a_page_per_visibility(clean_db: str) -> None:
    """A compiled plan's portfolio page after a cursor reads one range per visibility the viewer
    may see, however far the cursor is. Most people have a few artworks, so the planner
    estimates a deep position as rare; a condition on two visibilities at once then read every
    later artwork of a prolific artist and sorted them."""
    # given 3,000 people with one artwork each, and an artist with 1,000 (public and
    # followers-only in turn), followed by the viewer
    people = range(100, 3100)
    await User.bulk_create(
        [User(id=i, handle=f"u{i}", handle_key=f"u{i}", email=f"{i}@e", email_key=f"{i}@e",
              password_hash="") for i in (ARTIST, FOLLOWER, *people)]
    )  # fmt: skip
    await Follow.create(id=1, follower_id=FOLLOWER, followee_id=ARTIST)
    shown = (Visibility.PUBLIC, Visibility.FOLLOWERS)
    await Artwork.bulk_create(
        [Artwork(id=i, owner_id=i, title="a", position=0) for i in people]
        + [
            Artwork(id=10_000 + n, owner_id=ARTIST, title="a", position=n, visibility=shown[n % 2])
            for n in range(1000)
        ]
    )
    await connections.get("default").execute_script(
        "VACUUM ANALYZE" if clean_db.startswith("postgres") else "ANALYZE"
    )
    reader = PortfolioReader(frozenset({"title"}))
    person = Person({"id": ARTIST}, follows=True, hidden=False)
    # when the viewer reads 20 artworks after the 500th
    with QueryCounter.capture() as sent:
        page = await reader.read(FOLLOWER, person, 20, (499, 10_499))
    # then the page is the next 20 in order ...
    assert [key[0] for key, _row in page.entries] == list(range(500, 520))
    (sql,) = sent.statements
    if not clean_db.startswith("postgres"):
        return
    # ... and the artworks read are at most a page (and the one past it) per visibility
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        text = await raw.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *sent.arguments[0])
    nodes, stack = [], [json.loads(text)[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", ()))
    read = sum(
        n["Actual Rows"] * n["Actual Loops"]
        for n in nodes
        if n.get("Relation Name") == "artworks" and n.get("Index Name") != "artworks_pkey"
    )
    assert read <= 2 * 21, [(n["Node Type"], n.get("Index Name"), n["Actual Rows"]) for n in nodes]
