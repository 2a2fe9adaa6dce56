"""A real three-node Redis Cluster on loopback ports, for tests of sharded pub/sub."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.services import free_port

CLUSTER_SLOTS = 16384


class RedisClusterProcesses:
    """Three ``redis-server --cluster-enabled yes`` primaries (no replicas) sharing the slots."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self.workdir = workdir
        self.ports = [free_port() for _ in range(nodes)]
        # The cluster bus defaults to port + 10000, which may be taken or past 65535.
        self.bus_ports = [free_port() for _ in range(nodes)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A URL naming one node: cluster clients discover the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> RedisClusterProcesses:
        self.processes = [self._spawn(index) for index in range(len(self.ports))]
        clients = [
            redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
            for port in self.ports
        ]
        try:
            for client in clients:
                _wait_for_ping(client)
            self._form(clients)
        except BaseException:
            self.stop()
            raise
        finally:
            for client in clients:
                client.close()
        return self

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        port, bus_port = self.ports[index], self.bus_ports[index]
        node_dir = self.workdir / f"node-{port}"
        node_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(bus_port),
                "--cluster-config-file",
                str(node_dir / "nodes.conf"),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(node_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop_node(self, index: int) -> None:
        """Stop one primary: its slots are unserved (no replica takes over) until it restarts."""
        process = self.processes[index]
        process.terminate()
        process.wait(timeout=10)

    def restart_node(self, index: int) -> None:
        """Start a stopped primary again on its port; it rejoins with its slots (its nodes.conf)
        and the test waits until every node agrees the cluster is ok."""
        self.processes[index] = self._spawn(index)
        clients = [
            redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
            for port in self.ports
        ]
        try:
            _wait_for_ping(clients[index])
            _wait_until_ok(clients)
        finally:
            for client in clients:
                client.close()

    def _form(self, clients: list[redis.Redis]) -> None:
        """Split the slots evenly, introduce the nodes, and wait until all agree it is ok."""
        share = CLUSTER_SLOTS // len(clients)
        for index, client in enumerate(clients):
            first = index * share
            last = CLUSTER_SLOTS - 1 if index == len(clients) - 1 else first + share - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)  # type: ignore[no-untyped-call]
        for port, bus_port in zip(self.ports[1:], self.bus_ports[1:], strict=True):
            clients[0].execute_command(  # type: ignore[no-untyped-call]
                "CLUSTER", "MEET", "127.0.0.1", port, bus_port
            )
        _wait_until_ok(clients)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes = []


def _wait_for_ping(client: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail("a redis-server of the cluster did not start")
            time.sleep(0.05)


def _wait_until_ok(clients: list[redis.Redis]) -> None:
    deadline = time.monotonic() + 30
    while True:
        states = [client.cluster("INFO") for client in clients]
        if all(state["cluster_state"] == "ok" for state in states):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the Redis Cluster did not reach cluster_state:ok: {states!r}")
        time.sleep(0.1)
