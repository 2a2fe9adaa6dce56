"""A home-feed page reads a bounded number of posts, whoever the viewer follows.

Reading a page by walking the posts index backwards and filtering every row reads the whole
table for a member who follows nobody, or a few artists who rarely post: one such request costs
as much as thousands of others, and a handful of new accounts can keep the database busy. On
PostgreSQL (where the walk was the plan), the statements of a page, run again under EXPLAIN
ANALYZE, must throw away no more rows than a bound that does not grow with the table. A member
who follows a few dozen very active artists must read about a page of posts, not a page of each
artist's.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import orjson
import pytest
from tortoise import connections

from resolvers import feedsql
from resolvers.rules import HOME
from schema.compiled import Plan
from schema.planner import compile_plan
from storage.models import Follow, Post, PostTag, User, Visibility
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


BUSY_ARTISTS = 30  # more than feedsql.MERGE_FIRST_FOLLOWS, at most SHORT_WALK_FOLLOWS
BUSY_POSTS = 40  # each, newer than anything else
PAGE = 21  # a page of 20 and one more


def _posts_read(plan: dict[str, Any]) -> int:
    """Rows the scans of the posts table (or of its indexes) return, over all their loops."""
    rows = 0
    if plan.get("Relation Name") == "posts":
        rows = int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
    return rows + sum(_posts_read(child) for child in plan.get("Plans", []))


@pytest.fixture
async def busy(gql: GraphQLClient, database: str) -> int:
    """A member who follows BUSY_ARTISTS artists who post often: the newest posts are theirs."""
    if not database.startswith("postgres"):
        pytest.skip("EXPLAIN ANALYZE of PostgreSQL")
    member = await _member("fan")
    stranger = await _member("stranger")
    await Post.bulk_create([Post(author=stranger, text=f"old {n}") for n in range(STRANGER_POSTS)])
    artists = [await _member(f"busy{n}") for n in range(BUSY_ARTISTS)]
    await Post.bulk_create(
        [
            Post(author=artist, text=f"{artist.handle} {n}", visibility=visibility)
            for n in range(BUSY_POSTS)
            for artist in artists
            for visibility in (Visibility.PUBLIC, Visibility.FOLLOWERS)
        ]
    )
    await Follow.bulk_create([Follow(follower_id=member.id, followee_id=a.id) for a in artists])
    await User.filter(id=member.id).update(following_count=BUSY_ARTISTS)
    await connections.get("default").execute_script("ANALYZE")
    return int(member.id)


async def test_a_page_of_busy_artists_reads_about_a_page(busy: int) -> None:
    # given a member who follows a few dozen artists, each of whom posted many pages' worth
    assert feedsql.MERGE_FIRST_FOLLOWS < BUSY_ARTISTS <= feedsql.SHORT_WALK_FOLLOWS
    conn = connections.get("default")
    after: int | None = None
    for _ in range(3):  # the first page, then the pages after it
        # when a page of their home feed is read
        sql = feedsql._home_ids(after is not None, False, PAGE)
        args = [busy] if after is None else [busy, after]
        rows = await conn.execute_query_dict(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", args)
        plan = rows[0]["QUERY PLAN"]
        plan = orjson.loads(plan) if isinstance(plan, str) else plan
        read = _posts_read(plan[0]["Plan"])
        # then it reads about a page of posts (the newest are theirs), not a page of each artist
        assert read <= 2 * PAGE, f"{read} posts read for a page"
        page = [row["id"] for row in await conn.execute_query_dict(sql, args)]
        assert len(page) == PAGE
        after = page[-2]


def test_the_shared_posts_index_holds_what_followers_may_see() -> None:
    # given the partial index the merge reads each followed artist's range from (migration
    # 0021), and the home rule's term for the artists a viewer follows
    migration = importlib.import_module("storage.migrations.0021_posts_author_shared")
    followed = HOME.by_owner_sql("$1", visibility="visibility")[-1]
    # then the index's condition is the rule's: PostgreSQL takes the index for the rule's ranges
    # only when their conditions are written alike
    assert followed.passing == "visibility IN ('public', 'followers')"
    assert migration._AUTHOR_SHARED_INDEX.endswith(f" WHERE {followed.passing}")


async def test_a_deep_page_is_planned_as_the_first_pages_are(crowded: GraphQLClient) -> None:
    # given a member who follows many artists, and cursors near the start and the end of the
    # posts table
    conn = connections.get("default")
    member = await User.get(handle="newbie")
    await User.filter(id=member.id).update(following_count=feedsql.SHORT_WALK_FOLLOWS + 1)
    ids = [row["id"] for row in await conn.execute_query_dict("SELECT id FROM posts ORDER BY id")]
    sql = feedsql._home_ids(True, False, PAGE)
    costs = set()
    for cursor in (ids[10], ids[len(ids) // 2], ids[-10]):
        # when PostgreSQL plans the page after each
        rows = await conn.execute_query_dict(f"EXPLAIN (FORMAT JSON) {sql}", [member.id, cursor])
        plan = rows[0]["QUERY PLAN"]
        plan = orjson.loads(plan) if isinstance(plan, str) else plan
        costs.add(plan[0]["Plan"]["Total Cost"])
    # then it plans them alike: the prepared statement keeps one generic plan, instead of a
    # plan made anew at each execution (which costs more than the page on a large table)
    assert len(costs) == 1, costs


TAGGED_POSTS = 1500  # one artist's, each tagged
TAG_DEEP = 1000  # the deep page starts after this many of them
TAG_PAGE = 13  # the reference client's page of 12 and one more
TAG_QUERY = (
    "query TagFeed($tag: String!, $first: Int, $after: String) {"
    " tagFeed(tag: $tag, first: $first, after: $after) {"
    " edges { cursor node { id text author { id handle } artworks { id title } } }"
    " pageInfo { hasNextPage endCursor } } }"
)


@pytest.fixture
async def tagged(gql: GraphQLClient, database: str) -> int:
    """An artist whose every post carries one tag; the viewer's id."""
    if not database.startswith("postgres"):
        pytest.skip("EXPLAIN ANALYZE of PostgreSQL")
    viewer, artist = await _member("reader"), await _member("inker")
    await Post.bulk_create([Post(author=artist, text=f"#ink {n}") for n in range(TAGGED_POSTS)])
    ids = await Post.filter(author_id=artist.id).values_list("id", flat=True)
    await PostTag.bulk_create([PostTag(post_id=post_id, tag="ink") for post_id in ids])
    await connections.get("default").execute_script("ANALYZE")
    return int(viewer.id)


async def test_a_deep_tag_page_reads_about_a_page_of_posts(tagged: int) -> None:
    # given a tag on many posts, and the statement of a compiled plan for the tag feed
    plan = compile_plan(TAG_QUERY, "TagFeed")
    assert isinstance(plan, Plan)
    assert plan.reader.tag
    conn = connections.get("default")
    ids = [
        row["post_id"]
        for row in await conn.execute_query_dict(
            "SELECT post_id FROM post_tags WHERE tag = 'ink' ORDER BY post_id DESC"
        )
    ]
    for after in (None, ids[TAG_DEEP - 1]):
        # when the first page and a page deep in the tag are read
        sql, uses_viewer = plan.reader._page_statement(after is not None, True, False, TAG_PAGE - 1)
        args: list[Any] = [tagged] if uses_viewer else []
        args += ["ink"] if after is None else ["ink", after]
        rows = await conn.execute_query_dict(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", args)
        explained = rows[0]["QUERY PLAN"]
        explained = orjson.loads(explained) if isinstance(explained, str) else explained
        read = _posts_read(explained[0]["Plan"])
        # then each reads about a page of posts: the posts newer than the cursor are not read
        assert read <= 2 * TAG_PAGE, f"{read} posts read for a page after {after}"
        page = [row["id"] for row in await conn.execute_query_dict(sql, args)]
        start = 0 if after is None else TAG_DEEP
        assert page == ids[start : start + TAG_PAGE]
