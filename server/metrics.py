"""Prometheus metrics of one process, served on ``/metrics``.

Every family is process-local (one registry per app); Prometheus scrapes each app process and
sums. Label values are bounded: operation names come from clients, so only well-formed names are
kept, at most ``MAX_OPERATION_NAMES`` of them, and the rest are counted as ``other``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from server.logging import set_operation
from storage import db
from storage.broker import Broker
from storage.jobs import JobQueue, QueueStats, QueueUnavailable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_OPERATION_NAMES = 200
ANONYMOUS = "anonymous"
OTHER = "other"
# Seconds; the API aims at tens of milliseconds, uploads take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The process's metrics; the API reports to it as its ``resolvers.observer.Observer``."""

    def __init__(self, broker: Broker) -> None:
        self.registry = CollectorRegistry()
        self._names: set[str] = set()
        self.latency = Histogram(
            "gesso_graphql_operation_seconds",
            "Time to run a GraphQL query or mutation, by operation name and type.",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "gesso_graphql_errors",
            "Top-level GraphQL errors, by code.",
            ["code"],
            registry=self.registry,
        )
        self.compiled_fallbacks = Counter(
            "gesso_compiled_fallbacks",
            "Queries a compiled plan might answer that took the regular path, by reason:"
            " not_covered (the document has no plan), input, anonymous, vanished (the request"
            " needs the regular path), error (an exception in the plan).",
            ["reason"],
            registry=self.registry,
        )
        self.websockets = Gauge(
            "gesso_websocket_connections",
            "Websocket connections open now.",
            registry=self.registry,
        )
        subscriptions = Gauge(
            "gesso_live_subscriptions",
            "Listeners on the broker now: live subscriptions, and one for token revocations"
            " once a socket has signed in.",
            registry=self.registry,
        )
        subscriptions.set_function(lambda: float(broker.subscriber_count()))
        self.broker_lag = Histogram(
            "gesso_broker_delivery_lag_seconds",
            "From a publish (in any process) to its arrival at this process's broker.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "gesso_imaging_stage_seconds",
            "Time in each stage of the protection pipeline, per image.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.media_responses = Counter(
            "gesso_media_responses",
            "Answers of /media/ from this process, by status (behind a media cache: its misses).",
            ["status"],
            registry=self.registry,
        )
        self.media_purges = Counter(
            "gesso_media_purges",
            "Purges sent to the media cache (GESSO_MEDIA_PURGE_URL), by outcome: ok, failed.",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_StatementCollector())
        self.jobs = _JobCollector()
        self.registry.register(self.jobs)

    def operation_name(self, name: str | None) -> str:
        """The label for a client's operation name: bounded in length, syntax and number."""
        if not name:
            return ANONYMOUS
        if name in self._names:
            return name
        if OPERATION_NAME.fullmatch(name) is None or len(self._names) >= MAX_OPERATION_NAMES:
            return OTHER
        self._names.add(name)
        return name

    # resolvers.observer.Observer
    def operation_started(self, name: str | None) -> None:
        set_operation(name)

    def operation(
        self, name: str | None, kind: str, seconds: float, error_codes: Sequence[str]
    ) -> None:
        set_operation(name)
        self.latency.labels(self.operation_name(name), kind).observe(seconds)
        for code in error_codes:
            self.errors.labels(code).inc()

    def compiled_fallback(self, reason: str) -> None:
        self.compiled_fallbacks.labels(reason).inc()

    def imaging(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stages.labels(stage).observe(seconds)

    def media_response(self, status: int) -> None:
        self.media_responses.labels(str(status)).inc()

    def media_purge(self, outcome: str) -> None:
        self.media_purges.labels(outcome).inc()

    def observe_lag(self, seconds: float) -> None:
        self.broker_lag.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def watch_queue(self, queue: JobQueue) -> None:
        """Report the protection job queue on each scrape."""
        self.jobs.queue = queue

    async def refresh(self) -> None:
        """Read what is not kept in this process (the job queue, shared by the fleet)."""
        await self.jobs.refresh()


class _JobCollector(Collector):
    """The protection job queue, read at scrape time: with Redis, the fleet's queue and the
    outcomes and durations every worker recorded."""

    def __init__(self) -> None:
        self.queue: JobQueue | None = None
        self.stats: QueueStats | None = None
        self.up = 0.0

    async def refresh(self) -> None:
        if self.queue is None:
            return
        try:
            self.stats, self.up = await self.queue.stats(), 1.0
        except QueueUnavailable:
            self.up = 0.0

    def collect(self) -> Iterator[Metric]:
        if self.queue is None:
            return
        yield GaugeMetricFamily(
            "gesso_jobs_queue_up", "1 when the job queue answered this scrape.", value=self.up
        )
        stats = self.stats
        if stats is None:
            return
        for name, value, text in (
            ("queued", stats.queued, "Protection jobs waiting for a worker."),
            ("in_flight", stats.in_flight, "Protection jobs a worker has taken, not finished."),
            ("delayed", stats.delayed, "Protection jobs waiting to be retried after a failure."),
            ("dead_letters", stats.dead, "Protection jobs given up (the dead-letter list)."),
        ):
            yield GaugeMetricFamily(f"gesso_jobs_{name}", text, value=float(value))
        outcomes = CounterMetricFamily(
            "gesso_jobs",
            "Finished job runs, by outcome: ready, refused, retried, dead, skipped, deleted.",
            labels=["outcome"],
        )
        for outcome, count in sorted(stats.outcomes.items()):
            outcomes.add_metric([outcome], count)
        yield outcomes
        ordered = sorted(stats.seconds_buckets.items())
        total = stats.outcomes.get("ready", 0) + stats.outcomes.get("refused", 0)
        total += stats.outcomes.get("skipped", 0)
        buckets = [(str(bound), count) for bound, count in ordered] + [("+Inf", total)]
        yield HistogramMetricFamily(
            "gesso_job_seconds",
            "Time a worker spent on one protection job (finished runs).",
            buckets=buckets,
            sum_value=stats.seconds_sum,
        )


class _StatementCollector(Collector):
    """SQL statements sent to PostgreSQL, read from ``storage.db.STATEMENTS`` at scrape time."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "gesso_db_statements",
            "SQL statements sent to PostgreSQL, by connection role.",
            labels=["role"],
        )
        for role, count in sorted(db.STATEMENTS.items()):
            family.add_metric([role], count)
        yield family


def metrics_route(metrics: Metrics, token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """``/metrics``; with ``token`` set, only for ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode() if token else None

    async def serve(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return JSONResponse(
                    {"error": "a bearer token is required for /metrics"}, status_code=401
                )
        await metrics.refresh()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return serve


class WebSocketGauge:
    """ASGI middleware counting the websocket connections open at any moment."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self.metrics.websockets.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.metrics.websockets.dec()
