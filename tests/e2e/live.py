"""Real server processes and a real websocket client, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.services import await_answer, free_port, stop_process

REPO = Path(__file__).resolve().parents[2]


# Every simulated user of a test comes from 127.0.0.1: per-address limits would count them as
# one client (per-account and write limits stay at their defaults).
ONE_ADDRESS_MANY_USERS = "ip=100000/5m,signup=100000/30m,login_ip=100000/5m,websocket=100000/5m"


class LiveServer:
    """``gesso serve`` in a subprocess, on a loopback port of its own."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> LiveServer:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GESSO_", "DATABASE_URL", "REDIS_URL", "FORWARDED_ALLOW_IPS"))
        }
        env["PYTHONPATH"] = str(REPO)
        env["GESSO_RATE_LIMITS"] = ONE_ADDRESS_MANY_USERS
        # An upload answers once its image is protected, so a test can read it next.
        env["GESSO_UPLOADS_WAIT"] = "true"
        # The server runs protection jobs itself, with or without REDIS_URL (no gesso worker).
        env["GESSO_JOBS"] = "embedded"
        env.update(self.extra_env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(self.port)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await_answer(
            self.process,
            lambda: httpx.get(f"{self.url}/graphql", headers={"Accept": "text/html"}, timeout=1),
            what="server",
            seconds=60,
            log=self.log,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=20)
            self.process = None


class Subscriber:
    """A graphql-transport-ws (or legacy graphql-ws) client on one websocket."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self._next_id = 0

    @classmethod
    async def open(
        cls,
        ws_url: str,
        token: str | None,
        *,
        protocol: str = "graphql-transport-ws",
        origin: str | None = None,
    ) -> Subscriber:
        ws = await connect(
            ws_url,
            subprotocols=[protocol],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            open_timeout=10,
            max_size=None,
        )
        subscriber = cls(ws, protocol)
        payload = {"authorization": f"Bearer {token}"} if token is not None else {}
        await subscriber.send({"type": "connection_init", "payload": payload})
        return subscriber

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = 5) -> dict[str, Any]:
        """The next message that is not a keep-alive."""
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), within)
            message: dict[str, Any] = json.loads(raw)
            if message["type"] in ("ka", "ping", "pong"):
                continue
            return message

    async def acknowledged(self) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "connection_ack", message
        return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._next_id += 1
        op_id = str(self._next_id)
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": op_id, "type": kind, "payload": payload})
        return op_id

    async def next_data(self, within: float = 5) -> dict[str, Any]:
        message = await self.receive(within)
        expected = "next" if self.protocol == "graphql-transport-ws" else "data"
        assert message["type"] == expected, message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def complete(self, op_id: str) -> None:
        kind = "complete" if self.protocol == "graphql-transport-ws" else "stop"
        await self.send({"id": op_id, "type": kind})

    async def drain(self, within: float = 10) -> None:
        """Read until the server closes the connection."""
        while True:
            await self.receive(within)

    async def close(self) -> None:
        await self.ws.close()
