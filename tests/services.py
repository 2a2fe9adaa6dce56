"""Real service processes that tests start on loopback ports of their own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import redis

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer


def await_answer(
    process: subprocess.Popen[bytes],
    probe: Callable[[], object],
    *,
    what: str,
    seconds: float,
    log: Callable[[], str],
) -> None:
    """Wait until ``probe`` stops raising httpx.TransportError; fail the test with ``log`` if
    ``process`` exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log()}")
        try:
            probe()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not answer within {seconds:g} s:\n{log()}")
            time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """Terminate ``process``, killing it if it has not ended after ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A throwaway ``redis-server`` that a test may stop and start again on the same port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class MotoServer:
    """moto's S3-compatible HTTP server in a thread of this process, on a loopback port of its
    own; a test may stop it to simulate an outage.

    moto keeps its state in memory per process, so every server started here sees the same
    buckets: tests use bucket names of their own.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Imported here: moto takes most of a second to import, which tests not using it skip.
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()  # returns once the port is bound

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


REPO = Path(__file__).resolve().parents[1]


def gesso(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``gesso ARGS`` run as a user would, in ``cwd``, with no GESSO_ setting of the test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
