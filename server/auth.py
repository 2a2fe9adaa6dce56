"""Bearer-token authentication in front of the GraphQL endpoint.

A request without ``Authorization`` is anonymous. A request with a token that is unknown, revoked
or expired is answered 401 with a GraphQL-shaped error (code TOKEN_INVALID or TOKEN_EXPIRED), so a
client learns at once to sign in again instead of silently seeing anonymous data.
"""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers.accounts import authenticate
from resolvers.errors import InvalidToken


def bearer_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: Bearer`` header; ``""`` for a malformed header."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class BearerAuth:
    """ASGI middleware: resolves the token to ``scope["state"]["viewer"]`` before GraphQL runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        state["viewer"], state["token_hash"] = None, None
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if _is_multipart(headers) and not any(headers.get(h) for h in PREFLIGHT_HEADERS):
            await send_error(
                send,
                400,
                "CSRF_PREFLIGHT_REQUIRED",
                "multipart requests must carry a GraphQL-Preflight: 1 header (or "
                "Apollo-Require-Preflight / X-Gesso-CSRF)",
            )
            return
        token = bearer_token(headers)
        if token is not None:
            try:
                state["viewer"], state["token_hash"] = await authenticate(token)
            except InvalidToken as error:
                await _unauthorized(send, error)
                return
        await self.app(scope, receive, send)


# A browser cannot add a custom header to a cross-site form post without a CORS preflight, so
# requiring one on multipart requests (the only kind a plain HTML form can forge) defeats CSRF.
PREFLIGHT_HEADERS = ("graphql-preflight", "apollo-require-preflight", "x-gesso-csrf")


def _is_multipart(headers: Headers) -> bool:
    return headers.get("content-type", "").lower().startswith("multipart/")


async def _unauthorized(send: Send, error: InvalidToken) -> None:
    await send_error(
        send,
        401,
        error.code,
        error.message,
        extra=[(b"www-authenticate", b'Bearer error="invalid_token"')],
    )


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with a GraphQL-shaped JSON error before the GraphQL app runs."""
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_body(code: str, message: str) -> bytes:
    """The JSON of a request refused before GraphQL: one error with its ``code``."""
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
