"""A lean graphql-transport-ws client for fan-out measurements: thousands of sockets in one process.

A general websocket client spends tens of microseconds per message in Python (frame parsing,
UTF-8 validation, a task wake-up, JSON). With ten thousand subscribers on a 2-core machine that
client-side work queues up behind the server's and shows up as delivery latency. This client is a
plain ``asyncio.Protocol``: it stamps the time when bytes arrive, parses frames (RFC 6455) with a
few slices, answers pings, and keeps the text messages for checking after the clock has stopped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from typing import Any

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked (client-to-server) frame."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        size, "big"
    )
    return header + mask + masked


class LeanSubscriber(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._handshake_done = False
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._message: asyncio.Future[None] | None = None
        self.messages: list[tuple[float, str]] = []  # (arrival, text) of every text message
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        arrived = time.monotonic()
        self._buffer += data
        if not self._handshake_done:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buffer[: self._buffer.find(b"\r\n")])
            del self._buffer[: end + 4]
            self._handshake_done = True
            if b" 101 " not in status:
                self._handshake.set_exception(RuntimeError(f"handshake refused: {status!r}"))
                return
            self._handshake.set_result(None)
        self._frames(arrived)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()

    # frames

    def _frames(self, arrived: float) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            size = buffer[1] & 0x7F
            start = 2
            if size == 126:
                if len(buffer) < 4:
                    return
                (size,) = struct.unpack_from("!H", buffer, 2)
                start = 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                (size,) = struct.unpack_from("!Q", buffer, 2)
                start = 10
            if len(buffer) < start + size:
                return
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            if opcode == OP_TEXT:
                self.messages.append((arrived, payload.decode()))
                self._wake()
            elif opcode == OP_PING:
                self._send(OP_PONG, payload)
            elif opcode == OP_CLOSE and self.transport is not None:
                self.transport.close()

    def _wake(self) -> None:
        if self._message is not None and not self._message.done():
            self._message.set_result(None)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    # graphql-transport-ws

    def send_json(self, message: dict[str, Any]) -> None:
        self._send(OP_TEXT, json.dumps(message).encode())

    async def next_message(self, within: float) -> tuple[float, dict[str, Any]]:
        """The oldest text message not yet taken, decoded, with the time its bytes arrived."""
        async with asyncio.timeout(within):
            while not self.messages:
                if self.closed.done():
                    raise ConnectionError("the server closed the connection")
                self._message = asyncio.get_running_loop().create_future()
                await self._message
        arrived, text = self.messages.pop(0)
        message: dict[str, Any] = json.loads(text)
        return arrived, message

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(OP_CLOSE, struct.pack("!H", 1000))
            self.transport.close()


async def subscribe(
    host: str, port: int, token: str, query: str, *, within: float = 60
) -> LeanSubscriber:
    """Connect, sign in with ``token`` and subscribe to ``query`` as operation "1"."""
    loop = asyncio.get_running_loop()
    _transport, client = await loop.create_connection(LeanSubscriber, host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    assert client.transport is not None
    client.transport.write(
        (
            f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
    )
    try:
        async with asyncio.timeout(within):
            await client._handshake
        client.send_json({"type": "connection_init", "payload": {"token": token}})
        _arrived, ack = await client.next_message(within)
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"not acknowledged: {ack}")
        client.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
    except BaseException:
        client.close()
        raise
    return client
