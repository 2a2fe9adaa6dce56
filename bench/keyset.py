"""Keyset reads on a skewed graph: does each page cost what the page holds, or what the table holds?

```sh
.venv/bin/python -m bench.keyset              # seed gesso_reads, skew it, explain every read
.venv/bin/python -m bench.keyset --reuse      # keep the seeded and skewed database
.venv/bin/python -m bench.keyset --drop       # drop the database at the end
```

Seeds the graph of ``bench.seed_graph`` and adds the shapes where a filter can grow with the
table (``SKEW``): an artist with 100k posts and 50k artworks almost all private, a popular and a
rare tag, a tag copied from a private artwork, an account followed by 2M accounts and one
following 200k, and 500k comments on one post and on one artwork. Then runs each read through
its resolver, captures the statements it sends (the ``tortoise.db_client`` logger) and prints,
for each, PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)``: execution time, rows removed by filters
and buffers touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import asyncpg

from bench.seed_graph import GraphSize, seed

# Ids of the skewed shapes' accounts (below every Snowflake id of the seeded graph).
SPARSE, FOLLOWER, STRANGER, FAMOUS, COLLECTOR = 1, 2, 3, 4, 5

# Fake followers and followees are ids with no account: foreign-key checks are off for the load.
SKEW = (
    "SET session_replication_role = replica",
    """INSERT INTO users (id, handle, handle_key, email, email_key, password_hash, display_name,
         bio, links, open_for_commissions, ai_training_policy, follower_count, following_count,
         post_count, artwork_count, created_at)
       SELECT i, 'skew' || i, 'skew' || i, 'skew' || i || '@example.com',
         'skew' || i || '@example.com', '', '', '', '[]', false, 'disallowed', 0, 0, 0, 0, now()
       FROM generate_series(1, 5) i""",
    f"""INSERT INTO follows (id, created_at, followee_id, follower_id)
        VALUES ((SELECT max(id) + 1 FROM follows), now(), {SPARSE}, {FOLLOWER})""",
    # The sparse artist: the 100k newest posts of the table; 10 public and 10 followers-only
    # among the oldest of them, the rest private.
    f"""INSERT INTO posts (id, text, visibility, like_count, comment_count, reply_count,
          created_at, author_id, public_reply_count)
        SELECT (SELECT max(id) FROM posts) + g, 'sparse ' || g,
          CASE WHEN g <= 10 THEN 'public' WHEN g <= 20 THEN 'followers' ELSE 'private' END,
          0, 0, 0, now(), {SPARSE}, 0
        FROM generate_series(1, 100000) g""",
    # ... and 50k artworks, the 10 public and 10 followers-only last in the portfolio.
    f"""INSERT INTO artworks (id, title, description, medium, tags, position, visibility,
          like_count, comment_count, created_at, updated_at, owner_id)
        SELECT (SELECT max(id) FROM artworks) + g, 'a' || g, '', '', '[]', g,
          CASE WHEN g > 49990 THEN 'public' WHEN g > 49980 THEN 'followers' ELSE 'private' END,
          0, 0, now(), now(), {SPARSE}
        FROM generate_series(1, 50000) g""",
    # Tags: 'ink' on half the posts, 'rare' on 20 old public posts, 'sketch' on the sparse
    # artist's posts (almost all private), 'copied' on a third of the others' posts, copied
    # from a private artwork.
    """INSERT INTO post_tags (tag, post_id, post_visibility)
       SELECT 'ink', id, visibility FROM posts WHERE id % 2 = 0""",
    f"""INSERT INTO post_tags (tag, post_id, post_visibility) SELECT 'rare', id, visibility
        FROM posts WHERE visibility = 'public' AND author_id <> {SPARSE} ORDER BY id LIMIT 20""",
    f"""INSERT INTO post_tags (tag, post_id, post_visibility)
        SELECT 'sketch', id, visibility FROM posts WHERE author_id = {SPARSE}""",
    f"""INSERT INTO post_tags (tag, post_id, post_visibility, artwork_id)
        SELECT 'copied', p.id, p.visibility,
          (SELECT min(id) FROM artworks WHERE owner_id = {SPARSE})
        FROM posts p WHERE p.author_id <> {SPARSE} AND p.id % 3 = 0""",
    # Followed by 2M; the stranger's one follow is the oldest row; a collector following 200k.
    f"""INSERT INTO follows (id, created_at, followee_id, follower_id)
        SELECT (SELECT max(id) FROM follows) + g, now(), {FAMOUS}, 100000000 + g
        FROM generate_series(1, 2000000) g""",
    f"""INSERT INTO follows (id, created_at, followee_id, follower_id)
        VALUES (1, now(), {FAMOUS}, {STRANGER})""",
    f"""INSERT INTO follows (id, created_at, followee_id, follower_id)
        SELECT (SELECT max(id) FROM follows) + g, now(), 200000000 + g, {COLLECTOR}
        FROM generate_series(1, 200000) g""",
    # 500k comments on the sparse artist's newest post and on one of its artworks.
    f"""INSERT INTO comments (id, text, created_at, author_id, post_id)
        SELECT g, 'c', now(), {FOLLOWER}, (SELECT max(id) FROM posts WHERE author_id = {SPARSE})
        FROM generate_series(10, 500010) g""",
    f"""INSERT INTO comments (id, text, created_at, author_id, artwork_id)
        SELECT 1000000 + g, 'c', now(), {FOLLOWER},
          (SELECT max(id) FROM artworks WHERE owner_id = {SPARSE})
        FROM generate_series(1, 500000) g""",
    "SET session_replication_role = origin",
    "VACUUM ANALYZE",
)


class Captured(logging.Handler):
    """The statements the resolvers send, with their arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple) and len(record.args) == 2:
            sql, args = record.args
            if str(sql).lstrip().upper().startswith("SELECT"):
                self.statements.append((str(sql), tuple(cast("list[Any]", args) or ())))


@dataclass(slots=True)
class Plan:
    ms: float
    removed: int
    buffers: int
    nodes: list[str]


def _walk(node: dict[str, Any], plan: Plan) -> None:
    plan.removed += int(node.get("Rows Removed by Filter", 0))
    plan.removed += int(node.get("Rows Removed by Join Filter", 0))
    plan.removed += int(node.get("Rows Removed by Index Recheck", 0))
    name = node["Node Type"] + (f" {node['Index Name']}" if "Index Name" in node else "")
    plan.nodes.append(name)
    for child in node.get("Plans", ()):
        _walk(child, plan)


async def explain(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...]) -> Plan:
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
    (top,) = json.loads(raw)
    root = top["Plan"]
    plan = Plan(float(top["Execution Time"]), 0, 0, [])
    plan.buffers = int(root.get("Shared Hit Blocks", 0)) + int(root.get("Shared Read Blocks", 0))
    _walk(root, plan)
    return plan


Read = Callable[[], Awaitable[object]]


def reads() -> dict[str, Read]:
    """Each read through its resolver, as a viewer of the skewed graph."""
    from resolvers import feed, portfolio, social
    from resolvers.context import Context
    from resolvers.social import CommentTarget
    from storage.models import Artwork, Post, User

    async def ctx(viewer: int | None) -> Context:
        user = await User.get(id=viewer) if viewer is not None else None
        return Context(services=None, viewer=user)  # type: ignore[arg-type]

    def posts(viewer: int | None) -> Read:
        async def run() -> object:
            return await feed.user_posts(
                await ctx(viewer), await User.get(id=SPARSE), first=20, after=None
            )

        return run

    def works(viewer: int | None) -> Read:
        async def run() -> object:
            return await portfolio.portfolio(
                await ctx(viewer), await User.get(id=SPARSE), first=20, after=None
            )

        return run

    def tag(name: str, viewer: int | None) -> Read:
        async def run() -> object:
            return await feed.tag_feed(await ctx(viewer), name, first=20, after=None)

        return run

    def follows(user: int, *, followers: bool) -> Read:
        async def run() -> object:
            return await social.follow_list(
                await ctx(None), await User.get(id=user), followers=followers, first=20, after=None
            )

        return run

    async def discover() -> object:
        return await feed.discover_feed(await ctx(STRANGER), first=20, after=None)

    async def post_comments() -> object:
        post = await Post.filter(author_id=SPARSE).order_by("-id").first()
        assert post is not None
        target = CommentTarget(post_id=post.id)
        return await social.comments(await ctx(FOLLOWER), target, first=20, after=None)

    async def artwork_comments() -> object:
        artwork = await Artwork.filter(owner_id=SPARSE).order_by("-id").first()
        assert artwork is not None
        target = CommentTarget(artwork_id=artwork.id)
        return await social.comments(await ctx(FOLLOWER), target, first=20, after=None)

    return {
        "user.posts, stranger": posts(STRANGER),
        "user.posts, anonymous": posts(None),
        "user.posts, follower": posts(FOLLOWER),
        "user.posts, self": posts(SPARSE),
        "user.portfolio, stranger": works(STRANGER),
        "user.portfolio, follower": works(FOLLOWER),
        "user.portfolio, self": works(SPARSE),
        "tagFeed rare, anonymous": tag("rare", None),
        "tagFeed rare, signed in": tag("rare", STRANGER),
        "tagFeed ink (half the posts)": tag("ink", STRANGER),
        "tagFeed sketch (private posts)": tag("sketch", STRANGER),
        "tagFeed copied (private artwork)": tag("copied", STRANGER),
        "followers of a 2M account": follows(FAMOUS, followers=True),
        "following of a 1-follow account": follows(STRANGER, followers=False),
        "following of a 200k account": follows(COLLECTOR, followers=False),
        "discoverFeed (newest 100k private)": discover,
        "comments of a post (500k)": post_comments,
        "comments of an artwork (500k)": artwork_comments,
    }


async def measure(dsn: str) -> list[tuple[str, Plan]]:
    from storage import db

    await db.connect(dsn)
    captured = Captured()
    logger = logging.getLogger("tortoise.db_client")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(captured)
    conn = await asyncpg.connect(dsn)
    results: list[tuple[str, Plan]] = []
    try:
        for name, read in reads().items():
            captured.statements.clear()
            await read()
            # The read's own statements: the page, not the look-ups of the viewer and the owner.
            page = [s for s in captured.statements if "LIMIT" in s[0] and " LIMIT 1" not in s[0]]
            total = Plan(0.0, 0, 0, [])
            for sql, args in page:
                plan = await explain(conn, sql, args)
                total.ms += plan.ms
                total.removed += plan.removed
                total.buffers += plan.buffers
                total.nodes += plan.nodes
            results.append((name, total))
    finally:
        logger.removeHandler(captured)
        await conn.close()
        await db.close()
    return results


def table(results: list[tuple[str, Plan]]) -> str:
    lines = [
        "| read | execution (ms) | rows removed by filter | buffers | index scans |",
        "|---|---:|---:|---:|---|",
    ]
    for name, plan in results:
        scans = ", ".join(dict.fromkeys(n for n in plan.nodes if "Index" in n or "Seq" in n))
        lines.append(f"| {name} | {plan.ms:.2f} | {plan.removed} | {plan.buffers} | {scans} |")
    return "\n".join(lines)


async def skew(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in SKEW:
            await conn.execute(statement)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="gesso_reads")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()
    dsn = args.admin_dsn.rsplit("/", 1)[0] + "/" + args.database
    if not args.reuse:
        start = time.perf_counter()
        asyncio.run(seed(args.admin_dsn, dsn, args.database, GraphSize()))
        asyncio.run(skew(dsn))
        print(f"seeded and skewed in {time.perf_counter() - start:.0f} s")
    else:
        asyncio.run(_migrate(dsn))
    print(table(asyncio.run(measure(dsn))))
    if args.drop:
        asyncio.run(_drop(args.admin_dsn, args.database))


async def _migrate(dsn: str) -> None:
    """Apply migrations newer than the reused database (an index added since)."""
    from storage import db

    await db.migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _drop(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
