"""GraphQL over websockets: authentication in connection_init and clear close reasons.

Both graphql-transport-ws and the legacy graphql-ws are served on /graphql. The client sends its
bearer token in the connection_init payload, as ``{"authorization": "Bearer <token>"}`` (or
``{"token": "<token>"}``). A missing or bad token closes the connection with code 4403 and a reason
that says what to do (graphql-ws receives a ``connection_error`` with the same message first).

A signed-in connection lives as long as its token: when the token is revoked (logOut) or expires,
the connection is closed with code 4401 and a reason that starts with TOKEN_REVOKED or
TOKEN_EXPIRED (``resolvers.tokens`` finds the sockets, on every process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import NonJsonMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from resolvers.accounts import authenticate_until
from resolvers.context import Context
from resolvers.errors import GessoError, InvalidToken
from resolvers.tokens import OpenTokens
from schema import fastlane
from server.wsprotocol import FRAME_MESSAGE, SEND_SCOPE_KEY, FrameCache

log = logging.getLogger("gesso.websockets")

REJECTED = 4403
LEGACY_REJECTED = 1011  # Strawberry's graphql-ws handler, after its connection_error
PROTOCOL_ERROR = 1002  # the legacy graphql-ws handler's code for a message it cannot read
SLOW_CONSUMER = 4008
# The token the connection signed in with was revoked or expired: sign in again, then reconnect.
TOKEN_ENDED = 4401

# Every subscriber of an event gets the same payload text: it is framed once (server.wsprotocol).
_frames = FrameCache()


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


async def authenticate_connection(context: Context, open_tokens: OpenTokens) -> dict[str, object]:
    """Sign the connection in from its connection_init payload, or reject it. The connection
    is held in ``open_tokens`` until it closes, so that it ends with its token."""
    # The legacy protocol lets a client send connection_init again: the old token lets go.
    await open_tokens.release(context)
    token = token_from_params(context.connection_params)
    if token is None:
        _reject(
            context, "UNAUTHENTICATED", "send connection_init {authorization: 'Bearer <token>'}"
        )
    checked_at = time.monotonic()
    try:
        viewer, token_hash, expires_at = await authenticate_until(token or "")
    except InvalidToken as error:
        _reject(context, error.code, error.message)
    context.sign_in(viewer, token_hash)
    await open_tokens.hold(context, expires_at, checked_at)
    return {"viewer": viewer.handle}


def _reject(context: Context, code: str, message: str) -> Any:
    context.request.state.rejection = message
    raise ConnectionRejectionError({"message": message, "code": code})


class WebSocketAdapter(ASGIWebSocketAdapter):
    """Closes a rejected connection with 4403 and the reason itself (instead of a bare 'Forbidden',
    or graphql-ws's 1011), and a connection that sends a message that does not decode
    (``schema.requestbody``)."""

    async def close(self, code: int, reason: str) -> None:
        rejection = getattr(self.ws.state, "rejection", None)
        # graphql-transport-ws closes a rejected connection with 4403; the legacy graphql-ws
        # handler sends connection_error and then closes with 1011 and no reason. Both close as
        # the README says: 4403 and the reason.
        if rejection is not None and code in (REJECTED, LEGACY_REJECTED):
            code, reason = REJECTED, rejection
        await super().close(code, reason)

    async def send_json(self, message: Any) -> None:
        # Once the server closed the connection (its token ended, it read too slowly), what its
        # operations still produce goes nowhere, quietly, until the close handshake ends them.
        if self.ws.application_state is WebSocketState.DISCONNECTED:
            return
        # The same when the client went away first: the send fails, and the end of the receive
        # loop ends the operations (raising here would only log a traceback per operation).
        with contextlib.suppress(WebSocketDisconnected):
            await super().send_json(message)

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        # On a message that does not decode (not JSON, or nested too deep), graphql-transport-ws
        # closes the socket with 4400. The legacy graphql-ws handler asks to skip it instead,
        # leaving the client waiting on an operation that never started: the socket is closed,
        # as that handler closes one that sends a binary message.
        try:
            async for message in super().iter_json():
                yield message
        except NonJsonMessageReceived:
            if not ignore_parsing_errors:
                raise
            await self.close(PROTOCOL_ERROR, "WebSocket message must be valid JSON")


async def close_slow_consumer(websocket: WebSocket, reason: str) -> None:
    """Close a connection whose subscriber fell too far behind (its inbox overflowed)."""
    log.info("closing a slow websocket consumer: %s", reason)
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=SLOW_CONSUMER, reason=reason[:120])


async def close_ended_session(websocket: WebSocket, error: InvalidToken) -> None:
    """Close a connection whose token was revoked or expired."""
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=TOKEN_ENDED, reason=f"{error.code}: {error.message}"[:120])


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with the home feed's fast lane (``schema.fastlane``)."""

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # A document that does not parse is the operation's error, as a validation error is
        # (the protocol's ``error`` message, "usually due to validation errors"): Strawberry
        # closes the whole socket with 4400, ending every other subscription of the client.
        if isinstance(error, GraphQLSyntaxError):
            return None
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)

    def forget_id(self, id: str) -> None:
        # An operation that completes while the client closes the socket (an upload's last
        # progress event, say) is forgotten twice: by the connection's clean-up and by its own
        # "complete" message. Strawberry's ``del`` raises KeyError on the second.
        self.operations.pop(id, None)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        limit = self.max_subscriptions_per_connection
        live = (
            fastlane.prepare(payload, self.context, getattr(self.schema, "limits", None))
            if self.connection_acknowledged
            and isinstance(payload, dict)
            and message.get("id") not in self.operations
            and (limit is None or len(self.operations) < limit)
            else None
        )
        if live is None:
            await super().handle_subscribe(message)
            return
        operation: Operation[Context, None] = Operation(
            self, message["id"], payload["query"], payload.get("variables"),
            payload.get("operationName"),
        )  # fmt: skip
        operation.task = asyncio.create_task(self._run_live(operation, live))
        operation.task.add_done_callback(self._task_done)
        self.operations[message["id"]] = operation

    async def _run_live(
        self, operation: Operation[Context, None], live: fastlane.LiveOperation
    ) -> None:
        prefix = '{"id":' + orjson.dumps(operation.id).decode() + ',"type":"next","payload":'
        websocket: WebSocket = self.websocket.ws  # type: ignore[attr-defined]
        send_frame: Send | None = websocket.scope.get(SEND_SCOPE_KEY)
        try:
            async for text in fastlane.payloads(live, self.context):
                if send_frame is None:
                    await websocket.send_text(prefix + text + "}")
                    continue
                frame = _frames.frame(prefix, text, "}")
                await send_frame({"type": FRAME_MESSAGE, "frame": frame})
        except GessoError as error:
            await operation.send_operation_message(
                {
                    "id": operation.id,
                    "type": "error",
                    "payload": [{"message": error.message, "extensions": {"code": error.code}}],
                }
            )
            return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away (uvicorn's ClientDisconnected is an OSError)
        await operation.send_operation_message({"id": operation.id, "type": "complete"})
