"""A cap on the size of request bodies, before anything parses them.

A JSON GraphQL request is small; one of many megabytes is an attack on the parser and the memory.
Multipart (upload) requests get their own, larger cap: each file is capped by the upload limit and
a request carries at most ``IMAGES_MAX`` of them. A declared ``Content-Length`` over the cap is
refused at once; a body sent without one (chunked) is counted as it arrives and refused when it
crosses the cap. The answer is 413 with a GraphQL-shaped error, code ``REQUEST_TOO_LARGE``.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import send_error

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
# The rest of a refused body is not read: the connection cannot be reused.
CLOSE = [(b"connection", b"close")]


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when a streamed body crosses the cap."""


class BodyLimit:
    """ASGI middleware: ``max_bytes`` for ordinary bodies, ``max_multipart_bytes`` for uploads."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_multipart_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_multipart_bytes = max_multipart_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        limit = self.max_multipart_bytes if multipart else self.max_bytes
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_error(send, 400, "BAD_REQUEST", "Content-Length is not a number", CLOSE)
                return
            if length > limit:
                await _too_large(send, limit)
                return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    message = f"the request body is larger than the limit of {limit} bytes"
    await send_error(send, 413, REQUEST_TOO_LARGE, message, CLOSE)
