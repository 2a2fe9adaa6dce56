"""GraphQL over websockets: authentication in connection_init and clear close reasons.

Both graphql-transport-ws and the legacy graphql-ws are served on /graphql. The client sends its
bearer token in the connection_init payload, as ``{"authorization": "Bearer <token>"}`` (or
``{"token": "<token>"}``). A missing or bad token closes the connection with code 4403 and a reason
that says what to do (graphql-ws receives a ``connection_error`` with the same message first).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError

from resolvers.accounts import authenticate
from resolvers.context import Context
from resolvers.errors import InvalidToken

log = logging.getLogger("gesso.websockets")

REJECTED = 4403
SLOW_CONSUMER = 4008


def token_from_params(params: dict[str, Any] | None) -> str | None:
    if not params:
        return None
    for key in ("authorization", "Authorization"):
        value = params.get(key)
        if isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else value.strip()
    plain = params.get("token")
    return plain if isinstance(plain, str) else None


async def authenticate_connection(context: Context) -> dict[str, object]:
    """Sign the connection in from its connection_init payload, or reject it."""
    token = token_from_params(context.connection_params)
    if token is None:
        _reject(
            context, "UNAUTHENTICATED", "send connection_init {authorization: 'Bearer <token>'}"
        )
    try:
        viewer, token_hash = await authenticate(token or "")
    except InvalidToken as error:
        _reject(context, error.code, error.message)
    context.sign_in(viewer, token_hash)
    return {"viewer": viewer.handle}


def _reject(context: Context, code: str, message: str) -> Any:
    context.request.state.rejection = message
    raise ConnectionRejectionError({"message": message, "code": code})


class WebSocketAdapter(ASGIWebSocketAdapter):
    """Closes a rejected connection with the reason itself instead of a bare 'Forbidden'."""

    async def close(self, code: int, reason: str) -> None:
        if code == REJECTED:
            reason = getattr(self.ws.state, "rejection", None) or reason
        await super().close(code, reason)


async def close_slow_consumer(websocket: WebSocket, reason: str) -> None:
    """Close a connection whose subscriber fell too far behind (its inbox overflowed)."""
    log.info("closing a slow websocket consumer: %s", reason)
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=SLOW_CONSUMER, reason=reason[:120])
