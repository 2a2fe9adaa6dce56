"""Request rate limits at the HTTP layer: 429 with Retry-After and the RateLimit headers.

``RateLimitRequests`` wraps one endpoint (``/graphql``, ``/media``) and charges one hit of each of
its limits per request: by client IP before authentication, by account after it (a second wrapper
inside ``BearerAuth``). Every response carries, per limit, the headers of the IETF draft
"RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers):
``RateLimit-Policy: "ip";q=600;w=300`` and ``RateLimit: "ip";r=599;t=300``. A refused request gets
429, ``Retry-After`` (seconds) and a GraphQL-shaped body with code ``RATE_LIMITED``.

``RateLimitHandshakes`` counts websocket connections opened per client IP; one past the limit is
answered 429 (with the same headers and body) instead of being upgraded. Messages on an open
websocket are not counted. Health checks (``/healthz``, ``/readyz``) and the site files are not
wrapped.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.ratelimit import Limiter, parse_limits
from server.settings import Settings, SettingsError
from storage.ratelimit import (
    Decision,
    MemoryRateLimitStore,
    RateLimitStore,
    RedisRateLimitStore,
    seconds,
)

Subject = Callable[[Scope], "str | int | None"]


def create_limiter(settings: Settings) -> Limiter:
    try:
        overrides = parse_limits(settings.rate_limits)
    except ValueError as error:
        raise SettingsError(f"GESSO_RATE_LIMITS: {error}") from None
    store: RateLimitStore
    if settings.redis_url is not None:
        store = RedisRateLimitStore(settings.redis_url, cluster=settings.redis_cluster)
    else:
        store = MemoryRateLimitStore()
    return Limiter(store, overrides, enabled=settings.rate_limits_enabled)


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def viewer_id(scope: Scope) -> int | None:
    viewer = scope.get("state", {}).get("viewer")
    return None if viewer is None else int(viewer.id)


class RateLimitRequests:
    """ASGI middleware charging limit ``name`` for the subject of each HTTP request (requests
    without a subject, e.g. anonymous ones for a per-account limit, pass uncounted)."""

    def __init__(self, app: ASGIApp, limiter: Limiter, name: str, subject: Subject) -> None:
        self.app = app
        self.limiter = limiter
        self.name = name
        self.subject = subject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subject = self.subject(scope) if scope["type"] == "http" else None
        decision = None if subject is None else await self.limiter.hit(self.name, subject)
        if decision is None:
            await self.app(scope, receive, send)
            return
        fields = self.fields(decision)
        if not decision.allowed:
            await self.refuse(send, decision, fields)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in fields:
                    headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_fields)

    def fields(self, decision: Decision) -> list[tuple[str, str]]:
        limit = self.limiter.limit(self.name)
        return [
            ("RateLimit-Policy", f'"{self.name}";q={limit.count};w={limit.window}'),
            (
                "RateLimit",
                f'"{self.name}";r={decision.remaining};t={seconds(decision.reset_after)}',
            ),
        ]

    async def refuse(self, send: Send, decision: Decision, fields: list[tuple[str, str]]) -> None:
        headers, body = _refusal(decision, fields)
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class RateLimitHandshakes(RateLimitRequests):
    """ASGI middleware charging limit ``name`` for each websocket handshake's subject."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subject = self.subject(scope) if scope["type"] == "websocket" else None
        decision = None if subject is None else await self.limiter.hit(self.name, subject)
        if decision is None or decision.allowed:
            await self.app(scope, receive, send)
            return
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            headers, body = _refusal(decision, self.fields(decision))
            await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the extension answers a close before accept with 403
            await send({"type": "websocket.close", "code": 1008})


def _refusal(
    decision: Decision, fields: list[tuple[str, str]]
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    wait = seconds(decision.retry_after)
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": f"too many requests; try again in {wait} s",
                    "extensions": {"code": "RATE_LIMITED", "retryAfter": wait},
                }
            ]
        }
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(wait).encode()),
        *((name.lower().encode(), value.encode()) for name, value in fields),
    ]
    return headers, body
