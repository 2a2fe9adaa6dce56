"""The home feed's page-ids statement alone (``resolvers.feedsql.home_ids_sql``): PostgreSQL CPU.

For a graph seeded by ``bench.feed`` (``--database``), runs the statement through a prepared
statement for viewers of each class (dense: the first ``--viewers`` members by id who follow 100
artists and have a deep page; sparse, new, mixed, busy: the seeded members of the class), their
first page and a deep page (after the ``--deep``-th post of the feed, or one page before the end
of a shorter feed, or for an empty feed after a post halfway down the table), checks each answer
against the home rule's plain query, and prints the CPU time of the PostgreSQL backend per
execution (from ``/proc``, so load from other processes moves it little) of the page-ids
statement and of the compiled plan's whole page statement (``bench.feed``'s query), the median
and p90 execution time EXPLAIN ANALYZE reports, and the buffers one execution touches.

``--sweep 10,50,100`` instead compares, per follow count, the walk first against the merge first
(``feedsql.MERGE_FIRST_FOLLOWS`` set below and above it) for a temporary viewer who follows that
many artists drawn by follower count ("popular") or evenly ("uniform"), inside a transaction
that is rolled back.

    .venv/bin/python -m bench.homepage --database feed20_big
    .venv/bin/python -m bench.homepage --database feed20_big --sweep 10,24,32,50,64,100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.feed import FEED_WHERE, HOME_FEED_QUERY, dsn_for
from bench.seed_graph import COHORTS
from resolvers import feedsql
from schema.compiled import Plan
from schema.planner import compile_plan

LIMIT = 21  # a page of 20 and one more


def _statement(*, after: bool, merge_first: int | None = None) -> str:
    if merge_first is not None:
        feedsql.MERGE_FIRST_FOLLOWS = merge_first
    return feedsql._home_ids.__wrapped__(after, False, LIMIT)


def _process_cpu_ms(pid: int) -> float:
    """User and system CPU time of the process ``pid`` (a PostgreSQL backend), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def _cpu_per_run(
    conn: asyncpg.Connection, sql: str, argsets: Sequence[tuple[Any, ...]], runs: int
) -> float:
    statement = await conn.prepare(sql)
    for args in argsets:  # warm, and past PostgreSQL's first custom plans
        for _ in range(6):
            await statement.fetch(*args)
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    before = _process_cpu_ms(backend)
    for n in range(runs):
        await statement.fetch(*argsets[n % len(argsets)])
    return (_process_cpu_ms(backend) - before) / runs


async def _buffers(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...]) -> int:
    plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args))
    top = plan[0]["Plan"]
    return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))


def _page_statement(*, after: bool) -> str:
    """The whole page statement of the compiled plan for ``bench.feed``'s query (the page's ids,
    then its posts with their authors, the viewer's likes and follows and the artworks)."""
    plan = compile_plan(HOME_FEED_QUERY, None)
    assert isinstance(plan, Plan), "bench.feed's query no longer compiles to a feed plan"
    sql, _ = plan.reader._page_statement(after, True, False, LIMIT - 1)
    return sql


async def _execution_ms(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...]) -> float:
    plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args))
    return float(plan[0]["Execution Time"])


async def _deep_cursor(conn: asyncpg.Connection, viewer: int, deep: int) -> int:
    """The post the deep page comes after: the ``deep``-th of the viewer's feed, or the one a
    page before the end of a shorter feed, or, for an empty feed, one halfway down the table."""
    size = await conn.fetchval(f"SELECT count(*) FROM posts WHERE {FEED_WHERE}", viewer)
    cursor = await conn.fetchval(
        f"SELECT id FROM posts WHERE {FEED_WHERE} ORDER BY id DESC OFFSET $2 LIMIT 1",
        viewer,
        max(1, min(deep, size - (LIMIT - 1))) - 1,
    )
    if cursor is None:
        cursor = await conn.fetchval(
            "SELECT id FROM posts ORDER BY id OFFSET (SELECT count(*) / 2 FROM posts) LIMIT 1"
        )
    return int(cursor)


async def classes(conn: asyncpg.Connection, viewers: int, runs: int, deep: int) -> None:
    picked: dict[str, list[int]] = {}
    for cls in COHORTS:
        rows = await conn.fetch(
            "SELECT id FROM users WHERE handle LIKE $1 ORDER BY handle LIMIT $2",
            cls + "\\_%",
            viewers,
        )
        picked[cls] = [row["id"] for row in rows]
    dense: list[int] = []
    for row in await conn.fetch(
        "SELECT id FROM users WHERE handle LIKE 'artist\\_%' AND following_count = 100"
        " ORDER BY id LIMIT 400"
    ):
        cursor = await conn.fetchval(
            f"SELECT id FROM posts WHERE {FEED_WHERE} ORDER BY id DESC OFFSET $2 LIMIT 1",
            row["id"],
            deep + LIMIT,
        )
        if cursor is not None:
            dense.append(row["id"])
        if len(dense) == viewers:
            break
    picked = {"dense": dense, **picked}
    print(
        "| class | page | page ids: PostgreSQL CPU ms per execution | whole page statement:"
        " PostgreSQL CPU ms | EXPLAIN ANALYZE ms, median (p90) | buffers, median |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for cls, ids in picked.items():
        if not ids:
            print(f"| {cls} | no such members in this database | | | | |")
            continue
        for page in ("first", "deep"):
            after = page == "deep"
            argsets = [
                (viewer, await _deep_cursor(conn, viewer, deep)) if after else (viewer,)
                for viewer in ids
            ]
            sql = _statement(after=after)
            for args in argsets:
                got = [row[0] for row in await conn.fetch(sql, *args)]
                where = FEED_WHERE + (" AND id < $2" if after else "")
                expected = await conn.fetch(
                    f"SELECT id FROM posts WHERE {where} ORDER BY id DESC LIMIT {LIMIT}", *args
                )
                if got != [row[0] for row in expected]:
                    raise SystemExit(f"{cls}: the statement's page differs for {args}")
            cpu = await _cpu_per_run(conn, sql, argsets, runs)
            whole = await _cpu_per_run(conn, _page_statement(after=after), argsets, runs)
            times = [await _execution_ms(conn, sql, a) for a in argsets for _ in range(5)]
            buffers = [await _buffers(conn, sql, a) for a in argsets]
            p90 = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]
            print(
                f"| {cls} | {page} | {cpu:.3f} | {whole:.3f} | {statistics.median(times):.2f}"
                f" ({p90:.2f}) | {statistics.median(buffers):.0f} |"
            )


async def sweep(conn: asyncpg.Connection, counts: Sequence[int], runs: int) -> None:
    artists = await conn.fetch("SELECT id, follower_count FROM users WHERE post_count > 0")
    ids = [row["id"] for row in artists]
    weights = [row["follower_count"] + 1 for row in artists]
    walk_first = _statement(after=False, merge_first=-1)
    merge_first = _statement(after=False, merge_first=10**9)
    rng = random.Random(7)
    print(
        "| follows | popular: walk first | popular: merge first | uniform: walk first |"
        " uniform: merge first |"
    )
    print("|---:|---:|---:|---:|---:|")
    for count in counts:
        cells: list[str] = []
        for draw in ("popular", "uniform"):
            results: dict[str, list[float]] = {"walk": [], "merge": []}
            for attempt in range(3):
                transaction = conn.transaction()
                await transaction.start()
                try:
                    viewer = 9_000_000_000_000_000 + count * 10 + attempt
                    await conn.execute(
                        "INSERT INTO users (id, handle, handle_key, email, email_key,"
                        " password_hash, display_name, bio, links, open_for_commissions,"
                        " ai_training_policy, follower_count, following_count, post_count,"
                        " artwork_count, created_at) VALUES ($1, $2, $2, $2, $2, '-', '', '',"
                        " '[]', false, 'allow', 0, $3, 0, 0, now())",
                        viewer,
                        f"sweep{viewer}",
                        count,
                    )
                    chosen: set[int] = set()
                    while len(chosen) < count:
                        chosen.add(
                            rng.choices(ids, weights)[0] if draw == "popular" else rng.choice(ids)
                        )
                    await conn.executemany(
                        "INSERT INTO follows (id, follower_id, followee_id, created_at)"
                        " VALUES ($1, $2, $3, now())",
                        [(viewer - n - 1, viewer, artist) for n, artist in enumerate(chosen)],
                    )
                    for name, sql in (("walk", walk_first), ("merge", merge_first)):
                        results[name].append(await _cpu_per_run(conn, sql, [(viewer,)], runs))
                finally:
                    await transaction.rollback()
            cells += [f"{statistics.median(results[n]):.3f}" for n in ("walk", "merge")]
        print(f"| {count} | " + " | ".join(cells) + " |")


async def main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(dsn_for(args.admin_dsn, args.database))
    try:
        if args.sweep:
            await sweep(conn, [int(n) for n in args.sweep.split(",")], args.runs)
        else:
            await classes(conn, args.viewers, args.runs, args.deep)
    finally:
        await conn.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.homepage", description=__doc__)
    parser.add_argument("--database", default="gesso_bench", help="seeded by bench.feed")
    parser.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--viewers", type=int, default=8, help="per class")
    parser.add_argument("--runs", type=int, default=3000, help="executions per measurement")
    parser.add_argument("--deep", type=int, default=10_000, help="posts before the deep page")
    parser.add_argument("--sweep", default="", help="follow counts, comma-separated")
    args = parser.parse_args(argv)
    if args.viewers < 1 or args.runs < 1:
        parser.error("--viewers and --runs must be positive")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
