"""The page-view load generator: N virtual browsers in a closed loop, each showing one home-feed
page after another.

A page view: pick a viewer (Zipf popularity over the viewers' ranks), send their home-feed
document (GraphQL to the API, or the floor's ``GET /feed?images=1``), read the answer, then fetch
every distinct image URL in it over up to ``image_connections`` keep-alive connections at once,
as a browser does (six per host over HTTP/1.1). Its latency runs from the first byte of the
document request to the last byte of the last image. Raw asyncio streams (uvloop), like
``bench.loadgen``, so the generator takes little of the CPU it shares with the servers.

``run_pageviews`` runs in a process of its own; besides counts and latencies it returns the CPU
time, from ``/proc``, of each named server process (with its children: varnishd's worker,
nginx's), of PostgreSQL and of everything else during the measured window.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import resource
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.loadgen import (
    MAX_ERROR_SAMPLES,
    REQUEST_TIMEOUT_S,
    all_processes,
    loop_factory,
    machine_busy_s,
    percentile,
    process_tree,
    serves,
)
from server.signing import MediaSigner

URL_WINDOW_S: int = MediaSigner(b"").granularity  # the rounding of media URLs' expiries


@dataclass(frozen=True, slots=True)
class PageViewSpec:
    name: str
    document_port: int
    document: bytes  # the request, with ``{token}`` where the viewer's token goes
    image_port: int | None  # None: the document alone (no image is fetched)
    tokens: tuple[str, ...]  # the viewers, most popular first
    zipf: float
    concurrency: int
    image_connections: int
    warmup_s: float
    duration_s: float
    pids: dict[str, int]  # server name -> pid whose process tree's CPU is reported
    database: str
    seed: int = 0
    max_page_views: int = 1_000_000


@dataclass(slots=True)
class PageViewResult:
    name: str
    page_views: int = 0
    images: int = 0
    hits: int = 0  # image answers that say X-Cache: HIT
    misses: int = 0  # ... MISS
    image_bytes: int = 0
    document_bytes: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    document_ms: list[float] = field(default_factory=list, repr=False)
    cpu_s: dict[str, float] = field(default_factory=dict)  # server name, "postgres", "loadgen"
    other_cpu_s: float = 0.0
    # how many URL windows the measured time spanned (each image's URL changes once a window,
    # at its own phase, so about this many times every image viewed missed once more)
    url_window_changes: int = 0

    def merge(self, other: PageViewResult) -> None:
        for name in ("page_views", "images", "hits", "misses", "image_bytes", "errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.document_bytes += other.document_bytes
        self.error_samples += other.error_samples[: MAX_ERROR_SAMPLES - len(self.error_samples)]
        self.elapsed_s += other.elapsed_s
        self.latencies_ms += other.latencies_ms
        self.document_ms += other.document_ms
        for name, seconds in other.cpu_s.items():
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + seconds
        self.other_cpu_s += other.other_cpu_s
        self.url_window_changes += other.url_window_changes

    def p(self, fraction: float, *, document: bool = False) -> float:
        return percentile(sorted(self.document_ms if document else self.latencies_ms), fraction)

    def per_page_view_ms(self, name: str) -> float:
        return 1000 * self.cpu_s.get(name, 0.0) / self.page_views if self.page_views else 0.0

    @property
    def hit_ratio(self) -> float:
        return self.hits / (self.hits + self.misses) if self.hits + self.misses else 0.0


def image_paths(document: Any) -> list[str]:
    """Every distinct image URL of a home-feed answer (GraphQL's or the floor's), as paths, in
    the order a card shows them: the author's avatar, the post's images, its artworks' images."""
    paths: dict[str, None] = {}
    feed = ((document or {}).get("data") or {}).get("homeFeed") or {}
    for edge in feed.get("edges") or ():
        node = edge["node"]
        avatar = node["author"].get("avatar")
        images = [avatar] if avatar else []
        images += node.get("images") or []
        for artwork in node.get("artworks") or ():
            images += artwork.get("images") or []
        for image in images:
            url = image.get("url")
            if url:
                parts = urlsplit(url)
                paths[parts.path + (f"?{parts.query}" if parts.query else "")] = None
    return list(paths)


async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes | None]:
    """Status, body and X-Cache of one HTTP/1.1 response with a Content-Length."""
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length, cache = -1, None
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"x-cache":
            cache = value.strip()
        elif name == b"transfer-encoding":
            raise ValueError("chunked answers are not expected here")
    if length < 0:
        raise ValueError("response without Content-Length")
    return status, await reader.readexactly(length), cache


class _Connection:
    """One keep-alive connection, reopened after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, data: bytes) -> tuple[int, bytes, bytes | None]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(data)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await _read(reader)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def _image_request(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0\r\n"
        "Accept: image/webp,*/*\r\n\r\n"
    ).encode()


class _Browser:
    def __init__(self, spec: PageViewSpec, result: PageViewResult, rng: random.Random) -> None:
        self.spec = spec
        self.result = result
        self.rng = rng
        self.document = _Connection(spec.document_port)
        self.images = [
            _Connection(spec.image_port or 0) for _ in range(max(1, spec.image_connections))
        ]
        self.cum_weights = list(
            itertools.accumulate(1.0 / (rank**spec.zipf) for rank in range(1, len(spec.tokens) + 1))
        )

    def _error(self, problem: str) -> None:
        self.result.errors += 1
        if len(self.result.error_samples) < MAX_ERROR_SAMPLES:
            self.result.error_samples.append(problem)

    async def page_view(self, measured: bool) -> None:
        (token,) = self.rng.choices(self.spec.tokens, cum_weights=self.cum_weights)
        started = time.perf_counter_ns()
        status, body, _ = await self.document.request(
            self.spec.document.replace(b"{token}", token.encode())
        )
        answered = time.perf_counter_ns()
        document: dict[str, Any] = orjson.loads(body) if status == 200 else {}
        if document.get("errors") or "homeFeed" not in (document.get("data") or {}):
            if measured:
                self._error(f"document: HTTP {status}: {body[:200]!r}")
            return
        paths = image_paths(document) if self.spec.image_port is not None else []
        queue = list(reversed(paths))
        outcomes: list[tuple[int, int, bytes | None]] = []

        async def fetch(connection: _Connection) -> None:
            while queue:
                path = queue.pop()
                status, data, cache = await connection.request(
                    _image_request(connection.port, path)
                )
                outcomes.append((status, len(data), cache))

        await asyncio.gather(*(fetch(c) for c in self.images[: max(1, len(paths))]))
        finished = time.perf_counter_ns()
        if not measured:
            return
        result = self.result
        result.page_views += 1
        result.document_bytes += len(body)
        result.latencies_ms.append((finished - started) / 1e6)
        result.document_ms.append((answered - started) / 1e6)
        for status, size, cache in outcomes:
            result.images += 1
            result.image_bytes += size
            if status != 200:
                self._error(f"image: HTTP {status}")
            if cache == b"HIT":
                result.hits += 1
            elif cache == b"MISS":
                result.misses += 1


def _cpu(spec: PageViewSpec) -> tuple[dict[str, dict[int, float]], float, float]:
    processes = all_processes()
    trees = {
        name: {member: processes[member][2] for member in process_tree(processes, pid)}
        for name, pid in spec.pids.items()
    }
    trees["postgres"] = {
        pid: cpu
        for pid, (name, _, cpu) in processes.items()
        if name == "postgres" and serves(pid, spec.database)
    }
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return trees, usage.ru_utime + usage.ru_stime, machine_busy_s()


async def _run(spec: PageViewSpec) -> PageViewResult:
    result = PageViewResult(name=spec.name)
    rng = random.Random(spec.seed)
    browsers = [
        _Browser(spec, result, random.Random(rng.random())) for _ in range(spec.concurrency)
    ]
    clock = time.perf_counter_ns
    wall_start = time.time() + spec.warmup_s
    measure_from = clock() + int(spec.warmup_s * 1e9)
    stop_at = measure_from + int(spec.duration_s * 1e9)
    budget = [spec.max_page_views]
    window: list[tuple[dict[str, dict[int, float]], float, float]] = []

    async def browse(browser: _Browser) -> None:
        try:
            while budget[0] > 0:
                now = clock()
                if now >= stop_at:
                    return
                if now >= measure_from and not window:
                    window.append(_cpu(spec))
                budget[0] -= 1
                try:
                    await browser.page_view(measured=now >= measure_from)
                except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as error:
                    if now >= measure_from:
                        browser._error(f"{type(error).__name__}: {error}")
        finally:
            browser.document.close()
            for connection in browser.images:
                connection.close()

    await asyncio.gather(*(browse(browser) for browser in browsers))
    finished = clock()
    if not window:
        window.append(_cpu(spec))
    (trees0, own0, busy0), (trees1, own1, busy1) = window[0], _cpu(spec)
    for name, members in trees1.items():
        before = trees0.get(name, {})
        result.cpu_s[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in members.items())
    result.cpu_s["loadgen"] = own1 - own0
    result.other_cpu_s = max(0.0, busy1 - busy0 - sum(result.cpu_s.values()))
    result.elapsed_s = (max(finished, stop_at) - measure_from) / 1e9
    wall_end = wall_start + result.elapsed_s
    result.url_window_changes = int(wall_end // URL_WINDOW_S) - int(wall_start // URL_WINDOW_S)
    return result


def run_pageviews(spec: PageViewSpec) -> PageViewResult:
    """Run one scenario to completion (in this process)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_run(spec))
