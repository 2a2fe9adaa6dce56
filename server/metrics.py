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
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from server.logging import set_operation
from storage import db
from storage.broker import Broker

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
