"""Home-feed benchmark: seed PostgreSQL, serve the API and a hand-written floor, load both.

    .venv/bin/python -m bench.feed            # defaults: 10k users, 200k posts, 100 follows each

1. Seeds database ``gesso_bench`` (dropped and recreated, migrated with ``storage.db.migrate``) by
   COPY (``bench.seed_graph``), unless ``--reuse``.
2. Picks the viewers of each class (``--viewer-class``): dense, members whose home feed holds at
   least ``--deep + --first`` posts; sparse, new, mixed and busy, the members seeded for them
   (``bench.seed_graph.COHORTS``: following five rarely posting artists, nobody, 50 artists, 48
   of the 64 most active artists). Gives each a bearer token (an ``auth_tokens`` row) and the
   cursor of their deep page: after their ``--deep``-th post, or after the post that leaves one
   page at the end of a shorter feed (the second post of a feed of one or two pages), or, for
   an empty feed, a cursor halfway down the posts table (a client resuming from an old page).
3. Starts ``python -m server serve`` (production settings) and the floor
   (``bench.floor_app`` under uvicorn), each a subprocess, and checks that both return the same
   page for the same viewer and cursor.
4. Loads each scenario with ``--concurrency`` keep-alive clients (``bench.loadgen``, in a process
   of its own): a warm-up, then ``--duration`` seconds measured, split over ``--rounds`` rounds
   that take the scenarios in turn. Every answer must be HTTP 200 with no GraphQL error and a
   full page; anything else is counted as an error.
5. Prints a markdown table and writes it into ``docs/benchmarks.md`` (unless ``--no-docs``).

All traffic goes to 127.0.0.1; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import multiprocessing
import os
import platform
import random
import re
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench import pyspy
from bench.loadgen import LoadResult, LoadSpec, machine_busy_s, run_load
from bench.record import replace_marked
from bench.seed_graph import COHORTS, GraphSize, SeedSummary, seed
from resolvers.pagination import encode_cursor
from resolvers.rules import HOME, Relation

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION_START = "<!-- bench.feed:start -->"
SECTION_END = "<!-- bench.feed:end -->"

HOME_FEED_QUERY = (
    "query HomeFeed($first: Int!, $after: String) {"
    " homeFeed(first: $first, after: $after) {"
    " edges { cursor node { id text createdAt likeCount commentCount viewerHasLiked"
    " author { id handle displayName isFollowedByViewer } artworks { id title } } }"
    " pageInfo { hasNextPage endCursor } } }"
)

# The home feed's predicate ($1 = the viewer's id).
FEED_WHERE = HOME.to_sql("$1", owner="posts.author_id", visibility="posts.visibility")

# Every user's home-feed size from per-author counts, without scanning each feed: what a
# follower sees of each author, and all of one's own (the seeded graph has no exclusions).
FEED_SIZES_SQL = f"""
WITH per_author AS (
    SELECT author_id,
           count(*) FILTER (WHERE {HOME.visibilities_sql(Relation.FOLLOWER, "visibility")})
               AS visible,
           count(*) FILTER (WHERE {HOME.visibilities_sql(Relation.SELF, "visibility")}) AS total
    FROM posts GROUP BY author_id
)
SELECT u.id, u.handle,
       coalesce(own.total, 0) + coalesce(sum(pa.visible), 0) AS feed_size
FROM users u
LEFT JOIN follows f ON f.follower_id = u.id
LEFT JOIN per_author pa ON pa.author_id = f.followee_id
LEFT JOIN per_author own ON own.author_id = u.id
GROUP BY u.id, u.handle, own.total
"""


# Viewer classes: dense (feeds past the deep page), then the seeded cohorts.
CLASSES = ("dense", *COHORTS)


@dataclass(frozen=True, slots=True)
class Viewer:
    cls: str
    user_id: int
    handle: str
    token: str
    feed_size: int
    first_edges: int  # the posts on the viewer's first page
    # the cursor of the viewer's deep page (see pick_viewers), None when the class has none
    deep_cursor: str | None
    deep_ids: tuple[int, ...]  # the post ids that page must hold
    deep_at: int = 0  # the post the deep page comes after (0: a cursor into an empty feed)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    target: str  # "graphql" or "floor"
    cls: str
    deep: bool


def scenarios(classes: dict[str, list[Viewer]]) -> tuple[Scenario, ...]:
    out: list[Scenario] = []
    for target, label in (("graphql", "GraphQL"), ("floor", "floor")):
        for cls, viewers in classes.items():
            out.append(Scenario(f"{label}, {cls}, first page", target, cls, deep=False))
            if viewers[0].deep_cursor is not None:
                at = sorted({v.deep_at for v in viewers})
                where = f"after post {at[0]:,}" + (f" to {at[-1]:,}" if len(at) > 1 else "")
                if at == [0]:
                    where = "after a post halfway down the table"
                name = f"{label}, {cls}, deep page ({where})"
                out.append(Scenario(name, target, cls, deep=True))
    return tuple(out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed", description=__doc__.split("\n\n", 1)[0]
    )
    seed_group = parser.add_argument_group("the seeded graph")
    seed_group.add_argument("--users", type=int, default=10_000)
    seed_group.add_argument("--posts", type=int, default=200_000)
    seed_group.add_argument("--follows-per-user", type=int, default=100)
    seed_group.add_argument("--likes-per-post", type=float, default=5.0, help="on average")
    seed_group.add_argument(
        "--attach-ratio", type=float, default=0.25, help="share of posts with artworks"
    )
    seed_group.add_argument("--seed", type=int, default=42, help="random seed")
    seed_group.add_argument(
        "--reuse", action="store_true", help="keep the existing database, do not seed"
    )
    seed_group.add_argument(
        "--seed-only", action="store_true", help="seed the database and stop (no load)"
    )
    db_group = parser.add_argument_group("database")
    db_group.add_argument(
        "--admin-dsn",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a database on the server to connect to while (re)creating the benchmark one",
    )
    db_group.add_argument("--database", default="gesso_bench")
    load = parser.add_argument_group("load")
    load.add_argument(
        "--viewers", type=int, default=16, help="distinct signed-in viewers of each class"
    )
    load.add_argument(
        "--viewer-class",
        choices=[*CLASSES, "all"],
        default="all",
        help="dense: feeds past the deep page; sparse: follows 5 rarely posting artists; new:"
        " follows nobody; mixed: follows 50 artists; busy: follows 48 of the 64 most active"
        " artists (default: all)",
    )
    load.add_argument("--first", type=int, default=20, help="page size")
    load.add_argument("--deep", type=int, default=10_000, help="posts before the deep page")
    load.add_argument("--concurrency", type=int, default=16)
    load.add_argument(
        "--warmup", type=float, default=3.0, help="seconds, before a scenario's first round"
    )
    load.add_argument("--duration", type=float, default=15.0, help="measured seconds, per scenario")
    load.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="split each scenario's measured time over this many rounds of all scenarios",
    )
    load.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes of the API and of the floor (uvicorn --workers)",
    )
    load.add_argument(
        "--pin-loadgen",
        type=int,
        default=None,
        metavar="CPU",
        help="pin the load generator to this CPU (default: let the kernel schedule it)",
    )
    load.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="before each scenario, wait up to this long for the machine to be idle (other"
        " processes using under 0.1 CPU)",
    )
    load.add_argument(
        "--only", choices=["graphql", "floor"], default=None, help="run one target's scenarios"
    )
    load.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="sample the API with py-spy during its scenarios and write the stacks and a summary"
        " to DIR (slows the API: such a run's numbers are not the benchmark's)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    out.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if min(args.first, args.deep, args.viewers, args.concurrency, args.rounds) < 1:
        parser.error("--first, --deep, --viewers, --concurrency and --rounds must be positive")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    return args


def dsn_for(admin_dsn: str, database: str) -> str:
    """``admin_dsn`` naming ``database`` instead (its query, e.g. a socket's ``host``, kept)."""
    base, mark, query = admin_dsn.partition("?")
    return base.rsplit("/", 1)[0] + "/" + database + mark + query


# -- viewers ---------------------------------------------------------------------------------


async def pick_viewers(
    dsn: str, args: argparse.Namespace
) -> tuple[dict[str, list[Viewer]], list[int]]:
    """The viewers of each chosen class, each with a fresh token; also every user's feed size
    (for the report)."""
    need = args.deep + args.first
    wanted = CLASSES if args.viewer_class == "all" else (args.viewer_class,)
    conn = await asyncpg.connect(dsn)
    try:
        sizes = await conn.fetch(FEED_SIZES_SQL)
        all_sizes = sorted(int(row["feed_size"]) for row in sizes)
        classes: dict[str, list[Viewer]] = {}
        for cls in wanted:
            if cls == "dense":
                candidates = sorted(
                    (row["id"], row["handle"])
                    for row in sizes
                    if row["feed_size"] >= need and row["handle"].startswith("artist_")
                )
                if len(candidates) < args.viewers:
                    raise SystemExit(
                        f"only {len(candidates)} users have a home feed of {need}+ posts and "
                        f"{args.viewers} viewers were asked for: seed more posts or follows"
                    )
                picked = random.Random(args.seed).sample(candidates, args.viewers)
            else:
                picked = sorted(
                    ((row["id"], row["handle"]) for row in sizes),
                    key=lambda pair: pair[1],
                )
                picked = [pair for pair in picked if pair[1].startswith(f"{cls}_")]
                picked = picked[: args.viewers]
                if not picked:
                    raise SystemExit(f"no {cls} members in the database: seed it again")
            classes[cls] = [
                await _viewer(conn, cls, user_id, handle, args) for user_id, handle in picked
            ]
    finally:
        await conn.close()
    return classes, all_sizes


async def _viewer(
    conn: asyncpg.Connection, cls: str, user_id: int, handle: str, args: argparse.Namespace
) -> Viewer:
    """A viewer with a fresh token, the size of their feed and their deep page (if it has one)."""
    size = await conn.fetchval(f"SELECT count(*) FROM posts WHERE {FEED_WHERE}", user_id)
    # the deep page: after the --deep-th post, or one page before the end of a shorter feed
    deep = max(1, min(args.deep, size - args.first))
    ids = await conn.fetch(
        f"SELECT id FROM posts WHERE {FEED_WHERE} ORDER BY id DESC OFFSET $2 LIMIT $3",
        user_id,
        deep - 1,
        args.first + 1,
    )
    if not ids:  # an empty feed: a cursor halfway down the table
        middle = await conn.fetchval(
            "SELECT id FROM posts ORDER BY id OFFSET (SELECT count(*) / 2 FROM posts) LIMIT 1"
        )
        ids = [{"id": middle}]
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await conn.execute("DELETE FROM auth_tokens WHERE user_id = $1", user_id)
    await conn.execute(
        "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        hashlib.sha256(token.encode()).hexdigest(),
        user_id,
        now,
        now + timedelta(days=1),
    )
    return Viewer(
        cls=cls,
        user_id=user_id,
        handle=handle,
        token=token,
        feed_size=size,
        first_edges=min(size, args.first),
        deep_cursor=encode_cursor("post", ids[0]["id"]),
        deep_ids=tuple(row["id"] for row in ids[1:]),
        deep_at=deep if size else 0,
    )


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(slots=True)
class Server:
    name: str
    command: list[str]
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def wait_until_up(server: Server, path: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n"
                + server.log.read_text(errors="replace")[-3000:]
            )
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer {url} within {timeout_s:.0f} s")


@contextmanager
def running(
    name: str, command: list[str], port: int, env: dict[str, str], path: str, logs: Path
) -> Iterator[Server]:
    log = logs / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(name=name, command=command, port=port, process=process, log=log)
    try:
        wait_until_up(server, path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def server_env(dsn: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=dsn,
        GESSO_BENCH_FLOOR_DSN=dsn,
        GESSO_ENV="production",
        GESSO_SECRET_KEY=secrets.token_urlsafe(48),
        GESSO_PUBLIC_URL="https://gesso.example",  # required in production; not read here
        GESSO_DATA_DIR=str(data_dir),
        GESSO_WORKER_ID="1",
        # One load generator is one address: limits it cannot reach, so their cost is measured.
        GESSO_RATE_LIMITS="ip=999999999/1s,account=999999999/1s",
        PYTHONUNBUFFERED="1",
    )
    return env


# -- requests --------------------------------------------------------------------------------


def graphql_body(first: int, after: str | None) -> bytes:
    return orjson.dumps({"query": HOME_FEED_QUERY, "variables": {"first": first, "after": after}})


def graphql_request(port: int, token: str, first: int, after: str | None) -> bytes:
    body = graphql_body(first, after)
    head = (
        "POST /graphql HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def floor_path(first: int, after: str | None) -> str:
    return f"/feed?first={first}" + (f"&after={after}" if after else "")


def floor_request(port: int, token: str, first: int, after: str | None) -> bytes:
    head = (
        f"GET {floor_path(first, after)} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    )
    return head.encode()


def fetch_both(
    client: httpx.Client, api: Server, floor: Server, viewer: Viewer, first: int, after: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    auth = {"Authorization": f"Bearer {viewer.token}"}
    api_answer = client.post(
        f"http://127.0.0.1:{api.port}/graphql",
        content=graphql_body(first, after),
        headers={**auth, "Content-Type": "application/json"},
    )
    floor_answer = client.get(
        f"http://127.0.0.1:{floor.port}{floor_path(first, after)}", headers=auth
    )
    api_doc: dict[str, Any] = api_answer.json()
    floor_doc: dict[str, Any] = floor_answer.json()
    if api_answer.status_code != 200 or "errors" in api_doc:
        raise RuntimeError(f"GraphQL answered {api_answer.status_code}: {api_answer.text[:500]}")
    if floor_answer.status_code != 200:
        raise RuntimeError(f"floor answered {floor_answer.status_code}: {floor_answer.text[:500]}")
    return api_doc, floor_doc


def check_same_answers(
    api: Server, floor: Server, classes: dict[str, list[Viewer]], first: int
) -> int:
    """Both servers return the same page, and the deep page holds the expected posts; returns
    how many pages were compared."""
    compared = 0
    with httpx.Client(timeout=30.0) as client:
        for viewer in [v for viewers in classes.values() for v in viewers[:4]]:
            for after in dict.fromkeys((None, viewer.deep_cursor)):
                api_doc, floor_doc = fetch_both(client, api, floor, viewer, first, after)
                if api_doc != floor_doc:
                    raise RuntimeError(
                        f"GraphQL and floor differ for {viewer.handle} after={after}:\n"
                        f"{orjson.dumps(api_doc)[:800]!r}\n{orjson.dumps(floor_doc)[:800]!r}"
                    )
                if after is not None:
                    expected = [f"Post:{pk}" for pk in viewer.deep_ids[:first]]
                    seen = [
                        base64.b64decode(edge["node"]["id"]).decode()
                        for edge in api_doc["data"]["homeFeed"]["edges"]
                    ]
                    if seen != expected:
                        raise RuntimeError(
                            f"the deep page of {viewer.handle} is not the posts the database "
                            "lists after the deep cursor"
                        )
                compared += 1
    return compared


QUIET_CPUS = 0.1


def wait_for_quiet(max_wait_s: float) -> float:
    """Wait (at most ``max_wait_s``) until the machine's CPUs are nearly idle over one second,
    which, with the servers idle, means no other work is running; returns the last load seen."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_s()
        time.sleep(1.0)
        busy = machine_busy_s() - before
        if busy < QUIET_CPUS or time.monotonic() >= deadline:
            return busy


# -- load ------------------------------------------------------------------------------------


def run_scenarios(
    args: argparse.Namespace,
    api: Server | None,
    floor: Server | None,
    classes: dict[str, list[Viewer]],
) -> list[tuple[Scenario, LoadResult]]:
    """Each scenario's measured time is split over ``--rounds`` rounds that take the scenarios
    in turn, so a change in the machine's background load hits every scenario alike."""
    chosen = [
        (scenario, api if scenario.target == "graphql" else floor)
        for scenario in scenarios(classes)
        if (api if scenario.target == "graphql" else floor) is not None
    ]
    parts: dict[str, list[LoadResult]] = {scenario.name: [] for scenario, _ in chosen}
    raws: dict[str, list[Path]] = {scenario.name: [] for scenario, _ in chosen}
    window = args.duration / args.rounds
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(int).result()  # start the worker before the first measurement
        for round_number in range(1, args.rounds + 1):
            warmup = args.warmup if round_number == 1 else min(1.0, args.warmup)
            print(f"  round {round_number}/{args.rounds}: {warmup:g} s warm-up + {window:g} s each")
            for scenario, server in chosen:
                assert server is not None
                build = graphql_request if scenario.target == "graphql" else floor_request
                viewers = classes[scenario.cls]
                spec = LoadSpec(
                    name=scenario.name,
                    host="127.0.0.1",
                    port=server.port,
                    requests=tuple(
                        build(
                            server.port,
                            v.token,
                            args.first,
                            v.deep_cursor if scenario.deep else None,
                        )
                        for v in viewers
                    ),
                    concurrency=args.concurrency,
                    warmup_s=warmup,
                    duration_s=window,
                    expect_edges=tuple(
                        min(args.first, len(v.deep_ids)) if scenario.deep else v.first_edges
                        for v in viewers
                    ),
                    cpu=args.pin_loadgen,
                    app_pid=server.pid,
                    database=args.database,
                )
                busy = wait_for_quiet(args.quiet_wait)
                if busy >= QUIET_CPUS:
                    print(f"    (other processes still use {busy:.2f} CPUs)")
                future = pool.submit(run_load, spec)
                if args.profile is not None and scenario.target == "graphql":
                    args.profile.mkdir(parents=True, exist_ok=True)
                    raw = args.profile / f"{slug(scenario.name)}-{round_number}.txt"
                    time.sleep(warmup + 0.2)
                    sampler = pyspy.start(server.pid, window - 0.5, raw)
                    result = future.result()
                    sampler.wait(timeout=60)
                    raws[scenario.name].append(raw)
                else:
                    result = future.result()
                print(
                    f"    {scenario.name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, errors {result.errors}"
                )
                for sample in result.error_samples:
                    print(f"      error: {sample}")
                parts[scenario.name].append(result)
    if args.profile is not None:
        for name, files in raws.items():
            if files:
                write_profile(args.profile, name, files)
    return [
        (scenario, LoadResult.merge(scenario.name, parts[scenario.name])) for scenario, _ in chosen
    ]


def write_profile(directory: Path, name: str, files: list[Path]) -> None:
    combined = directory / f"{slug(name)}.txt"
    combined.write_text("".join(f.read_text(encoding="utf-8") for f in files), encoding="utf-8")
    for part in files:
        part.unlink()
    summary = pyspy.summarise(combined)
    (directory / f"{slug(name)}.md").write_text(
        f"# py-spy: {name}\n\n{summary}\n", encoding="utf-8"
    )
    print(f"\n  py-spy, {name} (all rounds):")
    print(textwrap.indent(summary, "    "))


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# -- report ----------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text()
    kib = next(int(line.split()[1]) for line in meminfo.splitlines() if "MemTotal" in line)
    return {
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu_model": model,
        "ram": f"{kib / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "server", "schema", "resolvers", "storage"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes to the API)" if dirty else "")


def _find(
    results: list[tuple[Scenario, LoadResult]], target: str, cls: str, deep: bool
) -> LoadResult | None:
    return next(
        (r for s, r in results if s.target == target and s.cls == cls and s.deep == deep), None
    )


def _db_ms(result: LoadResult) -> float:
    return 1000 * result.db_cpu_s / result.requests if result.requests else float("inf")


def targets(results: list[tuple[Scenario, LoadResult]]) -> list[tuple[str, bool, str]]:
    """(target, passed, evidence) for each target that the results can judge."""
    out: list[tuple[str, bool, str]] = []
    classes = list(dict.fromkeys(s.cls for s, _ in results))
    dense_first = _find(results, "graphql", "dense", False)
    for cls in classes:
        first, deep = _find(results, "graphql", cls, False), _find(results, "graphql", cls, True)
        floor_first = _find(results, "floor", cls, False)
        floor_deep = _find(results, "floor", cls, True)
        for label, result in (("first page", first), ("deep page", deep)):
            if result is not None:
                out.append(
                    (
                        f"{cls}: GraphQL p99 under 50 ms ({label})",
                        result.p99_ms < 50 and result.errors == 0,
                        f"p99 {result.p99_ms:.1f} ms",
                    )
                )
        if first is not None and deep is not None:
            ratio = deep.p50_ms / first.p50_ms if first.p50_ms else float("inf")
            rps_ratio = first.rps / deep.rps if deep.rps else float("inf")
            out.append(
                (
                    f"{cls}: GraphQL deep page within 1.2x of the first",
                    ratio <= 1.2 and rps_ratio <= 1.2,
                    f"p50 {ratio:.2f}x, throughput {rps_ratio:.2f}x",
                )
            )
        if cls != "dense" and dense_first is not None:
            for label, result in (("first page", first), ("deep page", deep)):
                if result is not None:
                    share = _db_ms(result) / _db_ms(dense_first)
                    out.append(
                        (
                            f"{cls}: PostgreSQL CPU per page within 2x of dense ({label})",
                            share <= 2.0,
                            f"{_db_ms(result):.2f} ms, {share:.2f}x",
                        )
                    )
        for label, api_result, floor_result in (
            ("first page", first, floor_first),
            ("deep page", deep, floor_deep),
        ):
            if api_result is not None and floor_result is not None and floor_result.rps:
                share = api_result.rps / floor_result.rps
                out.append(
                    (
                        f"{cls}: GraphQL throughput at least half the floor's ({label})",
                        share >= 0.5,
                        f"{share:.0%} of the floor",
                    )
                )
    return out


def results_table(results: list[tuple[Scenario, LoadResult]]) -> str:
    lines = [
        "| scenario | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| server CPU ms/req | PostgreSQL CPU ms/req | load generator CPU ms/req "
        "| other processes, CPUs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, r in results:
        per = 1000 / r.requests if r.requests else 0.0
        lines.append(
            f"| {scenario.name} | {r.requests:,} | {r.rps:,.0f} | {r.p50_ms:.1f} "
            f"| {r.p90_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} | {r.errors} "
            f"| {r.app_cpu_s * per:.2f} | {r.db_cpu_s * per:.2f} | {r.cpu_s * per:.2f} "
            f"| {r.other_cpu_s / r.elapsed_s if r.elapsed_s else 0.0:.2f} |"
        )
    return "\n".join(lines)


def report(
    args: argparse.Namespace,
    command: str,
    summary: SeedSummary | None,
    classes: dict[str, list[Viewer]],
    all_sizes: list[int],
    pg_version: str,
    results: list[tuple[Scenario, LoadResult]],
    compared: int,
) -> str:
    info = machine_info()
    lines = [
        f"### Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command}`",
        f"- Code: {git_revision()}",
        f"- Machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['ram']} RAM, "
        f"Linux {info['kernel']}, Python {info['python']}",
        f"- PostgreSQL: {pg_version} (same machine, default settings)",
    ]
    if summary is not None:
        lines.append(
            f"- Graph: {summary.users:,} users, {summary.posts:,} posts, {summary.follows:,} "
            f"follows, {summary.likes:,} likes, {summary.artworks:,} artworks attached to posts; "
            f"the most followed artist has {summary.max_followers:,} followers, the most active "
            f"wrote {summary.max_posts:,} posts. Seeded in {summary.total_s:.0f} s "
            f"(generate and insert in PostgreSQL {summary.generate_s:.0f} s, indexes "
            f"{summary.copy_s:.0f} s, "
            f"VACUUM ANALYZE {summary.analyze_s:.0f} s)."
        )
    else:
        lines.append(f"- Graph: the existing `{args.database}` database (`--reuse`).")
    lines += [
        f"- Home-feed sizes: all users {all_sizes[0]:,} to {all_sizes[-1]:,} posts "
        f"(median {statistics.median(all_sizes):,.0f}); the benchmark viewers: "
        + "; ".join(
            f"{cls} {len(vs)}, {min(v.feed_size for v in vs):,} to "
            f"{max(v.feed_size for v in vs):,} posts"
            for cls, vs in classes.items()
        )
        + f". The deep page is the one after each viewer's {args.deep:,}th post, or one page"
        " before the end of a shorter feed, or, for an empty feed, the page after a post halfway"
        " down the table.",
        f"- Load: {args.concurrency} keep-alive connections, closed loop, {args.duration:g} s "
        f"measured per scenario in {args.rounds} rounds that take the scenarios in turn "
        f"(a {args.warmup:g} s warm-up before the first round, 1 s before the others), "
        f"`first: {args.first}`, "
        f"{args.workers} server process{'es' if args.workers > 1 else ''} each; the "
        "load generator runs in its own process"
        + (f" pinned to CPU {args.pin_loadgen}" if args.pin_loadgen is not None else "")
        + f"; server, floor, PostgreSQL and load generator share the {info['cpus']} CPUs. "
        f"GraphQL and floor answers were compared for {compared} pages and were identical.",
        "",
        results_table(results),
        "",
        "CPU columns: CPU time of that process (all PostgreSQL processes together) during the "
        "measured window, divided by the requests answered; the last column is the CPU that "
        "every other process on the machine used meanwhile, in CPUs (0.00 = an undisturbed run).",
        "",
        "| target | result | |",
        "|---|---|---|",
    ]
    for name, passed, evidence in targets(results):
        lines.append(f"| {name} | {'pass' if passed else '**fail**'} | {evidence} |")
    return "\n".join(lines)


def update_docs(path: Path, section: str) -> None:
    """Replace the results section of ``path`` (created if missing) with ``section``."""
    block = f"{SECTION_START}\n{section}\n{SECTION_END}"
    new = "# Benchmarks\n\n## Home feed (`bench/feed.py`)\n"
    replace_marked(path, SECTION_START, SECTION_END, block, new=new)


async def postgres_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        version: str = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return version.split()[0]


@contextmanager
def maybe_running(
    wanted: bool,
    name: str,
    command: list[str],
    port: int,
    env: dict[str, str],
    path: str,
    logs: Path,
) -> Iterator[Server | None]:
    if not wanted:
        yield None
        return
    with running(name, command, port, env, path, logs) as server:
        yield server


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    command = ".venv/bin/python -m bench.feed" + (
        " " + shlex.join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""
    )
    dsn = dsn_for(args.admin_dsn, args.database)
    summary: SeedSummary | None = None
    if not args.reuse:
        size = GraphSize(
            users=args.users,
            posts=args.posts,
            follows_per_user=args.follows_per_user,
            likes_per_post=args.likes_per_post,
            attach_ratio=args.attach_ratio,
            seed=args.seed,
        )
        print(f"seeding {args.database}: {size}")
        summary = asyncio.run(seed(args.admin_dsn, dsn, args.database, size))
        print(
            f"  {summary.users:,} users, {summary.posts:,} posts, {summary.follows:,} follows, "
            f"{summary.likes:,} likes, {summary.artworks:,} artworks in {summary.total_s:.1f} s "
            f"(generate and insert {summary.generate_s:.1f} s, indexes {summary.copy_s:.1f} s, "
            f"VACUUM ANALYZE {summary.analyze_s:.1f} s); counters verified"
        )
    if args.seed_only:
        return
    classes, all_sizes = asyncio.run(pick_viewers(dsn, args))
    pg_version = asyncio.run(postgres_version(dsn))
    print(f"all users' home feeds: {all_sizes[0]:,} to {all_sizes[-1]:,} posts")
    for cls, viewers in classes.items():
        sizes = sorted(v.feed_size for v in viewers)
        print(
            f"{cls}: {len(viewers)} viewers, home feed sizes {sizes[0]:,} to {sizes[-1]:,} posts "
            f"(median {statistics.median(sizes):,.0f})"
            + ("" if viewers[0].deep_cursor else "; no deep page")
        )

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="gesso-bench-") as tmp:
        logs = Path(tmp)
        env = server_env(dsn, logs / "data")
        api_port, floor_port = free_port(), free_port()
        api_cmd = [python, "-m", "server", "serve", "--port", str(api_port)]
        floor_cmd = [
            python,
            "-m",
            "uvicorn",
            "bench.floor_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(floor_port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if args.workers > 1:
            api_cmd += ["--workers", str(args.workers)]
            floor_cmd += ["--workers", str(args.workers)]
        want_api, want_floor = args.only in (None, "graphql"), args.only in (None, "floor")
        with (
            maybe_running(want_api, "api", api_cmd, api_port, env, "/readyz", logs) as api,
            maybe_running(
                want_floor, "floor", floor_cmd, floor_port, env, "/health", logs
            ) as floor,
        ):
            print(f"API: {shlex.join(api_cmd)} (pid {api.pid if api else '-'})")
            print(f"floor: {shlex.join(floor_cmd)} (pid {floor.pid if floor else '-'})")
            compared = 0
            if api is not None and floor is not None:
                compared = check_same_answers(api, floor, classes, args.first)
                print(f"GraphQL and floor return identical pages ({compared} compared)")
            results = run_scenarios(args, api, floor, classes)

    section = report(args, command, summary, classes, all_sizes, pg_version, results, compared)
    print()
    print(section)
    if not args.no_docs:
        update_docs(args.docs, section)
        print(f"\nwrote {args.docs}")
    errors = sum(r.errors for _, r in results)
    if errors:
        raise SystemExit(f"{errors} requests failed")


if __name__ == "__main__":
    main()
