"""Live fan-out: N websocket subscribers on one server process, one post, delivery to all.

    .venv/bin/python -m bench.fanout --subscribers 1000 5000 10000

For each N: a fresh SQLite database with one artist and N followers (rows written directly, with
bearer tokens), one ``gesso serve`` process with ``REDIS_URL`` (the production path: the post goes
through Redis pub/sub), N graphql-transport-ws connections each subscribed to ``homeFeed``, then
one ``createPost`` by the artist. Reported: delivery latency from sending the mutation to each
subscriber's receipt (p50, p99, max), how many received it within 1 s, and the server's resident
memory per subscriber (RSS with N subscribed minus RSS with none, over N), and the server's CPU
time for the whole delivery. The subscribers are ``bench.wsclient.LeanSubscriber`` sockets in this
one process: a receipt is the moment the bytes of the subscriber's ``next`` message arrive, and
every message is checked (it must carry the post) after the clock has stopped. Everything runs on
loopback and every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import resource
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.record import replace_marked
from bench.wsclient import LeanSubscriber, subscribe
from storage.ids import IdGenerator

REPO = Path(__file__).resolve().parents[1]
SUBSCRIPTION = (
    "subscription { homeFeed { kind cursor post { id text createdAt author { handle } } } }"
)
POST_TEXT = "fan-out"
CREATE_POST = "mutation($t: String!) { createPost(input: {text: $t}) { post { id } } }"
CONNECT_CONCURRENCY = 200


@dataclass
class Result:
    subscribers: int
    connected: int
    delivered: int
    within_1s: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    rss_base_mib: float
    rss_subscribed_mib: float
    # CPU the server process spent from the post to the last delivery (the mutation included);
    # less sensitive than latency to other load on the machine.
    delivery_cpu_ms: float

    @property
    def kib_per_subscriber(self) -> float:
        return (self.rss_subscribed_mib - self.rss_base_mib) * 1024 / max(self.connected, 1)


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cpu_ms(pid: int) -> float:
    """User plus system CPU time of a process so far (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(path: Path, subscribers: int) -> tuple[str, list[str]]:
    """One artist followed by ``subscribers`` users; returns the artist's token and theirs."""
    ids = IdGenerator(worker=1)
    now = datetime.now(UTC)
    expires = (now + timedelta(days=1)).isoformat()
    db = sqlite3.connect(path)
    users, tokens, follows = [], [], []
    plain: list[str] = []
    for n in range(subscribers + 1):
        user_id = ids.next_id()
        handle = "artist" if n == 0 else f"fan{n}"
        users.append(
            (user_id, handle, handle, f"{handle}@example.com", f"{handle}@example.com", "x",
             handle, "", "[]", 0, "disallowed", subscribers if n == 0 else 0,
             0 if n == 0 else 1, 0, 0, now.isoformat())
        )  # fmt: skip
        token = secrets.token_urlsafe(32)
        plain.append(token)
        tokens.append(
            (user_id, hashlib.sha256(token.encode()).hexdigest(), now.isoformat(), expires)
        )
        if n > 0:
            follows.append((ids.next_id(), user_id, users[0][0], now.isoformat()))
    db.executemany(
        "INSERT INTO users (id, handle, handle_key, email, email_key, password_hash, display_name,"
        " bio, links, open_for_commissions, ai_training_policy, follower_count, following_count,"
        " post_count, artwork_count, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        users,
    )
    db.executemany(
        "INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at) VALUES (?,?,?,?)",
        tokens,
    )
    db.executemany(
        "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES (?,?,?,?)", follows
    )
    db.commit()
    db.close()
    return plain[0], plain[1:]


async def _subscribe(port: int, token: str) -> LeanSubscriber:
    return await subscribe("127.0.0.1", port, token, SUBSCRIPTION)


async def _receive(client: LeanSubscriber, deadline: float) -> float | None:
    """When (monotonic) the bytes of the post's 'next' message arrived, or None by the deadline."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            arrived, message = await client.next_message(remaining)
        except (TimeoutError, ConnectionError):
            return None
        if message.get("type") == "next":
            post = message["payload"]["data"]["homeFeed"]["post"]
            if post is None or post["text"] != POST_TEXT:
                raise RuntimeError(f"unexpected event: {message}")
            return arrived


async def _run_one(
    subscribers: int, redis_url: str, workdir: Path, py_spy: Path | None = None
) -> Result:
    db_path = workdir / f"fanout-{subscribers}.sqlite3"
    db_url = f"sqlite://{db_path}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "DATABASE_URL"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "GESSO_ENV": "production",
        "GESSO_SECRET_KEY": secrets.token_urlsafe(48),
        "GESSO_PUBLIC_URL": "https://gesso.example",  # required in production; not read here
        "GESSO_DATA_DIR": str(workdir),
        # Every subscriber comes from one address: limits they cannot reach.
        "GESSO_RATE_LIMITS": "ip=999999999/1s,account=999999999/1s,login_ip=999999999/1s,"
        "websocket=999999999/1s",
    }
    migrate = [sys.executable, "-m", "server", "migrate"]
    subprocess.run(migrate, env=env, cwd=workdir, check=True, capture_output=True)
    artist_token, tokens = _seed(db_path, subscribers)

    port = _free_port()
    log = (workdir / f"server-{subscribers}.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(300):
                if server.poll() is not None:
                    raise RuntimeError(f"the server exited; see {log.name}")
                try:
                    await http.get("/graphql", headers={"Accept": "text/html"})
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            warm = [await _subscribe(port, t) for t in tokens[:10]]
            for client in warm:
                client.close()
            await asyncio.sleep(1)
            rss_base = _rss_mib(server.pid)

            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

            async def opened(token: str) -> LeanSubscriber | None:
                async with gate:
                    try:
                        return await _subscribe(port, token)
                    except (OSError, RuntimeError, TimeoutError) as error:
                        print(f"  connect failed: {error!r}", file=sys.stderr)
                        return None

            started = time.monotonic()
            sockets = [ws for ws in await asyncio.gather(*map(opened, tokens)) if ws]
            print(f"  {len(sockets)} subscribed in {time.monotonic() - started:.1f} s")
            await asyncio.sleep(2)  # every subscription reaches its listener
            rss_subscribed = _rss_mib(server.pid)

            profiler = None
            if py_spy is not None:
                profiler = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(server.pid), "--duration", "4",
                     "--rate", "1000", "--format", "raw", "--output", str(py_spy)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                await asyncio.sleep(1)
            deadline = time.monotonic() + 30
            receivers = [asyncio.create_task(_receive(ws, deadline)) for ws in sockets]
            cpu_before = _cpu_ms(server.pid)
            sent = time.monotonic()
            response = await http.post(
                "/graphql",
                json={"query": CREATE_POST, "variables": {"t": POST_TEXT}},
                headers={"Authorization": f"Bearer {artist_token}"},
            )
            response.raise_for_status()
            arrivals = [t for t in await asyncio.gather(*receivers) if t is not None]
            delivery_cpu_ms = _cpu_ms(server.pid) - cpu_before
            if profiler is not None:
                profiler.wait(timeout=30)
            for client in sockets:
                client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    latencies = sorted((t - sent) * 1000 for t in arrivals)
    return Result(
        subscribers=subscribers,
        connected=len(sockets),
        delivered=len(latencies),
        within_1s=sum(1 for ms in latencies if ms <= 1000),
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        max_ms=latencies[-1] if latencies else float("nan"),
        rss_base_mib=rss_base,
        rss_subscribed_mib=rss_subscribed,
        delivery_cpu_ms=delivery_cpu_ms,
    )


def _table(results: list[Result]) -> str:
    lines = [
        "| subscribers | connected | delivered | within 1 s | p50 ms | p99 ms | max ms |"
        " server CPU for the delivery (ms) | server RSS base → subscribed (MiB) |"
        " KiB per subscriber |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.subscribers:,} | {r.connected:,} | {r.delivered:,} | {r.within_1s:,} |"
            f" {r.p50_ms:.0f} | {r.p99_ms:.0f} | {r.max_ms:.0f} | {r.delivery_cpu_ms:.0f} |"
            f" {r.rss_base_mib:.0f} → {r.rss_subscribed_mib:.0f} | {r.kib_per_subscriber:.1f} |"
        )
    return "\n".join(lines)


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def _record(results: list[Result], command: str) -> None:
    path = REPO / "docs" / "benchmarks.md"
    start, end = "<!-- fanout:start -->", "<!-- fanout:end -->"
    section = "\n".join(
        [
            start,
            "## Live fan-out (`bench/fanout.py`)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}; one server process (uvicorn,"
            " uvloop), Redis 7 on loopback, the load generator on the same 2 cores.",
            "",
            f"Command: `{command}`",
            "",
            _table(results),
            "",
            "Targets: 10k subscribers on one process at no more than 40 KiB each, every one"
            " delivered within 1 s; at 1k subscribers p99 within 150 ms.",
            end,
        ]
    )
    replace_marked(path, start, end, section)


async def _main(args: argparse.Namespace) -> None:
    _raise_fd_limit()
    results = []
    with tempfile.TemporaryDirectory(prefix="gesso-fanout-") as tmp:
        for n in args.subscribers:
            print(f"{n} subscribers ...")
            results.append(await _run_one(n, args.redis_url, Path(tmp), args.py_spy))
            print(_table(results[-1:]))
    print(_table(results))
    if not args.no_record:
        _record(results, "python -m bench.fanout " + " ".join(sys.argv[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-record", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        help="profile the server with py-spy while it delivers (collapsed stacks to this file)",
    )
    args = parser.parse_args()
    if max(args.subscribers) > 15000:
        parser.error("at most 15,000 subscribers (two file descriptors each on this machine)")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
