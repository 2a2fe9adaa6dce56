"""What blocks, mutes and suspensions cost a feed page in PostgreSQL.

```sh
.venv/bin/python -m bench.feed --database gesso_bench --viewer-class dense --no-docs  # seeds it
.venv/bin/python -m bench.exclusions --database gesso_bench [--runs 200]
```

On a database seeded by ``bench.feed`` (``bench.seed_graph``), runs the page statements of the
home feed (``feedsql.home_ids_sql``) and of the discover feed for the most-following viewers, as
the rules render them (``resolvers.rules``, with the exclusions and the hold) and as they
rendered them before (the same rules with none), interleaved run by run, and prints the median
and p90 execution time PostgreSQL reports (``EXPLAIN (ANALYZE)``) of each and their ratio. The
ratio comes from one interleaved run, so background load hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from resolvers import feedsql, rules


@contextmanager
def _without_exclusions() -> Iterator[None]:
    """The rules as they were before blocks, mutes and suspensions."""
    saved = rules.HOME, rules.DISCOVER
    bare = (
        dataclasses.replace(rules.HOME, exclusions=(), holds=()),
        dataclasses.replace(rules.DISCOVER, exclusions=(), holds=()),
    )
    # feedsql renders the rules it imported: replace them there too
    for module in (rules, feedsql):
        vars(module).update(HOME=bare[0], DISCOVER=bare[1])
    try:
        yield
    finally:
        for module in (rules, feedsql):
            vars(module).update(HOME=saved[0], DISCOVER=saved[1])


def _statements() -> dict[str, str]:
    home = feedsql.home_ids_sql(after=False, sqlite=False).replace("{limit}", "21")
    discover = rules.DISCOVER.to_sql("$1", owner="p.author_id", visibility="p.visibility")
    return {
        "home page ids": f"WITH {home} SELECT id FROM page ORDER BY id DESC",
        "discover page": (f"SELECT p.id FROM posts p WHERE {discover} ORDER BY p.id DESC LIMIT 21"),
    }


async def _execution_ms(conn: asyncpg.Connection, sql: str, viewer: int) -> float:
    args = [viewer] if "$1" in sql else []  # the discover rule without ties names no viewer
    text = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    plan: list[dict[str, Any]] = json.loads(text)
    return float(plan[0]["Execution Time"])


async def run(dsn: str, runs: int, viewers: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        ids = [
            row[0]
            for row in await conn.fetch(
                "SELECT id FROM users ORDER BY following_count DESC, id LIMIT $1", viewers
            )
        ]
        now = _statements()
        with _without_exclusions():
            before = _statements()
        times: dict[tuple[str, str], list[float]] = {}
        for n in range(runs):
            viewer = ids[n % len(ids)]
            for name in now:
                for label, sql in (("without", before[name]), ("with", now[name])):
                    elapsed = await _execution_ms(conn, sql, viewer)
                    times.setdefault((name, label), []).append(elapsed)
    finally:
        await conn.close()
    print(f"{runs} interleaved runs, {len(ids)} viewers (the most-following), execution time ms")
    print("| statement | rules | median | p90 | ratio of medians |")
    print("|---|---|---|---|---|")
    for name in now:
        base = statistics.median(times[(name, "without")])
        for label in ("without", "with"):
            values = sorted(times[(name, label)])
            median = statistics.median(values)
            p90 = values[int(len(values) * 0.9) - 1]
            ratio = f"{median / base:.2f}x" if label == "with" else ""
            print(f"| {name} | {label} exclusions | {median:.3f} | {p90:.3f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="gesso_bench")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--viewers", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(run(f"{args.admin_dsn}/{args.database}", args.runs, args.viewers))


if __name__ == "__main__":
    main()
