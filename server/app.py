"""The Starlette application factory and its lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from resolvers.context import Context, Services
from schema.root import schema
from server.auth import BearerAuth
from server.settings import Settings, get_settings
from storage import db, ids


class GessoGraphQL(GraphQL[Context, None]):
    def __init__(self, services: Services, *, graphiql: bool) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            allow_queries_via_get=True,
        )
        self.services = services

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            services=self.services,
            viewer=request.state.viewer,
            token_hash=request.state.token_hash,
        )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    services = Services(token_ttl_seconds=settings.token_ttl_seconds)
    graphql = BearerAuth(GessoGraphQL(services, graphiql=not settings.is_production))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ids.configure(settings.worker_id)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.migrate_on_start:
            await db.migrate(settings.database_url)
        await db.connect(settings.database_url)
        try:
            yield
        finally:
            await db.close()

    async def root(request: Request) -> Response:
        return RedirectResponse("/graphql")

    routes: list[Any] = [Route("/", root), Route("/graphql", graphql, methods=["GET", "POST"])]
    return Starlette(routes=routes, lifespan=lifespan)
