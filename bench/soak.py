"""Soak: a bounded mixed load on one production-mode server, on loopback, for ten minutes.

    .venv/bin/python -m bench.soak                   # 10 minutes, then update docs/benchmarks.md
    .venv/bin/python -m bench.soak --duration 60     # a shorter run

A fresh ``gesso serve`` (``GESSO_ENV=production``, SQLite, the in-process broker unless
``--redis-url`` is given), 40 artists who each follow 10 others, then until the time is up:
``--clients`` HTTP clients in a closed loop, each picking an operation by weight (home feed reads,
discover feed reads, posts, likes, follows and unfollows, and now and then a small image upload),
and ``--subscribers`` websockets that keep a ``homeFeed`` subscription open and count what they
receive. Reported: per operation the count, errors and p50/p99 latency; live events delivered;
the server's resident memory after warm-up and at the end (and its peak in between).

An error is anything a client should never see under honest load: a transport failure, a status
other than 200, or a top-level GraphQL error. Refusals that are the rules working (liking a post
twice: ``DUPLICATE`` in the payload's ``errors``) are counted apart. Every loop ends at the
deadline; the server is stopped at the end whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.fanout import _free_port, _machine, _rss_mib
from bench.record import replace_marked
from resolvers.ratelimit import DEFAULT_LIMITS

REPO = Path(__file__).resolve().parents[1]
ARTISTS = 40
FOLLOWS_EACH = 10
PASSWORD = "soak-password-1"  # noqa: S105 (throwaway accounts on a throwaway server)

FEED = (
    "query Feed($after: String) { homeFeed(first: 20, after: $after) { edges { cursor node {"
    " id text likeCount viewerHasLiked author { handle isFollowedByViewer } artworks { title } } }"
    " pageInfo { hasNextPage endCursor } } }"
)
DISCOVER = "{ discoverFeed(first: 20) { nodes { id text author { handle } } } }"
POST = "mutation($t: String!) { createPost(input: {text: $t}) { post { id } errors { code } } }"
LIKE = "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }"
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
UNFOLLOW = "mutation($u: ID!) { unfollow(userId: $u) { errors { code } } }"
UPLOAD = "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }"
SUBSCRIPTION = "subscription { homeFeed { kind cursor post { id text author { handle } } } }"
WEIGHTS = {
    "feed": 50,
    "discover": 10,
    "post": 15,
    "like": 12,
    "follow": 6,
    "unfollow": 6,
    "upload": 1,
}


@dataclass
class Artist:
    handle: str
    user_id: str
    token: str


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refusals: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    events: int = 0
    subscriber_drops: int = 0

    def error(self, name: str, detail: str) -> None:
        self.errors[name] += 1
        if len(self.samples[name]) < 3:
            self.samples[name].append(detail[:300])


def _image() -> bytes:
    from tests.images import photo

    return photo(320, 256, seed=11)


async def _gql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"{response.status_code} {response.text[:300]}")
    data: dict[str, Any] = body["data"]
    return data


async def _seed(http: httpx.AsyncClient, rng: random.Random) -> list[Artist]:
    artists = []
    for n in range(ARTISTS):
        handle = f"soak_{n:03d}"
        signed = await _gql(
            http,
            "mutation($i: SignUpInput!) { signUp(input: $i) { user { id } errors { code } } }",
            {"i": {"handle": handle, "email": f"{handle}@example.com", "password": PASSWORD}},
            None,
        )
        logged = await _gql(
            http,
            "mutation($i: LogInInput!) { logIn(input: $i) { token } }",
            {"i": {"login": handle, "password": PASSWORD}},
            None,
        )
        artists.append(Artist(handle, signed["signUp"]["user"]["id"], logged["logIn"]["token"]))
    for artist in artists:
        for other in rng.sample([a for a in artists if a is not artist], FOLLOWS_EACH):
            await _gql(http, FOLLOW, {"u": other.user_id}, artist.token)
        await _gql(http, POST, {"t": f"hello from {artist.handle}"}, artist.token)
    return artists


async def _one(
    name: str, http: httpx.AsyncClient, artist: Artist, artists: list[Artist],
    posts: list[str], rng: random.Random, image: bytes,
) -> str | None:  # fmt: skip
    """Run one operation; returns a payload error code (a refusal), raises on an error."""
    auth = {"Authorization": f"Bearer {artist.token}"}
    if name == "upload":
        operations = {"query": UPLOAD, "variables": {"i": {"text": "new work", "images": [
            {"file": None, "altText": "a gradient"}]}}}  # fmt: skip
        response = await http.post(
            "/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.i.images.0.file"]}),
            },
            files={"0": ("work.jpg", image, "image/jpeg")},
            headers={**auth, "GraphQL-Preflight": "1"},
            timeout=120,
        )
    else:
        query, variables = {
            "feed": (FEED, {"after": None}),
            "discover": (DISCOVER, {}),
            "post": (POST, {"t": f"soak {secrets.token_hex(4)}"}),
            "like": (LIKE, {"p": rng.choice(posts) if posts else ""}),
            "follow": (FOLLOW, {"u": rng.choice(artists).user_id}),
            "unfollow": (UNFOLLOW, {"u": rng.choice(artists).user_id}),
        }[name]
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=auth
        )
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(json.dumps(body["errors"])[:300])
    data = body["data"]
    if name in ("post", "upload"):
        payload = data["createPost"]
        if payload["post"] is not None:
            posts.append(payload["post"]["id"])
            del posts[:-500]  # like recent posts; bounded
    payload_errors = next(iter(data.values())).get("errors") if isinstance(data, dict) else None
    if payload_errors:
        return str(payload_errors[0]["code"])
    return None


async def _client(
    base: str, artists: list[Artist], posts: list[str], stats: Stats, deadline: float, seed: int,
    image: bytes,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            artist = rng.choice(artists)
            started = time.perf_counter()
            try:
                refusal = await _one(name, http, artist, artists, posts, rng, image)
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as error:
                stats.error(name, repr(error))
                continue
            stats.latencies[name].append((time.perf_counter() - started) * 1000)
            if refusal is not None:
                stats.refusals[f"{name}:{refusal}"] += 1


async def _subscriber(ws_url: str, artist: Artist, stats: Stats, deadline: float) -> None:
    ws: ClientConnection | None = None
    try:
        ws = await connect(ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        init = {"authorization": f"Bearer {artist.token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no ack: {ack}")
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        )
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
            except TimeoutError:
                break
            if message.get("type") == "next":
                if "errors" in message["payload"]:
                    stats.error("subscription", json.dumps(message["payload"]))
                else:
                    stats.events += 1
            elif message.get("type") in ("error", "complete"):
                stats.error("subscription", json.dumps(message))
                break
    except Exception as error:  # a dropped subscriber is a finding, not a crash of the run
        stats.subscriber_drops += 1
        stats.error("subscription", repr(error))
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


async def _memory_sampler(pid: int, samples: list[float], deadline: float) -> None:
    while time.monotonic() < deadline:
        samples.append(_rss_mib(pid))
        await asyncio.sleep(min(10.0, max(0.0, deadline - time.monotonic())))


def _percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Report:
    duration: float
    stats: Stats
    rss_start: float
    rss_end: float
    rss_peak: float
    rss_series: list[float]  # every 10 s
    subscribers: int
    clients: int

    def table(self) -> str:
        rows = [
            "| operation | count | errors | refused (rules) | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in WEIGHTS:
            values = self.stats.latencies.get(name, [])
            refused = sum(v for k, v in self.stats.refusals.items() if k.startswith(name + ":"))
            rows.append(
                f"| {name} | {len(values):,} | {self.stats.errors.get(name, 0)} | {refused:,} |"
                f" {_percentile(values, 50):.1f} | {_percentile(values, 99):.1f} |"
            )
        total = sum(len(v) for v in self.stats.latencies.values())
        errors = sum(self.stats.errors.values())
        rows.append(f"| **all** | {total:,} | {errors} | | | |")
        return "\n".join(rows)

    def summary(self) -> str:
        errors = sum(self.stats.errors.values())
        lines = [
            self.table(),
            "",
            f"Live: {self.subscribers} open `homeFeed` subscriptions received"
            f" {self.stats.events:,} events; {self.stats.subscriber_drops} dropped;"
            f" subscription errors {self.stats.errors.get('subscription', 0)}.",
            f"Errors in total: {errors}. Server RSS after warm-up {self.rss_start:.0f} MiB,"
            f" at the end {self.rss_end:.0f} MiB (peak {self.rss_peak:.0f} MiB).",
            "RSS each minute (MiB): " + ", ".join(f"{v:.0f}" for v in self.rss_series[::6]) + ".",
        ]
        refusals = ", ".join(f"{k} {v:,}" for k, v in sorted(self.stats.refusals.items()))
        if refusals:
            lines.append(f"Refusals by the rules (expected): {refusals}.")
        for name, samples in self.stats.samples.items():
            lines.append(f"First errors of {name}: {samples}")
        return "\n".join(lines)


async def run(args: argparse.Namespace) -> Report:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="gesso-soak-") as tmp:
        workdir = Path(tmp)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GESSO_", "DATABASE_URL", "REDIS_URL"))
        }
        env |= {
            "PYTHONPATH": str(REPO),
            "GESSO_ENV": "production",
            "GESSO_SECRET_KEY": secrets.token_urlsafe(48),
            "GESSO_PUBLIC_URL": "https://gesso.example",  # required in production; not read here
            "GESSO_DATA_DIR": str(workdir),
            # One loopback address and 40 accounts stand for a crowd: every limit is set out of
            # reach, so the limiter runs (and its memory is in the figures) but refuses nothing.
            "GESSO_RATE_LIMITS": ",".join(f"{name}=999999999/1s" for name in DEFAULT_LIMITS),
        }
        if args.redis_url:
            env["REDIS_URL"] = args.redis_url
        port = _free_port()
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(port)],
                env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                for _ in range(600):
                    if server.poll() is not None:
                        raise RuntimeError(f"the server exited:\n{log_path.read_text()}")
                    try:
                        await http.get("/healthz")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                artists = await _seed(http, rng)
                feed = await _gql(http, "{ discoverFeed(first: 50) { nodes { id } } }", {}, None)
                posts = [n["id"] for n in feed["discoverFeed"]["nodes"]]
            image = _image()
            stats = Stats()
            warmup_deadline = time.monotonic() + args.warmup
            await asyncio.gather(
                *(_client(base, artists, posts, Stats(), warmup_deadline, n, image)
                  for n in range(args.clients))
            )  # fmt: skip
            rss_start = _rss_mib(server.pid)
            deadline = time.monotonic() + args.duration
            samples: list[float] = []
            started = time.monotonic()
            ws_url = f"ws://127.0.0.1:{port}/graphql"
            await asyncio.gather(
                _memory_sampler(server.pid, samples, deadline),
                *(_subscriber(ws_url, artists[n % len(artists)], stats, deadline)
                  for n in range(args.subscribers)),
                *(_client(base, artists, posts, stats, deadline, args.seed * 1000 + n, image)
                  for n in range(args.clients)),
            )  # fmt: skip
            elapsed = time.monotonic() - started
            rss_end = _rss_mib(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
        server_log = log_path.read_text(errors="replace")
        if "Traceback" in server_log:
            stats.error("server log", server_log[server_log.index("Traceback") :])
    return Report(
        duration=elapsed,
        stats=stats,
        rss_start=rss_start,
        rss_end=rss_end,
        rss_peak=max([*samples, rss_end]),
        rss_series=[*samples, rss_end],
        subscribers=args.subscribers,
        clients=args.clients,
    )


def _record(report: Report, command: str) -> None:
    path = REPO / "docs" / "benchmarks.md"
    start, end = "<!-- soak:start -->", "<!-- soak:end -->"
    section = "\n".join(
        [
            start,
            "## Soak (`bench/soak.py`)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}; one production-mode server"
            f" process (SQLite, in-process broker) and the load on the same cores;"
            f" {report.duration / 60:.1f} minutes, {report.clients} HTTP clients in a closed loop,"
            f" {report.subscribers} open subscriptions.",
            "",
            f"Command: `{command}`",
            "",
            report.summary(),
            "",
            "Targets: zero errors; server memory flat (end within 10% of the start after warm-up).",
            end,
        ]
    )
    replace_marked(path, start, end, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (600)")
    parser.add_argument("--warmup", type=float, default=20, help="seconds before measuring (20)")
    parser.add_argument("--clients", type=int, default=8, help="HTTP clients (8)")
    parser.add_argument("--subscribers", type=int, default=50, help="open subscriptions (50)")
    parser.add_argument("--redis-url", default=None, help="use Redis pub/sub (default: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-record", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    if not 1 <= args.duration <= 3600:
        parser.error("--duration must be within 1..3600 seconds")
    if not 1 <= args.clients <= 64 or not 0 <= args.subscribers <= 2000:
        parser.error("--clients must be within 1..64 and --subscribers within 0..2000")
    report = asyncio.run(run(args))
    print(report.summary())
    if not args.no_record:
        _record(report, "python -m bench.soak " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
