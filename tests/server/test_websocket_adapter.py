"""The websocket adapter's sends once the client is gone."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState

from server.websockets import WebSocketAdapter


class _View:
    def encode_json(self, message: object) -> str:
        return str(message)


class _GoneClient:
    """A socket whose client disconnected first: the server still thinks it is open, and each
    send fails as uvicorn's does (starlette turns it into WebSocketDisconnect 1006)."""

    application_state = WebSocketState.CONNECTED

    def __init__(self) -> None:
        self.sends = 0

    async def send_text(self, data: str) -> None:
        self.sends += 1
        raise WebSocketDisconnect(code=1006)


async def test_a_send_to_a_client_that_went_away_is_dropped_quietly() -> None:
    # given an operation's message for a client that disconnected first
    gone = _GoneClient()
    adapter = WebSocketAdapter(_View(), gone, gone)  # type: ignore[arg-type]
    message: dict[str, Any] = {"type": "next", "id": "1", "payload": {"data": {}}}
    # then sending it raises nothing (Strawberry logged a traceback per operation), and it was tried
    await adapter.send_json(message)
    assert gone.sends == 1
