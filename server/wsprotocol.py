"""uvicorn's sans-I/O websocket protocol with two changes for processes holding many sockets.

1. Prepared frames. The live home feed sends the same text to thousands of subscribers; framing
   it once per subscriber in pure Python (``websockets``' ``Frame.serialize``) was the largest
   cost of a fan-out. The protocol offers an ASGI extension, ``gesso.websocket.frame``: the
   application sends ``{"type": "gesso.websocket.frame", "frame": <bytes>}`` with a complete,
   unmasked text frame built by :func:`text_frame` (and shared between subscribers), and the
   protocol writes it as it is. The extension is offered only when no websocket extension
   (permessage-deflate) was negotiated, since a compressed connection needs its own framing.
2. The handshake's request and response objects are dropped once the handshake is done: uvicorn
   keeps them for the life of the connection although nothing reads them again (about 3 KiB of
   header objects per open socket).
3. A text message that is not UTF-8 closes the socket with 1007, as uvicorn does, but without
   logging a traceback: it is the client's fault, and any client could fill the error log.
"""

from __future__ import annotations

import logging
import struct
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State

log = logging.getLogger("gesso.websockets")

FRAME_EXTENSION = "gesso.websocket.frame"
INVALID_DATA = 1007  # RFC 6455, 7.4.1: data inconsistent with the message's type
FRAME_MESSAGE = "gesso.websocket.frame"
# Where the application finds the raw ASGI ``send`` of a connection that offers the extension.
SEND_SCOPE_KEY = "gesso.send"


def text_frame(text: str) -> bytes:
    """One final, unmasked (server-to-client) text frame carrying ``text`` (RFC 6455, 5.2)."""
    payload = text.encode()
    size = len(payload)
    first = 0x80 | Opcode.TEXT.value
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


class FrameCache:
    """The frames of recent texts, keyed by the text objects themselves.

    A fan-out hands every subscriber the same ``str`` object, whose hash Python computes once; a
    lookup is then a tuple hash and an identity comparison.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def frame(self, prefix: str, text: str, suffix: str) -> bytes:
        key = (prefix, text)
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = text_frame(prefix + text + suffix)
            if len(self._frames) > self._size:
                self._frames.popitem(last=False)
        return frame


class GessoWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101 and not self.conn.extensions:
            self.scope["extensions"][FRAME_EXTENSION] = {}

    async def send(self, message: Any) -> None:
        if message["type"] == FRAME_MESSAGE:
            await self._send_frame(message["frame"])
            return
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            self.request = self.response = None  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                log.info("closing a websocket that sent a text message that is not UTF-8")
                self.frames = []
                self.conn.send_close(INVALID_DATA)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    async def _send_frame(self, frame: bytes) -> None:
        if not self.writable.is_set():  # the client reads slowly: wait for the buffer to drain
            await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        if not self.handshake_complete or self.conn.extensions:
            raise RuntimeError(f"{FRAME_MESSAGE} is only valid on an accepted, uncompressed socket")
        self.transport.write(frame)
