"""Search on the benchmark graph: latency of `search` at 16 concurrent clients, per kind.

```sh
.venv/bin/python -m bench.search              # seed gesso_search_bench, serve, load, print
.venv/bin/python -m bench.search --reuse      # keep the seeded database
.venv/bin/python -m bench.search --record     # also write the results to docs/benchmarks.md
.venv/bin/python -m bench.search --drop       # drop the database at the end
.venv/bin/python -m bench.search --reuse --each 1.5 --against ../before  # CPU per query, A/B
```

Seeds the graph of ``bench.seed_graph`` (10k members, 200k posts, their artworks) in PostgreSQL,
starts the API (production settings, one process) and sends, per kind, the reference client's
search document (``client/operations/search.graphql`` with its shared fragments) for a rotation
of queries over HTTP/1.1 keep-alive connections (``bench.loadgen``), half anonymous and half as a
signed-in member who follows 100 artists. ``--document ids`` sends ``edges { cursor }`` only
instead: the cost of the search itself, without rendering what it found. The table gives the
API's and PostgreSQL's CPU per request (``/proc``), which a machine shared with other work
disturbs less than latencies. ``--each SECONDS`` first sends each query alone (one client) and
prints the CPU per request of each; ``--against DIR`` serves the code of another checkout (its
root) beside this one on the same database, the two taking turns query by query and kind by
kind; ``--profile DIR`` samples the API with py-spy during the load (``bench.pyspy``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    Node,
    OperationDefinitionNode,
    parse,
    print_ast,
    visit,
)
from graphql.language import Visitor

from bench import pyspy
from bench.feed import free_port, machine_info, running, server_env
from bench.keyset import _migrate as migrate_reused
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.reads import _drop as drop_database
from bench.record import replace_marked
from bench.seed_graph import GraphSize, seed

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "client" / "operations"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "<!-- bench.search:{document}:{edge} -->"

# What members type, by kind: names and handles (some misspelt), words of the seeded posts, and
# subjects and media of the seeded artworks; with phrases, exclusions and `or`.
QUERIES = {
    "USERS": (
        "ada",
        "lena prints",
        "kofi drows",
        "mira",
        "artist_00042",
        "hiro etches",
        "gwen",
        "basil clya",
    ),
    "POSTS": (
        "ink",
        "storm harbour",
        "fox -night",
        "moth or fern",
        "#wip",
        '"morning light"',
        "kiln",
        "cadmium viridian",
    ),
    "ARTWORKS": (
        "fox",
        "harbour study",
        "oil",
        "moth",
        "still life",
        "charcoal -portrait",
        "window or lantern",
        "ceramic city",
    ),
}
OPERATION = {"USERS": "SearchUsers", "ARTWORKS": "SearchArtworks", "POSTS": "SearchPosts"}
IDS_ONLY = """query($q: String!, $k: SearchKind!) {
  search(query: $q, kind: $k, first: 20) { edges { cursor } pageInfo { hasNextPage } } }"""


def client_document(operation: str) -> str:
    """The screen's ``operation`` with the fragments it spreads, as a client library sends it."""
    definitions = [
        *parse((OPERATIONS / "search.graphql").read_text()).definitions,
        *parse((OPERATIONS / "fragments.graphql").read_text()).definitions,
    ]
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    (chosen,) = [
        d
        for d in definitions
        if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == operation
    ]
    needed: list[str] = []
    pending = _spreads(chosen)
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.append(name)
            pending += _spreads(fragments[name])
    return print_ast(DocumentNode(definitions=(chosen, *(fragments[n] for n in sorted(needed)))))


def _spreads(node: Node) -> list[str]:
    found: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            found.append(spread.name.value)

    visit(node, Spreads())
    return found


def request(port: int, kind: str, query: str, token: str | None, document: str) -> bytes:
    if document == "ids":
        payload = {"query": IDS_ONLY, "variables": {"q": query, "k": kind}}
    else:
        payload = {
            "query": client_document(OPERATION[kind]),
            "variables": {"query": query, "first": 20},
        }
    body = orjson.dumps(payload)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        "POST /graphql HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json\r\n"
        f"{auth}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def signed_in_member(dsn: str) -> str:
    """A token of the member who follows the most artists."""
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval(
            "SELECT follower_id FROM follows GROUP BY follower_id ORDER BY count(*) DESC, 1 LIMIT 1"
        )
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        await conn.execute(
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            hashlib.sha256(token.encode()).hexdigest(),
            user_id,
            now,
            now + timedelta(days=1),
        )
    finally:
        await conn.close()
    return token


def table(results: list[tuple[str, LoadResult]]) -> str:
    lines = [
        "| kind | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors"
        " | API CPU ms/req | PostgreSQL CPU ms/req | other CPUs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, result in results:
        per = 1000 / result.requests if result.requests else 0.0
        others = result.other_cpu_s / result.elapsed_s if result.elapsed_s else 0.0
        lines.append(
            f"| {kind} | {result.requests:,} | {result.rps:,.0f} | {result.p50_ms:.1f} |"
            f" {result.p90_ms:.1f} | {result.p99_ms:.1f} | {result.max_ms:.1f} |"
            f" {result.errors} | {result.app_cpu_s * per:.2f} | {result.db_cpu_s * per:.2f} |"
            f" {others:.2f} |"
        )
    return "\n".join(lines)


def each_query(servers: list[tuple[str, int, int]], token: str, args: argparse.Namespace) -> str:
    """Each query alone, anonymous and signed in by turns, one client: CPU per request of each
    server (name, port, pid), the servers taking turns, query by query, for ``args.rounds``."""
    names = [name for name, _, _ in servers]
    head = " | ".join(
        f"{what} ({name})" for what in ("API CPU ms/req", "PostgreSQL CPU ms/req") for name in names
    )
    lines = [f"| kind | query | {head} |", "|---|---|" + "---|" * (2 * len(servers))]
    for kind, queries in QUERIES.items():
        for query in queries:
            spent = {name: [0, 0.0, 0.0] for name in names}  # requests, API s, PostgreSQL s
            for _ in range(args.rounds):
                for name, port, pid in servers:
                    spec = LoadSpec(
                        name=f"{kind} {query}",
                        host="127.0.0.1",
                        port=port,
                        requests=tuple(
                            request(port, kind, query, who, args.document) for who in (None, token)
                        ),
                        concurrency=1,
                        warmup_s=0.3,
                        duration_s=args.each,
                        expect_edges=(-1, -1),
                        app_pid=pid,
                        database=args.database,
                        root="search",
                    )
                    with ProcessPoolExecutor(max_workers=1) as pool:
                        result = pool.submit(run_load, spec).result()
                    total = spent[name]
                    total[0] += result.requests
                    total[1] += result.app_cpu_s
                    total[2] += result.db_cpu_s
            api = [1000 * spent[n][1] / max(1, int(spent[n][0])) for n in names]
            db = [1000 * spent[n][2] / max(1, int(spent[n][0])) for n in names]
            cells = " | ".join(f"{value:.2f}" for value in api + db)
            lines.append(f"| {kind} | `{query}` | {cells} |")
    return "\n".join(lines)


def load(
    kind: str, queries: tuple[str, ...], port: int, pid: int, token: str, args: argparse.Namespace
) -> LoadResult:
    """``args.concurrency`` clients sending ``queries`` of ``kind`` to the server at ``port``."""
    requests = tuple(
        request(port, kind, query, who, args.document) for query in queries for who in (None, token)
    )
    spec = LoadSpec(
        name=kind,
        host="127.0.0.1",
        port=port,
        requests=requests,
        concurrency=args.concurrency,
        warmup_s=args.warmup,
        duration_s=args.duration,
        expect_edges=tuple(-1 for _ in requests),
        app_pid=pid,
        database=args.database,
        root="search",
    )
    sampler = None
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        raw = args.profile / f"{kind}-{port}.raw"
        sampler = pyspy.start(pid, args.warmup + args.duration, raw)
    with ProcessPoolExecutor(max_workers=1) as pool:
        result = pool.submit(run_load, spec).result()
    if sampler is not None:
        sampler.wait()
        print(f"### {kind}\n\n{pyspy.summarise(raw)}\n", flush=True)
    if result.errors:
        print(f"{kind}: {result.errors} errors: {result.error_samples}")
    print(
        f"{kind}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="gesso_search_bench")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--document", choices=("client", "ids"), default="client")
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="with --each: also serve the code of another checkout (its root), on the same"
        " database, taking turns with this one query by query",
    )
    parser.add_argument("--rounds", type=int, default=2, help="turns of each server, with --each")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the API with py-spy during each kind's load (bench.pyspy) into DIR",
    )
    parser.add_argument(
        "--each",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before the load, send each query alone (one client) for SECONDS and print the"
        " API's and PostgreSQL's CPU per request",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    dsn = args.admin_dsn.rsplit("/", 1)[0] + "/" + args.database
    if not args.reuse:
        start = time.perf_counter()
        asyncio.run(seed(args.admin_dsn, dsn, args.database, GraphSize()))
        print(f"seeded in {time.perf_counter() - start:.0f} s", flush=True)
    else:
        asyncio.run(migrate_reused(dsn))
    token = asyncio.run(signed_in_member(dsn))
    results: list[tuple[str, LoadResult]] = []
    with tempfile.TemporaryDirectory(prefix="gesso-search-bench-") as scratch:
        data_dir, logs = Path(scratch) / "data", Path(scratch)
        data_dir.mkdir()
        port = free_port()
        env = server_env(dsn, data_dir) | {"GESSO_MIGRATE_ON_START": "false"}
        command = [sys.executable, "-m", "server", "serve", "--port", str(port)]
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(running("api", command, port, env, "/healthz", logs))
            servers = [("this", port, server.pid)]
            if args.against is not None:
                other_port = free_port()
                # -P: the other checkout's code (PYTHONPATH), not this one's (the working dir)
                other = [sys.executable, "-P", "-m", "server", "serve", "--port", str(other_port)]
                other_env = env | {"PYTHONPATH": str(args.against.resolve())}
                started = running("against", other, other_port, other_env, "/healthz", logs)
                servers.insert(0, (args.against.name, other_port, stack.enter_context(started).pid))
            if args.each:
                print(each_query(servers, token, args), flush=True)
            for kind, queries in QUERIES.items():
                for name, served, pid in servers:
                    label = kind if len(servers) == 1 else f"{kind} ({name})"
                    results.append((label, load(kind, queries, served, pid, token, args)))
    report = table(results)
    print(report)
    if args.record:
        machine = machine_info()
        command_line = "python -m bench.search " + " ".join(
            a for a in sys.argv[1:] if a != "--record"
        )
        marker_start = SECTION.format(document=args.document, edge="start")
        marker_end = SECTION.format(document=args.document, edge="end")
        title = "client documents" if args.document == "client" else "the search alone"
        section = (
            f"{marker_start}\n## Search, {title} (`bench/search.py`)\n\n"
            f"{datetime.now(UTC):%Y-%m-%d}, {machine['cpu_model']}"
            f" ({machine['cpus']} cores), PostgreSQL, the graph of 10k members and"
            f" 200k posts; `{command_line.strip()}`; {args.concurrency} concurrent clients,"
            f" {args.duration:.0f} s per kind after {args.warmup:.0f} s of warm-up, document:"
            f" {args.document}. Load average of the machine (1 min) before the run:"
            f" {load_before:.1f}, after: {os.getloadavg()[0]:.1f}; target p99 < 50 ms.\n\n"
            f"{report}\n{marker_end}"
        )
        replace_marked(DOCS, marker_start, marker_end, section)
    if args.drop:
        asyncio.run(drop_database(args.admin_dsn, args.database))


if __name__ == "__main__":
    main()
