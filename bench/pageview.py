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
import hashlib
import json
import multiprocessing
import random
import secrets
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench.caches import nginx_command, varnish_command
from bench.documents import client_document
from bench.feed import (
    Server,
    dsn_for,
    free_port,
    git_revision,
    machine_info,
    postgres_version,
    server_env,
    wait_for_quiet,
    wait_until_up,
)
from bench.image_pool import PoolImage, default_pool_dir, load_pool
from bench.pageview_load import PageViewResult, PageViewSpec, image_paths, run_pageviews
from bench.record import replace_marked
from bench.seed_graph import GraphSize, SeedSummary, created_at, seed, snowflake_ids

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION_START = "<!-- bench.pageview:start -->"
SECTION_END = "<!-- bench.pageview:end -->"
# /media before the cache, per image request: one process, 2 cores, 16 clients, a 78 KB medium
# WebP (docs/benchmarks.md, "Page view")
BEFORE_MS_PER_IMAGE = 1.67
IMAGES_TARGET_SHARE = 0.05
P99_TARGET_MS = 100.0
HIT_RATIO_TARGET = 0.95
MEDIA_WORKER = 1002  # the Snowflake worker bits of the seeded media rows
CARD_PAGE = 20  # the page size of client/operations/home_feed.graphql ($first: Int = 20)


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    label: str


SCENARIOS = (
    Scenario("cache", "cache: API + Varnish"),
    Scenario("floor", "floor: floor feed + nginx"),
    Scenario("nocache", "no cache: API serves the images"),
    Scenario("document", "document only: API"),
)


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
        "quiet_wait": 2.0 if quick else 30.0,
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


# -- data ------------------------------------------------------------------------------------

MEDIA_COLUMNS = (
    "id", "owner_id", "artwork_id", "post_id", "kind", "position", "watermark_id", "width",
    "height", "alt_text", "dominant_color", "variants", "report", "created_at",
)  # fmt: skip


@dataclass(slots=True)
class MediaSummary:
    avatars: int = 0
    post_images: int = 0
    artwork_images: int = 0
    pictures: int = 0


def media_rows(
    pool: Sequence[PoolImage],
    users: Sequence[int],
    posts: Sequence[tuple[int, int]],
    artworks: Sequence[tuple[int, int]],
    rng: random.Random,
) -> list[tuple[Any, ...]]:
    """The ``media_assets`` rows: an avatar per user; one image on 30% of the posts and two on
    another 10%; one image on 70% of the artworks and two on the rest. Each row is a picture of
    the pool chosen at random, and its id is made at its parent's time."""
    # (kind, owner, artwork, post, position, parent id)
    wanted: list[tuple[str, int, int | None, int | None, int, int]] = [
        ("avatar", user, None, None, 0, user) for user in users
    ]
    for post, author in posts:
        roll = rng.random()
        for position in range(2 if roll < 0.1 else 1 if roll < 0.4 else 0):
            wanted.append(("post", author, None, post, position, post))
    for artwork, owner in artworks:
        for position in range(2 if rng.random() < 0.3 else 1):
            wanted.append(("artwork", owner, artwork, None, position, artwork))
    ids = snowflake_ids([parent >> 22 for *_, parent in wanted], worker=MEDIA_WORKER)
    rows = []
    for number, ((kind, owner_id, artwork_id, post_id, position, _), pk) in enumerate(
        zip(wanted, ids, strict=True), start=1
    ):
        picture = pool[rng.randrange(len(pool))]
        rows.append(
            (
                pk, owner_id, artwork_id, post_id, kind, position, number,
                picture.width, picture.height,
                f"picture {number}" if kind != "avatar" else "", picture.dominant_color,
                json.dumps(picture.variants), json.dumps(picture.report),
                created_at(pk),
            )
        )  # fmt: skip
    return rows


async def seed_media(dsn: str, pool: Sequence[PoolImage], seed_number: int) -> MediaSummary:
    conn = await asyncpg.connect(dsn)
    try:
        users = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]
        posts = [
            (r["id"], r["author_id"])
            for r in await conn.fetch("SELECT id, author_id FROM posts ORDER BY id")
        ]
        artworks = [
            (r["id"], r["owner_id"])
            for r in await conn.fetch("SELECT id, owner_id FROM artworks ORDER BY id")
        ]
        rows = media_rows(pool, users, posts, artworks, random.Random(seed_number))
        await conn.copy_records_to_table("media_assets", records=rows, columns=MEDIA_COLUMNS)
        await conn.execute("ANALYZE media_assets")
    finally:
        await conn.close()
    kinds = [row[4] for row in rows]
    return MediaSummary(
        avatars=kinds.count("avatar"),
        post_images=kinds.count("post"),
        artwork_images=kinds.count("artwork"),
        pictures=len(pool),
    )


async def make_viewers(dsn: str, seed_number: int) -> list[str]:
    """A token for every member who follows someone, in a random order: the first is the most
    popular viewer."""
    conn = await asyncpg.connect(dsn)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM users WHERE following_count > 0")]
        random.Random(seed_number).shuffle(ids)
        tokens = [secrets.token_urlsafe(24) for _ in ids]
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "auth_tokens",
            records=[
                (hashlib.sha256(t.encode()).hexdigest(), pk, now, now + timedelta(days=1))
                for t, pk in zip(tokens, ids, strict=True)
            ],
            columns=["token_hash", "user_id", "created_at", "expires_at"],
        )
    finally:
        await conn.close()
    return tokens


async def drop_database(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# -- servers ---------------------------------------------------------------------------------


@contextmanager
def started(
    name: str, command: list[str], port: int, env: dict[str, str] | None, path: str, logs: Path
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


# -- results ---------------------------------------------------------------------------------


def summary(results: dict[str, PageViewResult]) -> dict[str, Any]:
    """The figures of a run (what ``--json`` prints)."""
    out: dict[str, Any] = {}
    cache, floor = results.get("cache"), results.get("floor")
    nocache, document = results.get("nocache"), results.get("document")
    scenarios: dict[str, Any] = {}
    for key, r in results.items():
        views = r.page_views or 1
        scenarios[key] = {
            "page_views": r.page_views,
            "page_views_per_s": round(r.page_views / r.elapsed_s, 1) if r.elapsed_s else 0.0,
            "images_per_page_view": round(r.images / views, 2),
            "kb_per_page_view": round((r.image_bytes + r.document_bytes) / views / 1024, 1),
            "p50_ms": round(r.p(0.50), 1),
            "p99_ms": round(r.p(0.99), 1),
            "document_p99_ms": round(r.p(0.99, document=True), 1),
            "hit_ratio": round(r.hit_ratio, 4),
            "errors": r.errors,
            "cpu_ms_per_page_view": {
                name: round(r.per_page_view_ms(name), 3) for name in sorted(r.cpu_s)
            },
            "other_cpus": round(r.other_cpu_s / r.elapsed_s, 2) if r.elapsed_s else 0.0,
        }
    out["scenarios"] = scenarios
    if cache is not None:
        out["page_views"] = cache.page_views
        out["hit_ratio"] = round(cache.hit_ratio, 4)
        out["p99_ms"] = round(cache.p(0.99), 1)
        out["images_per_page_view"] = scenarios["cache"]["images_per_page_view"]
        out["api_cpu_ms_per_page_view"] = round(cache.per_page_view_ms("api"), 3)
        out["varnish_cpu_ms_per_page_view"] = round(cache.per_page_view_ms("varnish"), 3)
        out["url_window_changes"] = cache.url_window_changes
    if floor is not None:
        out["floor_cpu_ms_per_page_view"] = round(
            floor.per_page_view_ms("floor") + floor.per_page_view_ms("nginx"), 3
        )
    if nocache is not None and document is not None and nocache.images:
        per_image = (nocache.per_page_view_ms("api") - document.per_page_view_ms("api")) / (
            nocache.images / nocache.page_views
        )
        out["api_cpu_ms_per_image_request"] = round(per_image, 3)
        if cache is not None and cache.page_views:
            misses = cache.misses / cache.page_views
            out["misses_per_page_view"] = round(misses, 3)
            out["api_image_cpu_ms_per_page_view"] = round(misses * per_image, 3)
    if cache is not None and "api_image_cpu_ms_per_page_view" in out:
        before = BEFORE_MS_PER_IMAGE * out["images_per_page_view"]
        out["api_image_cpu_ms_per_page_view_before"] = round(before, 2)
        out["api_image_cpu_share_of_before"] = round(
            out["api_image_cpu_ms_per_page_view"] / before, 4
        )
    out["targets"] = {name: ok for name, ok, _ in targets(out)}
    return out


def targets(out: dict[str, Any]) -> list[tuple[str, bool, str]]:
    found: list[tuple[str, bool, str]] = []
    if "hit_ratio" in out:
        found.append(
            (
                f"hit ratio at least {HIT_RATIO_TARGET} after warm-up",
                out["hit_ratio"] >= HIT_RATIO_TARGET,
                f"{out['hit_ratio']:.3f}",
            )
        )
    if "api_image_cpu_share_of_before" in out:
        found.append(
            (
                f"API CPU on images per page view at most {IMAGES_TARGET_SHARE:.0%} of before",
                out["api_image_cpu_share_of_before"] <= IMAGES_TARGET_SHARE,
                f"{out['api_image_cpu_ms_per_page_view']:.2f} ms of "
                f"{out['api_image_cpu_ms_per_page_view_before']:.1f} ms, "
                f"{out['api_image_cpu_share_of_before']:.1%}",
            )
        )
    if "p99_ms" in out:
        found.append(
            (
                f"page view p99 under {P99_TARGET_MS:.0f} ms",
                out["p99_ms"] < P99_TARGET_MS,
                f"p99 {out['p99_ms']:.1f} ms",
            )
        )
    return found


def report(
    args: argparse.Namespace,
    command: str,
    graph: SeedSummary,
    media: MediaSummary,
    viewers: int,
    pg_version: str,
    out: dict[str, Any],
) -> str:
    info = machine_info()
    lines = [
        f"### Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command}`",
        f"- Code: {git_revision()}",
        f"- Machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['ram']} RAM, "
        f"Linux {info['kernel']}, Python {info['python']}; PostgreSQL {pg_version}, "
        f"{varnish_version()}, {nginx_version()}, all on this machine",
        f"- Data: {graph.users:,} users, {graph.posts:,} posts, {graph.follows:,} follows, "
        f"{graph.artworks:,} artworks; {media.avatars:,} avatars, {media.post_images:,} post "
        f"images and {media.artwork_images:,} artwork images, each one of {media.pictures} "
        "pictures put through the protection pipeline; "
        f"{viewers:,} viewers (everyone who follows someone), chosen with Zipf popularity "
        f"(exponent {args.zipf:g})",
        f"- Load: {args.concurrency} virtual browsers in a closed loop, each with one connection "
        f"for the document and up to {args.image_connections} for the images; "
        f"{args.duration:g} s measured per scenario in {args.rounds} rounds that take the "
        f"scenarios in turn ({args.warmup:g} s warm-up in the first round, 1 s after); "
        f"`first: {args.first}`; one API process, one floor process, one nginx worker",
    ]
    if out.get("refused_first"):
        lines.append(
            f"- The API refused the document at `first: {out['refused_first']}` (the page the"
            " reference client asks for) with QUERY_TOO_COSTLY: its cost limit counts every"
            f" list at its bound; `first: {args.first}` is the largest page it accepts."
        )
    lines += [
        "",
        "| scenario | page views | page views/s | images/page view | KB/page view | p50 ms "
        "| p99 ms | document p99 ms | hit ratio | errors | API | Varnish | floor | nginx "
        "| PostgreSQL | load generator | other processes, CPUs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        s = out["scenarios"].get(scenario.key)
        if s is None:
            continue
        cpu = s["cpu_ms_per_page_view"]

        def ms(name: str, cpu: dict[str, float] = cpu) -> str:
            return f"{cpu[name]:.2f}" if name in cpu else "-"

        hit = f"{s['hit_ratio']:.3f}" if scenario.key == "cache" else "-"
        lines.append(
            f"| {scenario.label} | {s['page_views']:,} | {s['page_views_per_s']:,.1f} "
            f"| {s['images_per_page_view']:.1f} | {s['kb_per_page_view']:,.0f} "
            f"| {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['document_p99_ms']:.1f} | {hit} "
            f"| {s['errors']} | {ms('api')} | {ms('varnish')} | {ms('floor')} | {ms('nginx')} "
            f"| {ms('postgres')} | {ms('loadgen')} | {s['other_cpus']:.2f} |"
        )
    lines += [
        "",
        "CPU columns: milliseconds of CPU per page view of each process (with its children),"
        " from `/proc` over the measured windows; the last column is what every other process"
        " on the machine used meanwhile, in CPUs.",
        "",
    ]
    if "api_cpu_ms_per_image_request" in out:
        lines.append(
            f"- The API's CPU per image request it answers (no cache minus document only, per "
            f"image): {out['api_cpu_ms_per_image_request']:.2f} ms; in the cache scenario it "
            f"answered {out['misses_per_page_view']:.2f} misses per page view, "
            f"{out['api_image_cpu_ms_per_page_view']:.2f} ms of CPU per page view on images."
        )
    lines += ["", "| target | result | |", "|---|---|---|"]
    for name, passed, evidence in targets(out):
        lines.append(f"| {name} | {'pass' if passed else '**fail**'} | {evidence} |")
    return "\n".join(lines)


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "unknown"
    return (done.stdout + done.stderr).strip().splitlines()[0]


def varnish_version() -> str:
    text = _version(["varnishd", "-V"])
    return text.split("(", 1)[1].split(" revision")[0] if "(" in text else text


def nginx_version() -> str:
    return _version(["nginx", "-v"]).replace("nginx version: ", "")


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
            started(
                "api",
                [python, "-m", "server", "serve", "--port", str(ports["api"])],
                ports["api"],
                env,
                "/readyz",
                logs,
            )
        )
        varnish = stack.enter_context(
            started(
                "varnish",
                varnish_command(
                    logs / "varnish",
                    port=ports["varnish"],
                    purge_port=ports["purge"],
                    backend_port=ports["api"],
                    storage="malloc,512m",
                ),
                ports["varnish"],
                None,
                "/readyz",
                logs,
            )
        )
        floor = stack.enter_context(
            started(
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
            started(
                "nginx",
                nginx_command(
                    logs / "nginx", port=ports["nginx"], objects=args.pool_dir / "objects"
                ),
                ports["nginx"],
                None,
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
