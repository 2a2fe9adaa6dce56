"""Which browser origins may call the API, and CORS for ``/graphql`` and ``/media/``.

One rule, :class:`BrowserOrigins`, answers for HTTP (here) and for websocket handshakes
(``server.app``): the origins of ``GESSO_ALLOWED_ORIGINS`` (``*``: every origin) and, outside
production, any loopback origin (``http://localhost:5173``, ``http://127.0.0.1:3000``,
``http://[::1]:8080``), so a frontend's development server works with no setting.

For an allowed origin, a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is
answered 204 with the methods of the path, the request headers a client sends (``Authorization``,
``Content-Type``, the CSRF preflight headers of ``server.auth``, Apollo's client headers, and
``Range`` / ``If-None-Match`` for media) and ``Access-Control-Max-Age``, so a browser asks once
for two hours; every other response names the origin in ``Access-Control-Allow-Origin`` and
exposes the headers a client reads. No credentials (cookies) are involved: clients send a bearer
token. Any other origin gets no CORS header at all, and its preflight is refused with 403.
Every response on these paths carries ``Vary: Origin``, so a shared cache (the media cache)
never hands one origin's answer to another.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.websocket_origin import normalize_origin

from server.auth import PREFLIGHT_HEADERS
from server.origin import LOOPBACK_HOST

MAX_AGE_SECONDS = 7200  # the most Chromium honours (Firefox allows a day)
# What a client sends beyond the CORS-safelisted headers: the token, a JSON or multipart body, the
# CSRF preflight headers (any one), Apollo Client's client-awareness headers, and a media range.
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    *PREFLIGHT_HEADERS,
    "apollographql-client-name",
    "apollographql-client-version",
    "range",
    "if-none-match",
)
EXPOSED_HEADERS = (
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "retry-after",
    "www-authenticate",
    "x-robots-tag",
    "tdm-reservation",
    "tdm-policy",
)
# The paths CORS applies to, and the methods each allows.
METHODS = {"/graphql": "GET, POST", "/media/": "GET, HEAD"}


class BrowserOrigins:
    """The browser origins allowed to call the API besides its own."""

    def __init__(self, configured: Iterable[str], *, loopback: bool) -> None:
        configured = tuple(configured)
        self.configured = frozenset(
            normalized for o in configured if (normalized := normalize_origin(o)) is not None
        )
        self.anyone = "*" in (o.strip() for o in configured)
        self.loopback = loopback

    def allows(self, origin: str) -> bool:
        if self.anyone:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:
            return False
        if normalized in self.configured:
            return True
        if not self.loopback:
            return False
        scheme, _, host = normalized.partition("://")
        return scheme in ("http", "https") and LOOPBACK_HOST.fullmatch(host) is not None


class CORS:
    """ASGI middleware answering preflights and naming allowed origins on ``METHODS``' paths."""

    def __init__(self, app: ASGIApp, *, origins: BrowserOrigins) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = _methods(scope) if scope["type"] == "http" else None
        if methods is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and self.origins.allows(origin)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(send, origin if allowed else None, methods)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response = MutableHeaders(scope=message)
                response.add_vary_header("Origin")
                if allowed:
                    assert origin is not None
                    response["Access-Control-Allow-Origin"] = origin
                    response["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _methods(scope: Scope) -> str | None:
    path: str = scope["path"]
    for prefix, methods in METHODS.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return methods
    return None


async def _preflight(send: Send, origin: str | None, methods: str) -> None:
    if origin is None:
        body = b"this origin may not call the API: list it in GESSO_ALLOWED_ORIGINS"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"vary", b"Origin")]
        status = 403
    else:
        body = b""
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", methods.encode()),
            (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
            (b"vary", b"Origin"),
        ]
        status = 204
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
