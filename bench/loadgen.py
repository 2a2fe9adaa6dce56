"""A lean closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending the next
request as soon as the previous answer is read. Raw asyncio streams (uvloop when installed), no
HTTP library, so the generator takes as little as possible of the CPU it shares with the server.

``run_load`` is meant to run in a process of its own (``ProcessPoolExecutor``), optionally pinned
to a CPU; it returns counts, latency percentiles and its own CPU time.
"""

from __future__ import annotations

import asyncio
import functools
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

MAX_ERROR_SAMPLES = 5
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class LoadSpec:
    name: str
    host: str
    port: int
    requests: tuple[bytes, ...]  # whole HTTP/1.1 requests, used round-robin
    concurrency: int
    warmup_s: float
    duration_s: float
    expect_edges: tuple[int, ...]  # the page size each request must get, in their order
    cpu: int | None = None  # pin the generator to this CPU
    app_pid: int | None = None  # the server process whose CPU time to report
    database: str = "gesso_bench"  # PostgreSQL backends of other databases count as "other"
    max_requests: int = 5_000_000  # a hard bound, whatever the duration
    # "feed": a page of ``expect_edges`` edges of the connection ``root`` (``check_feed``; -1:
    # any size); "data": any answer with data and no errors (``check_data``)
    check: str = "feed"
    root: str = "homeFeed"


@dataclass(slots=True)
class LoadResult:
    name: str
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    cpu_s: float = 0.0  # the generator's own CPU time during the measured window
    app_cpu_s: float = 0.0  # the server process's
    db_cpu_s: float = 0.0  # every PostgreSQL process's
    other_cpu_s: float = 0.0  # every other process's: anything else running on the machine
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def compute_percentiles(self) -> None:
        values = sorted(self.latencies_ms)
        self.requests = len(values)
        self.p50_ms = percentile(values, 0.50)
        self.p90_ms = percentile(values, 0.90)
        self.p99_ms = percentile(values, 0.99)
        self.max_ms = values[-1] if values else 0.0
        self.mean_ms = sum(values) / len(values) if values else 0.0

    @classmethod
    def merge(cls, name: str, parts: list[LoadResult]) -> LoadResult:
        """One result from several measured windows of the same scenario."""
        merged = cls(name=name)
        for part in parts:
            merged.errors += part.errors
            merged.error_samples += part.error_samples[
                : MAX_ERROR_SAMPLES - len(merged.error_samples)
            ]
            merged.elapsed_s += part.elapsed_s
            merged.cpu_s += part.cpu_s
            merged.app_cpu_s += part.app_cpu_s
            merged.db_cpu_s += part.db_cpu_s
            merged.other_cpu_s += part.other_cpu_s
            merged.latencies_ms += part.latencies_ms
        merged.compute_percentiles()
        return merged


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def all_processes() -> dict[int, tuple[str, int, float]]:
    """Every process on this machine: pid -> (name, parent pid, CPU seconds so far)."""
    found: dict[int, tuple[str, int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        found[int(entry)] = (name, int(fields[1]), cpu)
    return found


def machine_busy_s() -> float:
    """CPU seconds all CPUs of the machine have spent busy (not idle, not waiting on I/O)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def serves(pid: int, database: str) -> bool:
    """Whether a PostgreSQL process works for ``database``: its backends, and the server's own
    background processes (whose titles name no client)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            title = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    is_backend = "(" in title or "[local]" in title
    return not is_backend or f" {database} " in title


def process_tree(processes: dict[int, tuple[str, int, float]], root: int) -> set[int]:
    """``root`` and its descendants (uvicorn's worker processes, with ``--workers``)."""
    members = {root} if root in processes else set()
    grew = True
    while grew:
        grew = False
        for pid, (_, parent, _) in processes.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    return members


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds so far of this process, of the server's process tree and of PostgreSQL's
    processes (each by pid, so processes that start or end between samples count right)."""

    own: float
    app: dict[int, float]
    db: dict[int, float]
    busy: float

    @classmethod
    def take(cls, app_pid: int | None, database: str) -> CpuSample:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        processes = all_processes()
        app = process_tree(processes, app_pid) if app_pid is not None else set()
        return cls(
            own=usage.ru_utime + usage.ru_stime,
            app={pid: processes[pid][2] for pid in app},
            db={
                pid: cpu
                for pid, (name, _, cpu) in processes.items()
                if name == "postgres" and serves(pid, database)
            },
            busy=machine_busy_s(),
        )

    def since(self, earlier: CpuSample) -> tuple[float, float, float, float]:
        """(own, app, db, everything else) CPU seconds between ``earlier`` and this sample."""
        own = self.own - earlier.own
        app = sum(value - earlier.app.get(pid, 0.0) for pid, value in self.app.items())
        db = sum(value - earlier.db.get(pid, 0.0) for pid, value in self.db.items())
        other = max(0.0, self.busy - earlier.busy - own - app - db)
        return own, app, db, other


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length or chunked)."""
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = -1
    chunked = False
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        if length < 0:
            raise ValueError("response has neither Content-Length nor chunked encoding")
        return status, await reader.readexactly(length)
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def check_feed(status: int, body: bytes, expect_edges: int, root: str = "homeFeed") -> str | None:
    """Why this answer is wrong, or None: HTTP 200, no errors, a full page of ``root``."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    document = orjson.loads(body)
    if document.get("errors"):
        return f"errors: {str(document['errors'])[:200]}"
    feed = (document.get("data") or {}).get(root)
    if feed is None:
        return f"no data.{root}"
    if expect_edges >= 0 and len(feed["edges"]) != expect_edges:
        return f"{len(feed['edges'])} edges, expected {expect_edges}"
    return None


def check_data(status: int, body: bytes, _expect: int) -> str | None:
    """Why this answer is wrong, or None: HTTP 200, no errors, data."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    document = orjson.loads(body)
    if document.get("errors"):
        return f"errors: {str(document['errors'])[:200]}"
    if not document.get("data"):
        return "no data"
    return None


async def _client(
    spec: LoadSpec,
    offset: int,
    measure_from: int,
    stop_at: int,
    latencies: list[int],
    result: LoadResult,
    budget: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(spec.host, spec.port)
    requests = spec.requests
    check = functools.partial(check_feed, root=spec.root) if spec.check == "feed" else check_data
    index = offset
    clock = time.perf_counter_ns
    try:
        while budget[0] > 0:
            start = clock()
            if start >= stop_at:
                break
            budget[0] -= 1
            which = index % len(requests)
            writer.write(requests[which])
            index += 1
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    status, body = await read_response(reader)
            except (TimeoutError, ValueError, asyncio.IncompleteReadError) as error:
                result.errors += 1
                if len(result.error_samples) < MAX_ERROR_SAMPLES:
                    result.error_samples.append(f"{type(error).__name__}: {error}")
                writer.close()
                reader, writer = await asyncio.open_connection(spec.host, spec.port)
                continue
            end = clock()
            if start < measure_from:
                continue
            latencies.append(end - start)
            problem = check(status, body, spec.expect_edges[which])
            if problem is not None:
                result.errors += 1
                if len(result.error_samples) < MAX_ERROR_SAMPLES:
                    result.error_samples.append(problem)
    finally:
        writer.close()


async def _run(spec: LoadSpec) -> LoadResult:
    result = LoadResult(name=spec.name)
    latencies: list[int] = []
    now = time.perf_counter_ns()
    measure_from = now + int(spec.warmup_s * 1e9)
    stop_at = measure_from + int(spec.duration_s * 1e9)
    budget = [spec.max_requests]

    async def measured_window() -> CpuSample:
        await asyncio.sleep(max(0.0, (measure_from - time.perf_counter_ns()) / 1e9))
        return CpuSample.take(spec.app_pid, spec.database)

    cpu_at_start = asyncio.ensure_future(measured_window())
    await asyncio.gather(
        *(
            _client(spec, i, measure_from, stop_at, latencies, result, budget)
            for i in range(spec.concurrency)
        )
    )
    finished = time.perf_counter_ns()
    cpu = CpuSample.take(spec.app_pid, spec.database).since(await cpu_at_start)
    result.cpu_s, result.app_cpu_s, result.db_cpu_s, result.other_cpu_s = cpu
    # Requests still in flight at stop_at are counted, so the window ends at the last answer.
    result.elapsed_s = (max(finished, stop_at) - measure_from) / 1e9
    result.latencies_ms = [ns / 1e6 for ns in latencies]
    result.compute_percentiles()
    return result


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_load(spec: LoadSpec) -> LoadResult:
    """Run one scenario to completion (in this process)."""
    if spec.cpu is not None:
        os.sched_setaffinity(0, {spec.cpu})
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_run(spec))
