"""Every screen of the reference client against its floor, in one interleaved run.

```sh
.venv/bin/python -m bench.reads                 # seed, serve, load, record docs/benchmarks.md
.venv/bin/python -m bench.reads --reuse         # keep the seeded database
.venv/bin/python -m bench.reads --quick --json  # short windows; a JSON list on stdout
```

Seeds the graph of ``bench.seed_graph`` (smaller than ``bench.feed``'s by default) with what the
screens show (``add_screens``: avatars and images with their variants, comments, a tag, a
reply), then serves the API (``python -m server serve``, production settings, one process) and
the floor (``bench.floor_app``, whose ``/reads/<Operation>`` answers each screen's JSON from
hand-written SQL, signed image URLs included). Every operation of ``client/operations/`` is sent
as the client sends it (the operation with the fragments it spreads, ``server.persisted``), with
the variables of a first page and of a deep page; before loading, the API and the floor must
answer each with identical JSON for every viewer.

The load (``bench.loadgen``, 16 keep-alive clients in a closed loop, in a process of its own)
takes the scenarios in turn, in ``--rounds`` rounds, so a change in background load hits the
API and the floor alike. ``--regular`` adds a second API process with
``GESSO_COMPILED_QUERIES=false``: the regular path's cost per document, in the same rounds.
The compiled path's fallbacks (``gesso_compiled_fallbacks_total``) are read from ``/metrics``
around each API scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import re
import secrets
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import orjson

from bench.feed import (
    FEED_WHERE,
    QUIET_CPUS,
    Server,
    dsn_for,
    free_port,
    machine_info,
    maybe_running,
    server_env,
    wait_for_quiet,
)
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.seed_graph import SCREENS_TAG, GraphSize, Showcase, add_screens, seed
from resolvers.pagination import encode_cursor
from schema.base import to_global_id
from server.persisted import client_operations

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "client" / "operations"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION_START = "<!-- bench.reads:start -->"
SECTION_END = "<!-- bench.reads:end -->"
FALLBACKS = re.compile(r'^gesso_compiled_fallbacks_total\{reason="(\w+)"\} ([0-9.e+]+)$', re.M)


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: int
    handle: str
    token: str
    home_deep: str  # the cursor of the viewer's home-feed post number ``--deep``


@dataclass(slots=True)
class Case:
    """One operation and one page of it: the variables of each viewer's request."""

    operation: str
    page: str  # "first" or "deep"
    text: str
    variables: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return f"{self.operation} {self.page}"


@dataclass(slots=True)
class Outcome:
    case: Case
    api: LoadResult
    floor: LoadResult
    regular: LoadResult | None = None
    fallbacks: dict[str, float] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__)
    parser.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="gesso_screens")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--viewers", type=int, default=4)
    parser.add_argument("--deep", type=int, default=1_000, help="items before a deep page")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=6.0, help="measured s per scenario")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--quiet-wait", type=float, default=20.0)
    parser.add_argument(
        "--only", action="append", help="operation names, comma-separated (repeatable)"
    )
    parser.add_argument("--regular", action="store_true", help="also measure the regular path")
    parser.add_argument("--quick", action="store_true", help="2 s per scenario in 1 round")
    parser.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    parser.add_argument("--no-record", action="store_true", help="leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.only:
        args.only = [name for names in args.only for name in names.split(",") if name]
    if args.quick:
        args.duration, args.rounds, args.warmup, args.quiet_wait = 2.0, 1, 1.0, 3.0
        args.no_record = True
    return args


def say(args: argparse.Namespace, text: str) -> None:
    # with --json, stdout is the JSON list only
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


# -- data --------------------------------------------------------------------------------------


async def showcase_of(dsn: str) -> Showcase:
    """The showcase ``add_screens`` made, found again in a reused database."""
    conn = await asyncpg.connect(dsn)
    try:
        artist = await conn.fetchrow(
            "SELECT id, handle FROM users ORDER BY follower_count DESC, id LIMIT 1"
        )
        post = await conn.fetchval(
            "SELECT id FROM posts WHERE author_id = $1 AND reply_to_id IS NOT NULL LIMIT 1",
            artist["id"],
        )
        artwork = await conn.fetchval(
            "SELECT id FROM artworks WHERE owner_id = $1 ORDER BY comment_count DESC LIMIT 1",
            artist["id"],
        )
    finally:
        await conn.close()
    if post is None or artwork is None:
        raise SystemExit(f"{dsn} has no screens' data: run without --reuse")
    return Showcase(artist["id"], artist["handle"], post, artwork)


async def pick_viewers(dsn: str, count: int, deep: int) -> list[Viewer]:
    """Seeded artists with a home feed of more than ``deep`` posts, each with a fresh token."""
    conn = await asyncpg.connect(dsn)
    try:
        candidates = await conn.fetch(
            "SELECT id, handle FROM users WHERE handle LIKE 'artist_%' AND following_count > 0"
            " ORDER BY md5(handle) LIMIT $1",
            count * 8,
        )
        viewers: list[Viewer] = []
        for row in candidates:
            cursor = await conn.fetchval(
                f"SELECT id FROM posts WHERE {FEED_WHERE} ORDER BY id DESC OFFSET $2 LIMIT 1",
                row["id"],
                deep - 1,
            )
            if cursor is None:
                continue
            token = secrets.token_urlsafe(32)
            now = datetime.now(UTC)
            await conn.execute("DELETE FROM auth_tokens WHERE user_id = $1", row["id"])
            await conn.execute(
                "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4)",
                hashlib.sha256(token.encode()).hexdigest(),
                row["id"],
                now,
                now + timedelta(days=1),
            )
            viewers.append(Viewer(row["id"], row["handle"], token, encode_cursor("post", cursor)))
            if len(viewers) == count:
                return viewers
    finally:
        await conn.close()
    raise SystemExit(f"fewer than {count} viewers have a home feed of {deep}+ posts: seed more")


async def deep_cursors(dsn: str, show: Showcase, deep: int) -> dict[str, dict[str, Any]]:
    """The deep page's variables of each operation but the home feed (the viewer's own)."""
    conn = await asyncpg.connect(dsn)

    async def nth(sql: str, *args: Any) -> Any:
        row = await conn.fetchrow(sql, *args)
        if row is None:
            raise SystemExit(f"no deep page for: {sql}")
        return row

    try:
        discover = await nth(
            "SELECT id FROM posts WHERE visibility = 'public' ORDER BY id DESC OFFSET $1 LIMIT 1",
            deep - 1,
        )
        tag = await nth(
            "SELECT post_id FROM post_tags WHERE tag = $1 AND post_visibility = 'public'"
            " ORDER BY post_id DESC OFFSET $2 LIMIT 1",
            SCREENS_TAG,
            deep - 1,
        )
        posts = await conn.fetchval(
            "SELECT count(*) FROM posts WHERE author_id = $1", show.artist_id
        )
        post = await nth(
            "SELECT id FROM posts WHERE author_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1",
            show.artist_id,
            min(deep, posts // 2) - 1,
        )
        works = await conn.fetchval(
            "SELECT count(*) FROM artworks WHERE owner_id = $1", show.artist_id
        )
        artwork = await nth(
            "SELECT position, id FROM artworks WHERE owner_id = $1 ORDER BY position, id"
            " OFFSET $2 LIMIT 1",
            show.artist_id,
            min(deep, works // 2) - 1,
        )
        comment_on_post = await nth(
            "SELECT id FROM comments WHERE post_id = $1 ORDER BY id OFFSET $2 LIMIT 1",
            show.post_id,
            deep - 1,
        )
        comment_on_artwork = await nth(
            "SELECT id FROM comments WHERE artwork_id = $1 ORDER BY id OFFSET $2 LIMIT 1",
            show.artwork_id,
            deep - 1,
        )
        followers = await conn.fetchval(
            "SELECT follower_count FROM users WHERE id = $1", show.artist_id
        )
        follower = await nth(
            "SELECT id FROM follows WHERE followee_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1",
            show.artist_id,
            min(deep, followers // 2) - 1,
        )
        following = await nth(
            "SELECT id FROM follows WHERE follower_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1",
            show.artist_id,
            29,
        )
    finally:
        await conn.close()
    return {
        "Discover": {"after": encode_cursor("post", discover["id"])},
        "TagFeed": {"after": encode_cursor("post", tag["post_id"])},
        "ProfilePosts": {"after": encode_cursor("post", post["id"])},
        "ProfilePortfolio": {
            "after": encode_cursor("portfolio", artwork["position"], artwork["id"])
        },
        "PostPage": {"commentsAfter": encode_cursor("comment", comment_on_post["id"])},
        "ArtworkPage": {"commentsAfter": encode_cursor("comment", comment_on_artwork["id"])},
        "Followers": {"after": encode_cursor("follow", follower["id"])},
        "Following": {"after": encode_cursor("follow", following["id"])},
    }


def cases(
    show: Showcase, viewers: list[Viewer], deep: dict[str, dict[str, Any]], only: list[str] | None
) -> list[Case]:
    """Every operation of the reference client, its first page and (where it pages) a deep one."""
    base: dict[str, dict[str, Any]] = {
        "HomeFeed": {},
        "Discover": {},
        "TagFeed": {"tag": SCREENS_TAG},
        "ProfileHeader": {"handle": show.handle},
        "ProfilePortfolio": {"handle": show.handle},
        "ProfilePosts": {"handle": show.handle},
        "ArtworkPage": {"id": to_global_id("Artwork", show.artwork_id)},
        "PostPage": {"id": to_global_id("Post", show.post_id)},
        "Followers": {"handle": show.handle},
        "Following": {"handle": show.handle},
    }
    found: list[Case] = []
    unmeasured: list[str] = []
    for operation in client_operations(sorted(OPERATIONS.glob("*.graphql"))):
        name = operation.name or ""
        if name not in base:
            # a write, a subscription, or a screen with no floor yet (bench.floor_reads)
            unmeasured.append(name)
            continue
        if only and name not in only:
            continue
        first = [dict(base[name]) for _ in viewers]
        found.append(Case(name, "first", operation.text, first))
        if name == "HomeFeed":
            pages = [{"after": v.home_deep} for v in viewers]
        elif name in deep:
            pages = [deep[name] for _ in viewers]
        else:
            continue
        found.append(Case(name, "deep", operation.text, [{**base[name], **p} for p in pages]))
    if unmeasured:
        print(f"not measured (no floor): {', '.join(unmeasured)}", file=sys.stderr)
    return found


# -- requests ----------------------------------------------------------------------------------


def api_body(case: Case, index: int) -> bytes:
    return orjson.dumps(
        {"query": case.text, "operationName": case.operation, "variables": case.variables[index]}
    )


def floor_path(case: Case, index: int) -> str:
    params = {
        ("after" if key == "commentsAfter" else key): value
        for key, value in case.variables[index].items()
    }
    return f"/reads/{case.operation}?{urlencode(params)}"


def api_request(port: int, token: str, body: bytes) -> bytes:
    head = (
        "POST /graphql HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def floor_request(port: int, token: str, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def check_same(api: Server, floor: Server, viewers: list[Viewer], found: list[Case]) -> int:
    """Both answer every case identically for every viewer; returns how many were compared."""
    compared = 0
    with httpx.Client(timeout=60.0) as client:
        for case in found:
            for index, viewer in enumerate(viewers):
                auth = {"Authorization": f"Bearer {viewer.token}"}
                for attempt in range(2):  # a URL expiry may step between the two requests
                    ours = client.post(
                        f"http://127.0.0.1:{api.port}/graphql",
                        content=api_body(case, index),
                        headers={**auth, "Content-Type": "application/json"},
                    ).json()
                    theirs = client.get(
                        f"http://127.0.0.1:{floor.port}{floor_path(case, index)}", headers=auth
                    ).json()
                    if ours == theirs:
                        break
                    if attempt == 1:
                        raise RuntimeError(
                            f"{case.name} for {viewer.handle}: the API and the floor differ\n"
                            f"API:   {orjson.dumps(ours)[:1500]!r}\n"
                            f"floor: {orjson.dumps(theirs)[:1500]!r}"
                        )
                if "errors" in ours or not ours.get("data"):
                    raise RuntimeError(f"{case.name}: {str(ours)[:500]}")
                compared += 1
    return compared


def fallbacks(server: Server) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10.0).text
    return {reason: float(count) for reason, count in FALLBACKS.findall(text)}


# -- load --------------------------------------------------------------------------------------


def run(
    args: argparse.Namespace,
    found: list[Case],
    viewers: list[Viewer],
    api: Server,
    floor: Server,
    regular: Server | None,
) -> list[Outcome]:
    targets: list[tuple[str, Server]] = [("api", api), ("floor", floor)]
    if regular is not None:
        targets.append(("regular", regular))
    parts: dict[tuple[str, str], list[LoadResult]] = {}
    fell: dict[str, dict[str, float]] = {case.name: {} for case in found}
    window = args.duration / args.rounds
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(int).result()
        for round_number in range(1, args.rounds + 1):
            warmup = args.warmup if round_number == 1 else min(1.0, args.warmup)
            say(args, f"  round {round_number}/{args.rounds}: {warmup:g} s + {window:g} s each")
            for case in found:
                for target, server in targets:
                    if target == "floor":
                        requests = tuple(
                            floor_request(server.port, v.token, floor_path(case, i))
                            for i, v in enumerate(viewers)
                        )
                    else:
                        requests = tuple(
                            api_request(server.port, v.token, api_body(case, i))
                            for i, v in enumerate(viewers)
                        )
                    spec = LoadSpec(
                        name=f"{case.name} {target}",
                        host="127.0.0.1",
                        port=server.port,
                        requests=requests,
                        concurrency=args.concurrency,
                        warmup_s=warmup,
                        duration_s=window,
                        expect_edges=tuple(0 for _ in viewers),
                        app_pid=server.pid,
                        database=args.database,
                        check="data",
                    )
                    busy = wait_for_quiet(args.quiet_wait)
                    if busy >= QUIET_CPUS:
                        say(args, f"    (other processes use {busy:.2f} CPUs)")
                    before = fallbacks(server) if target == "api" else {}
                    result = pool.submit(run_load, spec).result()
                    if target == "api":
                        after = fallbacks(server)
                        for reason, count in after.items():
                            delta = count - before.get(reason, 0.0)
                            if delta:
                                total = fell[case.name].get(reason, 0.0) + delta
                                fell[case.name][reason] = total
                    say(
                        args,
                        f"    {spec.name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms,"
                        f" p99 {result.p99_ms:.1f} ms, errors {result.errors}",
                    )
                    for sample in result.error_samples:
                        say(args, f"      error: {sample}")
                    parts.setdefault((case.name, target), []).append(result)
    outcomes = []
    for case in found:

        def merged(target: str, name: str = case.name) -> LoadResult:
            return LoadResult.merge(f"{name} {target}", parts[(name, target)])

        outcomes.append(
            Outcome(
                case,
                merged("api"),
                merged("floor"),
                merged("regular") if regular is not None else None,
                fell[case.name],
            )
        )
    return outcomes


# -- report ------------------------------------------------------------------------------------


def _cpu_ms(result: LoadResult) -> float:
    return 1000 * result.app_cpu_s / result.requests if result.requests else 0.0


def as_json(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    first = {o.case.operation: o.api for o in outcomes if o.case.page == "first"}
    rows = []
    for o in outcomes:
        row: dict[str, Any] = {
            "name": o.case.name,
            "operation": o.case.operation,
            "page": o.case.page,
            "rps": round(o.api.rps, 1),
            "floor_rps": round(o.floor.rps, 1),
            "ratio": round(o.api.rps / o.floor.rps, 3) if o.floor.rps else None,
            "p50_ms": round(o.api.p50_ms, 2),
            "p99_ms": round(o.api.p99_ms, 2),
            "floor_p99_ms": round(o.floor.p99_ms, 2),
            "api_cpu_ms": round(_cpu_ms(o.api), 3),
            "floor_cpu_ms": round(_cpu_ms(o.floor), 3),
            "errors": o.api.errors + o.floor.errors,
            "fallbacks": o.fallbacks,
        }
        if o.case.page == "deep" and first.get(o.case.operation) is not None:
            # how much slower the deep page is than the first: mean latency, deep / first
            row["deep_vs_first"] = round(o.api.mean_ms / first[o.case.operation].mean_ms, 3)
        if o.regular is not None:
            row["regular_rps"] = round(o.regular.rps, 1)
            row["regular_p99_ms"] = round(o.regular.p99_ms, 2)
            row["regular_cpu_ms"] = round(_cpu_ms(o.regular), 3)
        rows.append(row)
    return rows


def met(row: dict[str, Any]) -> bool:
    return (
        (row["ratio"] or 0) >= 0.5
        and row["p99_ms"] < 50
        and row.get("deep_vs_first", 1.0) <= 1.2
        and not row["errors"]
    )


def _or_dash(row: dict[str, Any], key: str, spec: str) -> str:
    return spec.format(row[key]) if key in row else "-"


def report(
    args: argparse.Namespace, command: str, rows: list[dict[str, Any]], compared: int
) -> str:
    machine = machine_info()
    lines = [
        f"### Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine['cpu_model']}, {machine['cpus']} CPUs,"
        f" {machine['ram']}, Python {machine['python']}; PostgreSQL on the same machine",
        f"- Graph: {args.users:,} users, {args.posts:,} posts (`bench.seed_graph` with"
        " `add_screens`); deep pages start after"
        f" {args.deep:,} items (fewer where the list is shorter: half of it)",
        f"- Load: {args.concurrency} clients, one API process and one floor process,"
        f" {args.duration:g} s per scenario in {args.rounds} interleaved rounds;"
        f" {compared} answers compared identical (API = floor) before loading",
        "- Targets: at least half the floor's req/s, p99 under 50 ms, a deep page's mean"
        " latency within 1.2x of the first page's",
        "",
        "| document | page | req/s | floor req/s | ratio | p50 ms | p99 ms | deep/first"
        " | API CPU ms/req | floor CPU ms/req | fallbacks | regular req/s | regular p99 ms"
        " | regular CPU ms/req | met |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for row in rows:
        fell = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(row["fallbacks"].items())) or "0"
        lines.append(
            f"| {row['operation']} | {row['page']} | {row['rps']:,.0f} | {row['floor_rps']:,.0f}"
            f" | {row['ratio']:.2f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f}"
            f" | {row.get('deep_vs_first', '')} | {row['api_cpu_ms']:.2f}"
            f" | {row['floor_cpu_ms']:.2f} | {fell}"
            f" | {_or_dash(row, 'regular_rps', '{:,.0f}')}"
            f" | {_or_dash(row, 'regular_p99_ms', '{:.1f}')}"
            f" | {_or_dash(row, 'regular_cpu_ms', '{:.2f}')}"
            f" | {'yes' if met(row) else 'no'} |"
        )
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = ".venv/bin/python -m bench.reads" + (
        " " + shlex.join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""
    )
    dsn = dsn_for(args.admin_dsn, args.database)
    if args.reuse:
        show = asyncio.run(showcase_of(dsn))
    else:
        size = GraphSize(users=args.users, posts=args.posts, follows_per_user=100)
        say(args, f"seeding {args.database}: {size}")
        started = time.perf_counter()
        asyncio.run(seed(args.admin_dsn, dsn, args.database, size))
        show = asyncio.run(add_screens(dsn))
        say(args, f"  seeded in {time.perf_counter() - started:.0f} s")
    viewers = asyncio.run(pick_viewers(dsn, args.viewers, args.deep + 30))
    deep = asyncio.run(deep_cursors(dsn, show, args.deep))
    only = [name for names in args.only for name in names.split(",") if name] if args.only else None
    found = cases(show, viewers, deep, only)
    python = sys.executable
    try:
        with tempfile.TemporaryDirectory(prefix="gesso-reads-") as tmp:
            logs = Path(tmp)
            env = server_env(dsn, logs / "data")
            regular_env = {**env, "GESSO_COMPILED_QUERIES": "false"}
            api_port, floor_port, regular_port = free_port(), free_port(), free_port()
            api_cmd = [python, "-m", "server", "serve", "--port", str(api_port)]
            regular_cmd = [python, "-m", "server", "serve", "--port", str(regular_port)]
            floor_cmd = [
                *(python, "-m", "uvicorn", "bench.floor_app:app", "--host", "127.0.0.1"),
                *("--port", str(floor_port), "--no-access-log", "--log-level", "warning"),
            ]
            with (
                maybe_running(True, "api", api_cmd, api_port, env, "/readyz", logs) as api,
                maybe_running(True, "floor", floor_cmd, floor_port, env, "/health", logs) as floor,
                maybe_running(
                    args.regular, "regular", regular_cmd, regular_port, regular_env, "/readyz", logs
                ) as regular,
            ):
                assert api is not None
                assert floor is not None
                compared = check_same(api, floor, viewers, found)
                if regular is not None:
                    compared += check_same(regular, floor, viewers, found)
                say(args, f"API and floor answer identically ({compared} answers compared)")
                outcomes = run(args, found, viewers, api, floor, regular)
    finally:
        if args.drop:
            asyncio.run(_drop(args.admin_dsn, args.database))
    rows = as_json(outcomes)
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    section = report(args, command, rows, compared)
    say(args, "\n" + section)
    if not args.no_record:
        update_section(section)
        say(args, f"\nwrote {DOCS}")
    errors = sum(row["errors"] for row in rows)
    if errors:
        raise SystemExit(f"{errors} requests failed")


def update_section(section: str) -> None:
    text = DOCS.read_text()
    if SECTION_START not in text:
        raise SystemExit(f"{DOCS} has no {SECTION_START} marker")
    head, rest = text.split(SECTION_START, 1)
    _, tail = rest.split(SECTION_END, 1)
    DOCS.write_text(f"{head}{SECTION_START}\n{section}\n{SECTION_END}{tail}")


async def _drop(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


if __name__ == "__main__":
    main()
