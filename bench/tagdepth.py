"""The tag feed's page statement at growing depths: PostgreSQL's cost per page.

For a database seeded by ``bench.reads`` (``--database``), prepares the statement of the compiled
plan for the reference client's ``TagFeed`` operation (``client/operations/tag_feed.graphql``) and
runs it for the first page and for the pages after the ``--depths``-th post of the tag, under the
generic plan the prepared statement keeps. Prints, per page, the CPU time of the PostgreSQL
backend per execution (from ``/proc``, so load from other processes moves it little), the median
execution time EXPLAIN ANALYZE reports, the buffers one execution touches and the rows it reads
from ``posts``.

    .venv/bin/python -m bench.tagdepth --database gesso_screens
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.feed import dsn_for
from bench.reads import OPERATIONS
from bench.seed_graph import SCREENS_TAG
from schema.compiled import Plan
from schema.planner import compile_plan
from server.persisted import client_operations

PAGE = 12  # the reference client's page


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tagdepth", description=__doc__)
    parser.add_argument("--database", default="gesso_screens")
    parser.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--depths", default="1000,10000,50000", help="posts before a deep page")
    parser.add_argument("--runs", type=int, default=1000, help="executions per page for the CPU")
    return parser.parse_args(argv)


def _backend_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _posts_read(plan: dict[str, Any]) -> int:
    rows = 0
    if plan.get("Relation Name") == "posts":
        rows = int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
    return rows + sum(_posts_read(child) for child in plan.get("Plans", []))


def tag_plan() -> Plan:
    operation = next(
        op for op in client_operations(sorted(OPERATIONS.glob("*.graphql"))) if op.name == "TagFeed"
    )
    plan = compile_plan(operation.text, operation.name)
    if not isinstance(plan, Plan):
        raise SystemExit("the TagFeed operation no longer compiles to a feed plan")
    return plan


async def measure(args: argparse.Namespace) -> None:
    plan = tag_plan()
    conn = await asyncpg.connect(dsn_for(args.admin_dsn, args.database))
    try:
        viewer = await conn.fetchval("SELECT id FROM users ORDER BY id LIMIT 1")
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        print(
            "| page | PostgreSQL CPU ms per execution | EXPLAIN ANALYZE ms, median | buffers"
            " | posts rows read |"
        )
        print("|---|---:|---:|---:|---:|")
        for depth in [0, *(int(d) for d in args.depths.split(",") if d)]:
            after = None
            if depth:
                after = await conn.fetchval(
                    "SELECT post_id FROM post_tags WHERE tag = $1 AND post_visibility = 'public'"
                    " ORDER BY post_id DESC OFFSET $2 LIMIT 1",
                    SCREENS_TAG,
                    depth - 1,
                )
                if after is None:
                    print(f"| after {depth:,} | the tag has fewer posts | | | |")
                    continue
            sql, uses_viewer = plan.reader._page_statement(after is not None, True, False, PAGE)
            values: list[Any] = [viewer] if uses_viewer else []
            values += [SCREENS_TAG] if after is None else [SCREENS_TAG, after]
            statement = await conn.prepare(sql)
            for _ in range(10):  # past PostgreSQL's first custom plans
                await statement.fetch(*values)
            before = _backend_cpu_ms(backend)
            for _ in range(args.runs):
                await statement.fetch(*values)
            cpu = (_backend_cpu_ms(backend) - before) / args.runs
            # the same generic plan, explained
            name = f"tag_page_{depth}"
            await conn.execute(f"PREPARE {name} AS {sql}")
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            literals = ", ".join(
                f"'{value}'" if isinstance(value, str) else str(int(value)) for value in values
            )
            times: list[float] = []
            for _ in range(15):
                explained = json.loads(
                    await conn.fetchval(
                        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}({literals})"
                    )
                )
                times.append(float(explained[0]["Execution Time"]))
            await conn.execute("RESET plan_cache_mode")
            top = explained[0]["Plan"]
            buffers = int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))
            label = "first" if after is None else f"after {depth:,}"
            print(
                f"| {label} | {cpu:.3f} | {statistics.median(times):.3f} | {buffers}"
                f" | {_posts_read(top)} |"
            )
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(measure(parse_args(argv)))


if __name__ == "__main__":
    main()
