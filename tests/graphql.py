"""A small GraphQL test client over httpx, in-process (ASGI) or against a live server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from tortoise import Tortoise

from resolvers import credentials
from server.app import create_app, embedded_jobs
from server.settings import read_settings
from tests.e2e.live import ONE_ADDRESS_MANY_USERS

# Every in-process app of a test run signs media URLs at this one time, so two apps (or two
# requests) answer the same URLs whatever second an image's window turns at; a URL made at it
# stays valid for its TTL, longer than a run.
_MEDIA_CLOCK_AT = time.time()


def _media_clock() -> float:
    return _MEDIA_CLOCK_AT


@dataclass
class Result:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        data = self.body.get("data")
        assert isinstance(data, dict), self.body
        assert "errors" not in self.body, self.body["errors"]
        return data

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors", []))

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient
    token: str | None = None
    _tokens: dict[str, str] = field(default_factory=dict)
    services: Any = None  # the in-process app's Services (None against a live server)
    app: Any = None  # the in-process app (None against a live server)

    @classmethod
    @contextlib.asynccontextmanager
    async def for_app(cls, **environ: str) -> AsyncIterator[GraphQLClient]:
        """The app in-process (the test's database is already connected), with its media in a
        temporary directory; ``environ`` adds settings."""
        with tempfile.TemporaryDirectory(prefix="gesso-test-") as data_dir:
            settings = read_settings(
                {
                    "GESSO_ENV": "test",
                    "GESSO_MIGRATE_ON_START": "false",
                    "GESSO_DATA_DIR": data_dir,
                    "GESSO_RATE_LIMITS": ONE_ADDRESS_MANY_USERS,
                    # An upload answers once its image is protected, so a test can read it next.
                    "GESSO_UPLOADS_WAIT": "true",
                    "GESSO_JOBS": "embedded",
                    **environ,
                }
            )
            app = create_app(settings, media_clock=_media_clock)
            services = app.state.services
            await services.media.store.start()
            jobs = await embedded_jobs(services, services.media, settings)
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as http:
                    client = cls(http)
                    client.services, client.app = services, app
                    yield client
            finally:
                if jobs is not None:
                    jobs.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await jobs
                await credentials.drain()  # mails being written into the data dir
                services.media.shutdown()
                await services.media.store.close()
                await services.limiter.store.close()
                await services.persisted.cache.close()

    @classmethod
    @contextlib.asynccontextmanager
    async def for_url(cls, base_url: str) -> AsyncIterator[GraphQLClient]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield cls(http)

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Result:
        """Run an operation as the signed-in ``as_`` handle (or with ``self.token``); ``headers``
        are sent as given instead (to send a malformed or stale ``Authorization``)."""
        if headers is None:
            token = self._tokens[as_] if as_ is not None else self.token
            headers = {"Authorization": f"Bearer {token}"} if token else {}
        # json.dumps escapes non-ASCII, so any str (even a lone surrogate) reaches the server.
        body = json.dumps({"query": query, "variables": variables or {}})
        response = await self.http.post(
            "/graphql", content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code < 500, (response.status_code, response.text)
        return Result(response.status_code, response.json())

    async def upload(
        self,
        query: str,
        variables: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]],
        *,
        as_: str | None = None,
        preflight: bool = True,
    ) -> Result:
        """A GraphQL multipart request: ``files`` maps a variable path ("input.images.0.file")
        to ``(filename, bytes, content type)``; the variables there are set to null."""
        headers = {"GraphQL-Preflight": "1"} if preflight else {}
        token = self._tokens[as_] if as_ is not None else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        file_map = {str(n): [f"variables.{path}"] for n, path in enumerate(files)}
        response = await self.http.post(
            "/graphql",
            data={
                "operations": json.dumps({"query": query, "variables": variables}),
                "map": json.dumps(file_map),
            },
            files={str(n): file for n, file in enumerate(files.values())},
            headers=headers,
            timeout=120,
        )
        assert response.status_code < 500, (response.status_code, response.text)
        return Result(response.status_code, response.json())

    async def sign_up(self, handle: str, password: str = "correct horse") -> str:
        """Create an account, sign in, and remember its token; returns the user's global id."""
        signed = await self.execute(
            "mutation($i: SignUpInput!) { signUp(input: $i) { user { id } errors { code } } }",
            {"i": {"handle": handle, "email": f"{handle}@example.com", "password": password}},
        )
        assert signed.data["signUp"]["errors"] == [], signed.body
        logged = await self.execute(
            "mutation($i: LogInInput!) { logIn(input: $i) { token errors { code } } }",
            {"i": {"login": handle, "password": password}},
        )
        self._tokens[handle] = logged.data["logIn"]["token"]
        return str(signed.data["signUp"]["user"]["id"])

    def token_of(self, handle: str) -> str:
        return self._tokens[handle]


def pk_of(global_id: str) -> int:
    """The database id inside a global id (``base64("<Type>:<pk>")``)."""
    return int(base64.b64decode(global_id).decode().split(":")[1])


def global_id(type_name: str, raw: str | int) -> str:
    """A global id of ``type_name`` around ``raw``, which need not be a valid id."""
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()


async def database_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in primary-key order: equal before and after a request that
    must change nothing."""
    state: dict[str, list[dict[str, Any]]] = {}
    for model in Tortoise.apps["gesso"].values():
        meta = model._meta
        state[meta.db_table] = await model.all().order_by(meta.pk_attr).values()
    return state


class QueryCounter(logging.Handler):
    """Counts the SQL statements Tortoise runs (its db_client logger, at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []
        self.arguments: list[list[Any]] = []  # each statement's, in the same order

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple):
            self.statements.append(str(record.args[0]))
            values = record.args[1] if len(record.args) > 1 else None
            self.arguments.append(list(cast("list[Any]", values) or []))

    @classmethod
    @contextlib.contextmanager
    def capture(cls) -> Iterator[QueryCounter]:
        logger = logging.getLogger("tortoise.db_client")
        counter = cls()
        previous = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(counter)
        try:
            yield counter
        finally:
            logger.removeHandler(counter)
            logger.setLevel(previous)
