"""The upload request alone: how much of the API process one 12 MP upload costs, and how fast it
answers, with nothing else running in that process.

    .venv/bin/python -m bench.upload_answer [--store local|s3|both] [--requests 40] [--no-docs]

Starts, on loopback, the API (``gesso serve``; PostgreSQL database ``gesso_bench_answer``
created and dropped, Redis DB 14 with a key prefix of its own, jobs on Redis with no worker
taking them, so the process does nothing but answer) on the local object store or on S3 (moto's
server, in this process). Sends the 12 MP JPEGs of ``bench.uploads`` (3-4 MB each) as
``createArtwork`` multipart requests:

1. one at a time, ``--requests`` of them: the API process's CPU time per request (from
   /proc/PID/stat, summed over the run and divided), the part of it spent on the event loop's
   thread (/proc/PID/task/PID/stat: what every other request of the process waits behind; the
   rest ran in threads) and each request's answer time;
2. four at a time, ``--requests`` of them again: the same, concurrently.

Prints and records (docs/benchmarks.md, between this benchmark's markers) one row per store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from bench.feed import Server, free_port, machine_info, wait_until_up
from bench.loadgen import percentile
from bench.record import replace_marked
from bench.uploads import CREATE, REDIS_URL, cpu_seconds, photos, process, sign_up

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
START = "<!-- bench.upload_answer:start -->"
END = "<!-- bench.upload_answer:end -->"
ADMIN_DSN = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "gesso_bench_answer"
WARM_UP = 3


def loop_cpu_seconds(pid: int) -> float:
    """CPU time of the process's main thread, the one running the event loop."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def multipart(n: int, picture: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    operations = {
        "query": CREATE,
        "variables": {
            "i": {"title": f"photo {n}", "images": [{"file": None, "uploadId": f"answer-{n}"}]}
        },
    }
    data = {"operations": json.dumps(operations), "map": '{"0": ["variables.i.images.0.file"]}'}
    return data, {"0": (f"p{n}.jpg", picture, "image/jpeg")}


async def upload(http: httpx.AsyncClient, token: str, n: int, picture: bytes) -> float:
    """Send one upload; its answer time in ms."""
    data, files = multipart(n, picture)
    started = time.perf_counter()
    answer = await http.post(
        "/graphql",
        data=data,
        files=files,
        headers={"Authorization": f"Bearer {token}", "GraphQL-Preflight": "1"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    payload = answer.json()["data"]["createArtwork"]
    if payload["errors"]:
        raise RuntimeError(f"upload {n} refused: {payload['errors']}")
    return elapsed


async def measure(
    http: httpx.AsyncClient, token: str, pid: int, pictures: list[bytes], count: int
) -> dict[str, Any]:
    n = 0

    def picture() -> bytes:
        return pictures[n % len(pictures)]

    for _ in range(WARM_UP):
        await upload(http, token, n, picture())
        n += 1
    out: dict[str, Any] = {}
    for name, width in (("one", 1), ("four", 4)):
        times: list[float] = []
        cpu_before, loop_before = cpu_seconds(pid), loop_cpu_seconds(pid)
        for _ in range(count // width):
            batch = [
                upload(http, token, n + k, pictures[(n + k) % len(pictures)]) for k in range(width)
            ]
            n += width
            times.extend(await asyncio.gather(*batch))
        cpu = cpu_seconds(pid) - cpu_before
        loop = loop_cpu_seconds(pid) - loop_before
        times.sort()
        out[name] = {
            "requests": len(times),
            "cpu_ms": cpu / len(times) * 1000,
            "loop_cpu_ms": loop / len(times) * 1000,
            "p50": statistics.median(times),
            "p99": percentile(times, 0.99),
            "max": times[-1],
        }
    return out


async def run_store(store: str, pictures: list[bytes], count: int, logs: Path) -> dict[str, Any]:
    port = free_port()
    prefix = f"bench-answer-{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DATABASE}")
    env = dict(os.environ) | {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": REDIS_URL,
        "GESSO_JOBS": "redis",
        "GESSO_JOBS_PREFIX": prefix,
        "GESSO_SECRET_KEY": secrets.token_urlsafe(48),
        "GESSO_DATA_DIR": str(logs / f"data-{store}"),
        "GESSO_RATE_LIMITS": "ip=999999999/1s,account=999999999/1s,signup=999999/1s,"
        "login_ip=999999/1s,artwork=999999/1s,upload=999999/1s",
        "PYTHONUNBUFFERED": "1",
    }
    moto: Any = None
    if store == "s3":
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise

        moto_port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        moto.start()
        env |= {
            "GESSO_OBJECT_STORE": "s3",
            "S3_BUCKET": f"bench-answer-{secrets.token_hex(4)}",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_CREATE_BUCKET": "true",
        }
    serve = [sys.executable, "-m", "server", "serve", "--port", str(port)]
    queue = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    cpus = os.sched_getaffinity(0)
    try:
        with process(f"api-{store}", serve, env, logs, cpus, 0) as api:
            wait_until_up(Server("api", serve, port, api, logs / f"api-{store}.log"), "/healthz")
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                token, _ = await sign_up(http, "uploader")
                return await measure(http, token, api.pid, pictures, count)
    finally:
        for key in queue.scan_iter(f"{prefix}:*"):
            queue.delete(key)
        queue.close()
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.close()
        if moto is not None:
            moto.stop()


def load_average() -> float:
    return os.getloadavg()[0]


def markdown(
    results: dict[str, dict[str, Any]],
    pictures: list[bytes],
    machine: dict[str, str],
    command: str,
    loads: tuple[float, float],
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = sorted(len(p) / 1e6 for p in pictures)
    lines = [
        START,
        "## The upload request alone (`bench/upload_answer.py`)",
        "",
        f"Command: `{command}`; {now}; {machine['cpu_model']}, {machine['cpus']} cores,"
        f" {machine['ram']}; Python {machine['python']}. Load average (1 min) before / after:"
        f" {loads[0]:.1f} / {loads[1]:.1f}.",
        "",
        "The API process alone (jobs on Redis, no worker running), 12 MP JPEGs of"
        f" {sizes[0]:.1f} to {sizes[-1]:.1f} MB sent as `createArtwork` multipart requests, one at"
        " a time and then four at a time. CPU is the API process's own (from /proc), per request;"
        ' "on the loop" is the part its event loop\'s thread spent, which every other request'
        " of the process waits behind (the rest ran in threads: file writes, hashes).",
        "",
        "| store | concurrent | requests | API CPU ms / request | of it on the loop |"
        " answer p50 ms | p99 ms | slowest ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for store, result in results.items():
        for name, width in (("one", 1), ("four", 4)):
            r = result[name]
            lines.append(
                f"| {store} | {width} | {r['requests']} | {r['cpu_ms']:.1f} |"
                f" {r['loop_cpu_ms']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} |"
            )
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=("local", "s3", "both"), default="both")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="gesso-bench-answer-"))
    pictures = photos()
    stores = ("local", "s3") if args.store == "both" else (args.store,)
    before = load_average()
    results = {
        store: asyncio.run(run_store(store, pictures, args.requests, logs)) for store in stores
    }
    loads = (before, load_average())
    command = "python -m bench.upload_answer " + " ".join(sys.argv[1:])
    text = markdown(results, pictures, machine_info(), command.strip(), loads)
    print(text)
    if not args.no_docs:
        replace_marked(DOCS, START, END, text)


if __name__ == "__main__":
    main()
