"""The Starlette application factory and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.types import ExecutionResult

from resolvers.context import Context, Services
from resolvers.media import IMAGES_MAX, sweep_orphans
from schema.production import hardened_schema
from schema.root import schema
from server import graphql_http
from server.auth import BearerAuth
from server.bodylimit import BodyLimit
from server.media import create_media_service, create_store, media_route
from server.persisted import create_persisted_queries
from server.settings import Settings, get_settings
from server.websockets import (
    TransportWSHandler,
    WebSocketAdapter,
    authenticate_connection,
    close_slow_consumer,
)
from storage import db, ids
from storage.broker import Broker, InProcessBroker, RedisBroker

log = logging.getLogger("gesso.app")

GC_YOUNG_THRESHOLD = 50_000


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

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):
            return Context(
                services=self.services,
                request=request,
                disconnect=functools.partial(close_slow_consumer, request),
            )
        return Context(
            services=self.services,
            viewer=request.state.viewer,
            token_hash=request.state.token_hash,
            request=request,
        )

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            response = await super().run(request, context, root_value)
        finally:
            if isinstance(request, Request):
                await request.close()  # closes the temporary files of a multipart upload
        status = getattr(request.state, "graphql_response_status", None)
        if status is not None and isinstance(response, Response):
            response.status_code = status
            response.headers["content-type"] = graphql_http.GRAPHQL_RESPONSE
        return response

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        body = await super().process_result(request, result)
        if not graphql_http.accepts_graphql_response(request.headers):
            return body
        request.state.graphql_response_status, shaped = graphql_http.shaped(dict(body))
        return shaped

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    async def on_ws_connect(self, context: Context) -> dict[str, object]:
        return await authenticate_connection(context)


def create_broker(settings: Settings) -> Broker:
    if settings.redis_url is None:
        return InProcessBroker()
    return RedisBroker(
        settings.redis_url, sharded=settings.redis_sharded, cluster=settings.redis_cluster
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    broker = create_broker(settings)
    store = create_store(settings)
    media = create_media_service(settings, store)
    services = Services(
        token_ttl_seconds=settings.token_ttl_seconds,
        broker=broker,
        subscriber_inbox=settings.subscriber_inbox,
        media=media,
        upload_max_bytes=settings.upload_max_bytes,
        persisted=create_persisted_queries(settings),
    )
    graphql = BodyLimit(
        BearerAuth(GessoGraphQL(services, settings)),
        max_bytes=settings.max_body_bytes,
        max_multipart_bytes=settings.upload_max_bytes * IMAGES_MAX + settings.max_body_bytes,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ids.configure(settings.worker_id)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.migrate_on_start:
            await db.migrate(settings.database_url)
        await db.connect(settings.database_url)
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
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            media.shutdown()
            await store.close()
            await broker.close()
            if services.persisted is not None:
                await services.persisted.cache.close()
            await db.close()

    async def root(request: Request) -> Response:
        return RedirectResponse("/graphql")

    async def healthz(request: Request) -> Response:
        """The process is alive and serving (readiness of its dependencies is not checked)."""
        return JSONResponse({"status": "ok"})

    routes: list[Any] = [
        Route("/", root),
        Route("/healthz", healthz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/media/{key:path}", media_route(store), methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return app


ORPHAN_SWEEP_SECONDS = 60.0


async def _sweep_forever(services: Services) -> None:
    """Remove objects left behind while the store was down (see resolvers.media.discard)."""
    while True:
        try:
            await sweep_orphans(services)
        except Exception:  # a sweep must never take the server down; the next one retries
            log.exception("orphan sweep failed")
        await asyncio.sleep(ORPHAN_SWEEP_SECONDS)
