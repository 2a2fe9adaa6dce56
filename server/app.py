"""The Starlette application factory and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from resolvers import credentials, exports, inbox, jobs
from resolvers.context import Context
from resolvers.media import IMAGES_MAX, sweep_orphans
from resolvers.services import MediaService, Services
from resolvers.tokens import OpenTokens
from schema import requestbody
from schema.plans import CompiledPath
from schema.production import cost_limit, hardened_schema, operation_timeout
from schema.root import schema
from server import graphql_http
from server.auth import BearerAuth, error_body
from server.bodylimit import BodyLimit
from server.cors import CORS, BrowserOrigins
from server.crawlers import RefuseAICrawlers
from server.exports import export_route
from server.health import readiness_checks, readiness_route
from server.logging import RequestLog
from server.media import (
    create_media_service,
    create_purger,
    create_signer,
    create_store,
    media_route,
    media_urls,
)
from server.metrics import Metrics, WebSocketGauge, metrics_route
from server.multipart import request_adapter
from server.persisted import create_persisted_queries
from server.ratelimit import (
    RateLimitHandshakes,
    RateLimitRequests,
    client_ip,
    create_limiter,
    viewer_id,
)
from server.settings import Settings, get_settings
from server.signals import signal_routes
from server.websockets import (
    TransportWSHandler,
    WebSocketAdapter,
    authenticate_connection,
    close_ended_session,
    close_slow_consumer,
)
from server.wsprotocol import FRAME_EXTENSION, SEND_SCOPE_KEY
from storage import db, ids
from storage.broker import Broker, InProcessBroker, RedisBroker
from storage.jobs import InProcessJobQueue
from storage.mail import mailer_for
from storage.purge import HttpPurger
from storage.replica import (
    RecentWrites,
    begin_request,
    end_request,
)

log = logging.getLogger("gesso.app")

GC_YOUNG_THRESHOLD = 50_000
# GraphiQL (outside production): our page and the build it loads (scripts/vendor-graphiql).
GRAPHIQL_DIR = Path(__file__).parent / "graphiql"
GRAPHIQL_PAGE = (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8")


class GessoGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = WebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, services: Services, settings: Settings) -> None:
        super().__init__(
            hardened_schema(settings.operation_timeout_seconds)
            if settings.is_production
            else schema,
            graphql_ide=None if settings.is_production else "graphiql",
            # Production: queries only over POST (a GET is cacheable and cross-site forgeable).
            allow_queries_via_get=not settings.is_production,
            # graphql-ws "ka" messages; on graphql-transport-ws the client pings (and uvicorn
            # sends websocket ping frames every 20 s on both).
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.allowed_origins,
            multipart_uploads_enabled=True,  # guarded by the preflight header (server.auth)
        )
        self.services = services
        # Multipart bodies are read in memory, each file capped (server.multipart).
        self.request_adapter_class = request_adapter(settings.upload_max_bytes)
        self.browser_origins = BrowserOrigins(
            settings.allowed_origins, loopback=not settings.is_production
        )
        # The tokens open websockets signed in with, to close them when a token ends.
        self.open_tokens = OpenTokens(services.broker)
        # Compiled plans for the feed documents clients repeat (schema.plans).
        self.compiled = (
            CompiledPath(
                services,
                operation_timeout=operation_timeout(self.schema),
                strict=settings.compiled_queries_strict,
                max_cost=cost_limit(self.schema),
            )
            if settings.compiled_queries
            else None
        )
        self.plans = self.compiled.plans if self.compiled is not None else None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):
            return Context(
                services=self.services,
                request=request,
                disconnect=functools.partial(close_slow_consumer, request),
                end_session=functools.partial(close_ended_session, request),
            )
        if self.services.recent_writes is not None:
            viewer_id = request.state.viewer.id if request.state.viewer is not None else None
            await begin_request(self.services.recent_writes, viewer_id)
        return Context(
            services=self.services,
            viewer=request.state.viewer,
            token_hash=request.state.token_hash,
            request=request,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and FRAME_EXTENSION in scope.get("extensions", {}):
            scope[SEND_SCOPE_KEY] = send  # for prepared frames (server.wsprotocol)
        await super().__call__(scope, receive, send)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, WebSocket):
            if context is UNSET:
                context = await self.get_context(request, request)
            try:
                return await super().run(request, context, root_value)
            finally:
                await self.open_tokens.release(context)
        if self.compiled is not None and isinstance(request, Request) and request.method == "POST":
            result = await self.compiled.answer(request)
            if result is not None:
                body = await self.process_result(request, result)
                response = Response(orjson.dumps(body), media_type="application/json")
                return _graphql_response_status(request, response)
        try:
            response = await super().run(request, context, root_value)
        except requestbody.RequestRefused as refused:
            body = error_body(refused.code, refused.message)
            return Response(body, status_code=refused.status, media_type=graphql_http.JSON)
        finally:
            if isinstance(request, Request):
                await request.close()  # closes the temporary files of a multipart upload
                if self.services.recent_writes is not None:
                    await end_request(self.services.recent_writes)
        return _graphql_response_status(request, response)

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        if self.compiled is not None:
            await self.compiled.learn(request, result)
        body = await super().process_result(request, result)
        if not graphql_http.accepts_graphql_response(request.headers):
            return body
        request.state.graphql_response_status, shaped = graphql_http.shaped(dict(body))
        return shaped

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        # Bodies, multipart fields, query parameters and websocket messages alike.
        return requestbody.decode(data)

    def parse_json(self, data: str | bytes) -> Any:
        return self.decode_json(data)  # ``parse_http_body`` reports what does not decode

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST" and requestbody.media_type(request.content_type) is None:
            raise requestbody.unsupported(request.content_type)
        try:
            data = await super().parse_http_body(request)
        except requestbody.InvalidJSON as error:
            message = f"the request is not JSON this server reads: {error.reason}"
            raise requestbody.RequestRefused(400, error.code, message) from None
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item.operation_name, str | None):
                message = "the operationName must be a string or null"
                raise requestbody.RequestRefused(400, requestbody.BAD_REQUEST, message)
        return data

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        return self.browser_origins.allows(origin)  # the rule HTTP's CORS follows (server.cors)

    async def render_graphql_ide(self, request: Request) -> Response:
        # The page and its assets come from this server (``/graphiql/``), not from a CDN.
        return HTMLResponse(GRAPHIQL_PAGE)

    async def on_ws_connect(self, context: Context) -> dict[str, object]:
        return await authenticate_connection(context, self.open_tokens)


def _graphql_response_status(request: Any, response: Any) -> Any:
    """Apply the status and media type of a GraphQL-over-HTTP response (``process_result``)."""
    status = getattr(request.state, "graphql_response_status", None)
    if status is not None and isinstance(response, Response):
        response.status_code = status
        response.headers["content-type"] = graphql_http.GRAPHQL_RESPONSE
    return response


def create_broker(settings: Settings) -> Broker:
    if settings.redis_url is None:
        return InProcessBroker()
    return RedisBroker(
        settings.redis_url, sharded=settings.redis_sharded, cluster=settings.redis_cluster
    )


def create_app(
    settings: Settings | None = None, *, media_clock: Callable[[], float] | None = None
) -> Starlette:
    """The application. ``media_clock`` replaces the wall clock of signed media URLs (their
    expiry and its check): tests that compare two apps' answers give both one fixed time."""
    settings = settings or get_settings()
    broker = create_broker(settings)
    store = create_store(settings)
    media = create_media_service(settings, store)
    metrics = Metrics(broker)
    metrics.watch_queue(media.queue)
    if isinstance(broker, RedisBroker):
        broker.on_lag = metrics.observe_lag
    signer = create_signer(settings)
    if media_clock is not None:
        signer = dataclasses.replace(signer, clock=media_clock)
    purger = create_purger(settings, metrics.media_purge)
    limiter = create_limiter(settings)
    services = Services(
        token_ttl_seconds=settings.token_ttl_seconds,
        broker=broker,
        subscriber_inbox=settings.subscriber_inbox,
        media=media,
        upload_max_bytes=settings.upload_max_bytes,
        ai_images=settings.ai_images,
        observer=metrics,
        recent_writes=RecentWrites.from_url(
            settings.read_your_writes_seconds, settings.redis_url, cluster=settings.redis_cluster
        )
        if settings.database_replica_url
        else None,
        media_url=media_urls(settings, signer),
        purger=purger,
        limiter=limiter,
        persisted=create_persisted_queries(settings),
        mailer=mailer_for(settings.smtp_url, settings.data_dir / "mail"),
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        deletion_batch=settings.deletion_batch,
    )
    view = GessoGraphQL(services, settings)
    graphql = BearerAuth(RateLimitRequests(view, limiter, "account", viewer_id))
    bounded = BodyLimit(
        graphql,
        max_bytes=settings.max_body_bytes,
        max_multipart_bytes=settings.upload_max_bytes * IMAGES_MAX + settings.max_body_bytes,
    )
    api = RefuseAICrawlers(
        RateLimitRequests(bounded, limiter, "ip", client_ip), enabled=settings.block_ai_crawlers
    )
    media_endpoint = RateLimitRequests(
        request_response(media_route(store, signer, settings, metrics.media_response)),
        limiter,
        "media",
        client_ip,
    )

    exports_endpoint = RateLimitRequests(
        request_response(export_route(services)), limiter, "media", client_ip
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ids.configure(settings.worker_id)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.migrate_on_start:
            await db.migrate(settings.database_url)
        await db.connect(settings.database_url, settings.database_replica_url)
        await broker.start()
        await store.start()
        # Everything built so far (schema, models, modules) lives as long as the process: keep it
        # out of the collector's full passes, which otherwise rescan it while fanning out events.
        gc.collect()
        gc.freeze()
        # Fanning one event out to thousands of subscribers allocates in bursts; collecting the
        # young generation every 700 allocations would rescan the same live objects many times.
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        sweeper = asyncio.create_task(_sweep_forever(services), name="orphan-sweeper")
        runner = await embedded_jobs(services, media, settings)
        pruner = asyncio.create_task(
            _prune_forever(settings.notifications_keep_days), name="notification-pruner"
        )
        try:
            yield
        finally:
            for task in (sweeper, pruner, runner):
                if task is None:
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await media.queue.close()
            # Mails being handed over finish (or time out on their own) before the exit.
            await credentials.drain()
            media.shutdown()
            if isinstance(purger, HttpPurger):
                await purger.drain()
            await store.close()
            await view.open_tokens.close()
            await broker.close()
            if services.recent_writes is not None:
                await services.recent_writes.close()
            await limiter.store.close()
            if services.persisted is not None:
                await services.persisted.cache.close()
            await db.close()

    async def root(request: Request) -> Response:
        return RedirectResponse("/graphql")

    async def healthz(request: Request) -> Response:
        """The process is alive and serving (readiness of its dependencies is not checked)."""
        return JSONResponse({"status": "ok"})

    databases = ("default", "replica") if settings.database_replica_url else ("default",)
    routes: list[Any] = [
        Route("/", root),
        Route("/healthz", healthz),
        Route("/readyz", readiness_route(readiness_checks(broker, store, databases))),
        Route("/metrics", metrics_route(metrics, settings.metrics_token)),
        Route("/graphql", api, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", RateLimitHandshakes(api, limiter, "websocket", client_ip)),
        Route("/media/{key:path}", media_endpoint, methods=["GET", "HEAD"]),
        Route("/account-exports/{id}", exports_endpoint, methods=["GET"]),
        *signal_routes(settings),
    ]
    if not settings.is_production:
        routes.append(Mount("/graphiql", StaticFiles(directory=GRAPHIQL_DIR), name="graphiql"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(CORS, origins=view.browser_origins)
    app.add_middleware(WebSocketGauge, metrics=metrics)
    app.add_middleware(RequestLog)
    app.state.services = services
    app.state.graphql = view
    return app


ORPHAN_SWEEP_SECONDS = 60.0


async def embedded_jobs(
    services: Services, media: MediaService, settings: Settings
) -> asyncio.Task[None] | None:
    """Without a shared queue, this process runs the protection jobs in its pool, starting with
    those a previous run of it left PROCESSING (the rows are the durable record)."""
    if not isinstance(media.queue, InProcessJobQueue):
        return None
    await jobs.requeue(services, everything=True)
    await exports.requeue(services, everything=True)
    worker = jobs.Worker(
        services, jobs.in_pool(media), consumer="api", concurrency=settings.imaging_workers
    )
    return asyncio.create_task(worker.run(), name="protection-jobs")


NOTIFICATION_PRUNE_SECONDS = 3600.0


async def _prune_forever(keep_days: int) -> None:
    """Delete the notifications older than GESSO_NOTIFICATIONS_KEEP_DAYS, hourly."""
    while True:
        try:
            removed = await inbox.prune(keep_days)
            if removed:
                log.info("pruned %d notifications older than %d days", removed, keep_days)
        except Exception:  # a prune must never take the server down; the next one retries
            log.exception("notification prune failed")
        await asyncio.sleep(NOTIFICATION_PRUNE_SECONDS)


async def _sweep_forever(services: Services) -> None:
    """Remove objects left behind while the store was down (see resolvers.media.discard)."""
    while True:
        try:
            await sweep_orphans(services)
        except Exception:  # a sweep must never take the server down; the next one retries
            log.exception("orphan sweep failed")
        await asyncio.sleep(ORPHAN_SWEEP_SECONDS)
