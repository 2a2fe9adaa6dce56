"""A home-feed page reads a bounded number of posts, whoever the viewer follows.

Reading a page by walking the posts index backwards and filtering every row reads the whole
table for a member who follows nobody, or a few artists who rarely post: one such request costs
as much as thousands of others, and a handful of new accounts can keep the database busy. On
PostgreSQL (where the walk was the plan), the statements of a page, run again under EXPLAIN
ANALYZE, must throw away no more rows than a bound that does not grow with the table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import orjson
import pytest
from tortoise import connections

from resolvers import feedsql
from storage.models import Follow, Post, User, Visibility
from tests.graphql import GraphQLClient

STRANGER_POSTS = 3000  # newer than anything the viewers may see
# What a page may read and throw away: the short walk of the newest posts (feedsql.WALK_SCAN),
# whatever the table holds.
BOUND = feedsql.WALK_SCAN + 100
QUERY = (
    "query HomeFeed($first: Int!, $after: String) {"
    " homeFeed(first: $first, after: $after) {"
    " edges { cursor node { id text createdAt likeCount commentCount viewerHasLiked"
    " author { id handle displayName isFollowedByViewer } artworks { id title } } }"
    " pageInfo { hasNextPage endCursor } } }"
)


class _Statements(logging.Handler):
    """The statements Tortoise and storage.rawsql run, with their arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.runs: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple):
            sql, args = record.args
            self.runs.append((str(sql), list(cast("Sequence[Any]", args or []))))


@contextmanager
def _captured() -> Iterator[_Statements]:
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Statements(), logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _discarded(plan: dict[str, Any], table: str | None = None) -> int:
    """Rows a plan node and its children read and threw away (``Rows Removed by Filter``); if
    ``table`` is given, not those of a scan of another table (a filter over a subquery's rows
    counts)."""
    removed = int(plan.get("Rows Removed by Filter", 0)) * int(plan.get("Actual Loops", 1))
    if table is not None and plan.get("Relation Name", table) != table:
        removed = 0
    return removed + sum(_discarded(child, table) for child in plan.get("Plans", []))


async def _page_reads(gql: GraphQLClient, viewer: str, table: str | None = None) -> int:
    with _captured() as statements:
        result = await gql.execute(QUERY, {"first": 20}, as_=viewer)
    assert not result.errors
    conn = connections.get("default")
    read = 0
    for sql, args in statements.runs:
        if "posts" in sql and sql.lstrip().upper().startswith(("SELECT", "WITH")):
            rows = await conn.execute_query_dict(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", args)
            plan = rows[0]["QUERY PLAN"]
            plan = orjson.loads(plan) if isinstance(plan, str) else plan
            read += _discarded(plan[0]["Plan"], table)
    return read


async def _member(handle: str) -> User:
    return await User.create(
        handle=handle,
        handle_key=handle,
        email=f"{handle}@x.test",
        email_key=f"{handle}@x.test",
        password_hash="-",
    )


@pytest.fixture
async def crowded(gql: GraphQLClient, database: str) -> GraphQLClient:
    """An artist who posted once long ago; another who posted once in public long ago, then
    many private notes; then a stranger's many posts; members to read."""
    if not database.startswith("postgres"):
        pytest.skip("EXPLAIN ANALYZE of PostgreSQL")
    await gql.sign_up("newbie")  # follows nobody, has posted nothing
    await gql.sign_up("sparse")  # follows the quiet artist only
    await gql.sign_up("confidant")  # follows the diarist only
    quiet, diarist = await _member("quiet"), await _member("diarist")
    stranger = await _member("stranger")
    await Post.create(author=quiet, text="once", visibility=Visibility.PUBLIC)
    await Post.create(author=diarist, text="hello", visibility=Visibility.PUBLIC)
    await Post.bulk_create(
        [
            Post(author=diarist, text=f"note {n}", visibility=Visibility.PRIVATE)
            for n in range(STRANGER_POSTS)
        ]
    )
    await Post.bulk_create([Post(author=stranger, text=f"post {n}") for n in range(STRANGER_POSTS)])
    for handle, artist in (("sparse", quiet), ("confidant", diarist)):
        member = await User.get(handle=handle)
        await Follow.create(follower_id=member.id, followee_id=artist.id)
        await User.filter(id=member.id).update(following_count=1)
    await connections.get("default").execute_script("ANALYZE")
    return gql


@pytest.mark.parametrize("viewer", ["newbie", "sparse", "confidant"])
async def test_a_page_reads_posts_bounded_by_the_page(crowded: GraphQLClient, viewer: str) -> None:
    # given a table of many posts, none of them the viewer's or by an artist the viewer follows
    # (or, for the confidant, a followed artist's private notes, newer than what it may see)
    # when the viewer reads the home feed, on the regular path and then from a compiled plan
    for _ in range(2):
        read = await _page_reads(crowded, viewer)
        # then the page throws away a bounded number of rows, not the table
        assert read <= BOUND, f"{viewer}: {read} rows read and thrown away for a page"


@pytest.mark.parametrize("viewer", ["newbie", "sparse", "confidant"])
async def test_few_follows_read_no_post_unseen(crowded: GraphQLClient, viewer: str) -> None:
    # given members who follow no more than feedsql.MERGE_FIRST_FOLLOWS artists
    # when each reads the home feed, on the regular path and then from a compiled plan
    for _ in range(2):
        read = await _page_reads(crowded, viewer, "posts")
        # then no post is read to be thrown away: the page is a merge of each followed artist's
        # ranges of posts the viewer may see (one per visibility), with no walk before it
        assert read == 0, f"{viewer}: {read} rows read and thrown away for a page"
