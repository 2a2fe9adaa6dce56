"""Page-view benchmark: the home feed a real feed card asks for, and every image in it.

    .venv/bin/python -m bench.pageview                 # full run, records docs/benchmarks.md
    .venv/bin/python -m bench.pageview --quick --json  # about a minute, one JSON object

1. Makes (or reuses, from disk) a pool of protected pictures (``bench.image_pool``: generated
   pictures through the real pipeline) and seeds database ``gesso_pageview`` with the graph of
   ``bench.seed_graph`` plus images: an avatar for every member, one or two images on some posts,
   one or two on every artwork, each row one of the pool's pictures. Every member who follows
   someone is a viewer, with a token.
2. Starts one API process (production settings, serving the pool's files as its local object
   store), ``varnishd`` with the repository's VCL in front of it, the floor feed endpoint
   (``bench.floor_app``) and nginx serving the same files (``bench.caches``).
3. Runs the scenarios in rounds that take them in turn, each with ``--concurrency`` virtual
   browsers (``bench.pageview_load``) picking viewers by Zipf popularity:

   - *cache*: the ``HomeFeed`` document of ``client/operations/`` (with the fragments it
     spreads) to the API, then its images through Varnish;
   - *floor*: the floor's page with images, then the same files from nginx;
   - *no cache*: the document to the API, then its images from the API too (as before the cache);
   - *document only*: the document to the API, no images (what the API spends on it alone).

4. Prints the results (``--json``: one JSON object on stdout, the progress on stderr) and, for a
   full run, writes them into ``docs/benchmarks.md``.

The API's CPU on images in the cache scenario is the misses it answered times its CPU per image
request, measured in the same run: (no cache - document only) / images per page view. Every
process runs on this machine and talks to 127.0.0.1 only; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.caches import nginx_command, varnish_command
from bench.documents import client_document
from bench.feed import (
    Server,
    dsn_for,
    free_port,
    postgres_version,
    running,
    server_env,
    wait_for_quiet,
)
from bench.image_pool import default_pool_dir, load_pool
from bench.pageview_load import PageViewResult, PageViewSpec, image_paths, run_pageviews
from bench.pageview_report import SCENARIOS, report, summary
from bench.pageview_seed import drop_database, make_viewers, seed_media
from bench.record import replace_marked
from bench.seed_graph import GraphSize, seed

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION_START = "<!-- bench.pageview:start -->"
SECTION_END = "<!-- bench.pageview:end -->"
CARD_PAGE = 12  # the page size of client/operations/home_feed.graphql ($first: Int = 12)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pageview", description=__doc__.split("\n\n", 1)[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smaller graph, shorter windows")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sizes = parser.add_argument_group("data")
    sizes.add_argument("--users", type=int, help="default 10,000 (quick: 2,000)")
    sizes.add_argument("--posts", type=int, help="default 100,000 (quick: 20,000)")
    sizes.add_argument("--follows-per-user", type=int, help="default 100 (quick: 50)")
    sizes.add_argument("--pool-size", type=int, default=300, help="pictures in the image pool")
    sizes.add_argument("--pool-dir", type=Path, help="where the pool is kept between runs")
    sizes.add_argument("--seed", type=int, default=1)
    sizes.add_argument("--admin-dsn", default="postgres://postgres@127.0.0.1:5432/postgres")
    sizes.add_argument("--database", default="gesso_pageview")
    sizes.add_argument("--keep", action="store_true", help="keep the database at the end")
    load = parser.add_argument_group("load")
    load.add_argument("--concurrency", type=int, default=16, help="virtual browsers")
    load.add_argument("--image-connections", type=int, default=6, help="per browser")
    load.add_argument("--zipf", type=float, default=1.0, help="exponent of viewer popularity")
    load.add_argument(
        "--first",
        type=int,
        default=CARD_PAGE,
        help=f"posts per page (default {CARD_PAGE}, the document's own; when the API refuses"
        " that page as too costly, the largest page it accepts, and the results say so)",
    )
    load.add_argument("--warmup", type=float, help="seconds before the first round's windows")
    load.add_argument("--duration", type=float, help="measured seconds per scenario")
    load.add_argument("--rounds", type=int, help="rounds the measured time is split over")
    load.add_argument("--quiet-wait", type=float, help="wait up to this for an idle machine")
    load.add_argument(
        "--only", nargs="+", choices=[s.key for s in SCENARIOS], help="run these scenarios only"
    )
    out = parser.add_argument_group("output")
    out.add_argument("--docs", type=Path, default=DOCS)
    out.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "users": 2_000 if quick else 10_000,
        "posts": 20_000 if quick else 100_000,
        "follows_per_user": 50 if quick else 100,
        "warmup": 3.0 if quick else 10.0,
        "duration": 6.0 if quick else 30.0,
        "rounds": 2 if quick else 3,
        "quiet_wait": 1.0 if quick else 30.0,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.users, args.posts, args.pool_size, args.concurrency, args.rounds) < 1:
        parser.error("sizes, --concurrency and --rounds must be positive")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    if args.pool_dir is None:
        args.pool_dir = default_pool_dir(args.pool_size, args.seed)
    return args


# -- servers ---------------------------------------------------------------------------------


def graphql_request(port: int, first: int) -> bytes:
    """The ``HomeFeed`` request of the reference client, ``{token}`` for the viewer's token."""
    body = orjson.dumps(
        {
            "query": client_document("home_feed.graphql"),
            "operationName": "HomeFeed",
            "variables": {"first": first},
        }
    )
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Authorization: Bearer {{token}}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def floor_request(port: int, first: int) -> bytes:
    return (
        f"GET /feed?first={first}&images=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Authorization: Bearer {token}\r\n\r\n"
    ).encode()


def accepted_page(api: Server, token: str, first: int) -> int:
    """``first``, or the largest smaller page the API accepts when it refuses ``first`` as too
    costly (its cost limit counts every list at its bound); other refusals raise."""
    document = client_document("home_feed.graphql")
    with httpx.Client(timeout=30.0) as client:
        for size in range(first, 0, -1):
            answer = client.post(
                f"http://127.0.0.1:{api.port}/graphql",
                json={"query": document, "variables": {"first": size}},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            codes = {e.get("extensions", {}).get("code") for e in answer.get("errors") or ()}
            if not codes:
                return size
            if codes != {"QUERY_TOO_COSTLY"}:
                raise RuntimeError(f"the API answered errors: {str(answer['errors'])[:500]}")
    raise RuntimeError("the API refuses the home-feed document at every page size")


def check_pages(api: Server, floor: Server, tokens: list[str], first: int) -> int:
    """The API's and the floor's pages of the most popular viewers list the same images, and
    the API serves every one (asked directly, so the cache starts cold); returns the images
    seen."""
    seen = 0
    document = client_document("home_feed.graphql")
    with httpx.Client(timeout=30.0) as client:
        for token in tokens[:4]:
            auth = {"Authorization": f"Bearer {token}"}
            answer = client.post(
                f"http://127.0.0.1:{api.port}/graphql",
                json={"query": document, "variables": {"first": first}},
                headers=auth,
            ).json()
            if answer.get("errors"):
                raise RuntimeError(f"the API answered errors: {str(answer['errors'])[:500]}")
            paths = image_paths(answer)
            # the image ids (m) and files of both pages, in order
            plain = [path.split("&", 1)[0] for path in paths]
            floor_paths = image_paths(
                client.get(
                    f"http://127.0.0.1:{floor.port}/feed?first={first}&images=1", headers=auth
                ).json()
            )
            if plain != floor_paths:
                raise RuntimeError(
                    f"the API's and the floor's pages differ:\n{plain}\n{floor_paths}"
                )
            for path in paths:
                status = client.get(f"http://127.0.0.1:{api.port}{path}").status_code
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
            seen += len(paths)
    return seen


# -- load ------------------------------------------------------------------------------------


def run_rounds(
    args: argparse.Namespace,
    specs: dict[str, PageViewSpec],
    say: Callable[[str], None],
) -> dict[str, PageViewResult]:
    results = {key: PageViewResult(name=key) for key in specs}
    window = args.duration / args.rounds
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(int).result()
        for number in range(1, args.rounds + 1):
            warmup = args.warmup if number == 1 else min(1.0, args.warmup)
            say(f"  round {number}/{args.rounds}: {warmup:g} s warm-up + {window:g} s each")
            for key, spec in specs.items():
                busy = wait_for_quiet(args.quiet_wait)
                if busy >= 0.1:
                    say(f"    (other processes use {busy:.2f} CPUs)")
                part = pool.submit(
                    run_pageviews,
                    PageViewSpec(
                        **{
                            **{f: getattr(spec, f) for f in spec.__dataclass_fields__},
                            "warmup_s": warmup,
                            "duration_s": window,
                            "seed": args.seed * 1000 + number,
                        }
                    ),
                ).result()
                say(
                    f"    {key}: {part.page_views / part.elapsed_s:,.1f} page views/s, "
                    f"p99 {part.p(0.99):.1f} ms, hit ratio {part.hit_ratio:.3f}, "
                    f"errors {part.errors}"
                )
                for sample in part.error_samples:
                    say(f"      error: {sample}")
                results[key].merge(part)
    return results


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    command = ".venv/bin/python -m bench.pageview" + (
        " " + shlex.join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""
    )

    def say(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    pool = load_pool(args.pool_dir, args.pool_size, args.seed, say=say)
    dsn = dsn_for(args.admin_dsn, args.database)
    size = GraphSize(
        users=args.users,
        posts=args.posts,
        follows_per_user=min(args.follows_per_user, args.users - 1),
        seed=args.seed,
    )
    say(f"seeding {args.database}: {size.users:,} users, {size.posts:,} posts")
    graph = asyncio.run(seed(args.admin_dsn, dsn, args.database, size))
    try:
        media = asyncio.run(seed_media(dsn, pool, args.seed))
        tokens = asyncio.run(make_viewers(dsn, args.seed))
        pg_version = asyncio.run(postgres_version(dsn))
        say(
            f"  {media.avatars:,} avatars, {media.post_images:,} post images, "
            f"{media.artwork_images:,} artwork images; {len(tokens):,} viewers"
        )
        out = serve_and_load(args, dsn, tokens, say)
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.admin_dsn, args.database))
    section = report(args, command, graph, media, len(tokens), pg_version, out)
    if args.json:
        print(json.dumps(out))
    else:
        say("")
        say(section)
    if not (args.quick or args.no_docs):
        block = f"{SECTION_START}\n{section}\n{SECTION_END}"
        replace_marked(args.docs, SECTION_START, SECTION_END, block)
        say(f"\nwrote {args.docs}")
    errors = sum(s["errors"] for s in out["scenarios"].values())
    if errors:
        raise SystemExit(f"{errors} page views failed")


def serve_and_load(
    args: argparse.Namespace, dsn: str, tokens: list[str], say: Callable[[str], None]
) -> dict[str, Any]:
    python = sys.executable
    wanted = set(args.only or [s.key for s in SCENARIOS])
    with tempfile.TemporaryDirectory(prefix="gesso-pageview-") as tmp, ExitStack() as stack:
        logs = Path(tmp)
        env = server_env(dsn, logs / "data")
        env["GESSO_MEDIA_DIR"] = str(args.pool_dir)
        # the load generator (and the cache, for its misses) is one address: limits out of reach
        env["GESSO_RATE_LIMITS"] += ",media=999999999/1s"
        ports = {name: free_port() for name in ("api", "varnish", "purge", "floor", "nginx")}
        api = stack.enter_context(
            running(
                "api",
                [python, "-m", "server", "serve", "--port", str(ports["api"])],
                ports["api"],
                env,
                "/readyz",
                logs,
            )
        )
        varnish = stack.enter_context(
            running(
                "varnish",
                varnish_command(
                    logs / "varnish",
                    port=ports["varnish"],
                    purge_port=ports["purge"],
                    backend_port=ports["api"],
                    storage="malloc,512m",
                ),
                ports["varnish"],
                dict(os.environ),
                "/readyz",
                logs,
            )
        )
        floor = stack.enter_context(
            running(
                "floor",
                [python, "-m", "uvicorn", "bench.floor_app:app", "--host", "127.0.0.1",
                 "--port", str(ports["floor"]), "--no-access-log", "--log-level", "warning"],
                ports["floor"],
                env,
                "/health",
                logs,
            )
        )  # fmt: skip
        nginx = stack.enter_context(
            running(
                "nginx",
                nginx_command(
                    logs / "nginx", port=ports["nginx"], objects=args.pool_dir / "objects"
                ),
                ports["nginx"],
                dict(os.environ),
                "/health",
                logs,
            )
        )
        asked = args.first
        args.first = accepted_page(api, tokens[0], asked)
        if args.first != asked:
            say(
                f"the API refuses the document at first: {asked} (QUERY_TOO_COSTLY): measuring"
                f" first: {args.first}, the largest page it accepts"
            )
        refused_first = asked if args.first != asked else None
        images = check_pages(api, floor, tokens, args.first)
        say(f"the API's and the floor's pages list the same images ({images} checked)")
        common = {
            "tokens": tuple(tokens),
            "zipf": args.zipf,
            "concurrency": args.concurrency,
            "image_connections": args.image_connections,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "database": args.database,
        }
        api_document = graphql_request(api.port, args.first)
        specs = {
            "cache": PageViewSpec(
                name="cache", document_port=api.port, document=api_document,
                image_port=varnish.port, pids={"api": api.pid, "varnish": varnish.pid}, **common,
            ),
            "floor": PageViewSpec(
                name="floor", document_port=floor.port,
                document=floor_request(floor.port, args.first), image_port=nginx.port,
                pids={"floor": floor.pid, "nginx": nginx.pid}, **common,
            ),
            "nocache": PageViewSpec(
                name="nocache", document_port=api.port, document=api_document,
                image_port=api.port, pids={"api": api.pid}, **common,
            ),
            "document": PageViewSpec(
                name="document", document_port=api.port, document=api_document,
                image_port=None, pids={"api": api.pid}, **common,
            ),
        }  # fmt: skip
        specs = {key: spec for key, spec in specs.items() if key in wanted}
        results = run_rounds(args, specs, say)
    out = summary(results)
    out["first"] = args.first
    out["refused_first"] = refused_first
    return out


if __name__ == "__main__":
    main()
