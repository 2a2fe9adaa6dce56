"""The Redis broker against a real three-node Redis Cluster (sharded and classic pub/sub)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio.cluster import _ClusterNodePoolAdapter
from redis.crc import key_slot

from storage.broker import RedisBroker
from tests.cluster import CLUSTER_SLOTS, RedisClusterProcesses


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    nodes = RedisClusterProcesses(tmp_path_factory.mktemp("cluster")).start()
    yield nodes
    nodes.stop()


def _channels_on_every_node(count: int) -> list[str]:
    """Channel names whose hash slots fall in each third of the slot range (one per node)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < count:
        name = f"test:cluster:{n}"
        found.setdefault(key_slot(name.encode()) * count // CLUSTER_SLOTS, name)
        n += 1
    return [found[i] for i in range(count)]


@pytest.mark.parametrize("sharded", [True, False], ids=["sharded", "classic"])
async def test_messages_cross_brokers_on_every_node(
    cluster: RedisClusterProcesses, sharded: bool
) -> None:
    # given two brokers (two processes' worth) on the cluster, one listening on a channel per node
    receiving = RedisBroker(cluster.url, sharded=sharded, cluster=True)
    sending = RedisBroker(cluster.url, sharded=sharded, cluster=True)
    await receiving.start()
    await sending.start()
    try:
        await asyncio.wait_for(receiving.wait_available(), 5)
        await asyncio.wait_for(sending.wait_available(), 5)
        channels = _channels_on_every_node(3)
        listener = receiving.listener()
        await listener.add(channels)
        # when the other broker publishes on each of them
        started = time.monotonic()
        for channel in channels:
            await sending.publish(channel, channel.encode())
        # then every message arrives, within a second
        received = [await asyncio.wait_for(listener.get(), 2) for _ in channels]
        assert sorted(received) == sorted((c, c.encode()) for c in channels)
        assert time.monotonic() - started < 1.0
        # and after removing one channel, only the others are heard
        await listener.remove(channels[:1])
        for channel in channels:
            await sending.publish(channel, b"again")
        again = [await asyncio.wait_for(listener.get(), 2) for _ in channels[1:]]
        assert sorted(again) == sorted((c, b"again") for c in channels[1:])
        assert listener.pending() == 0
        await listener.close()
    finally:
        await sending.close()
        await receiving.close()


async def test_subscribing_on_a_node_not_yet_listened_to_keeps_the_reader_alive(
    cluster: RedisClusterProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a sharded broker listening on one node, whose connections to a new node take 0.3 s
    # to open (a slow network: the reader's round-robin meets the half-made connection)
    receiving = RedisBroker(cluster.url, sharded=True, cluster=True)
    sending = RedisBroker(cluster.url, sharded=True, cluster=True)
    await receiving.start()
    await sending.start()
    opening = _ClusterNodePoolAdapter.get_connection

    async def slow_to_open(self: _ClusterNodePoolAdapter, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        return await opening(self, *args, **kwargs)

    try:
        await asyncio.wait_for(receiving.wait_available(), 5)
        await asyncio.wait_for(sending.wait_available(), 5)
        monkeypatch.setattr(_ClusterNodePoolAdapter, "get_connection", slow_to_open)
        channels = _channels_on_every_node(3)
        listener = receiving.listener()
        # when it subscribes to a channel on every node
        await asyncio.wait_for(listener.add(channels), 5)
        # then the reader is still running and every message published afterwards arrives
        assert receiving._reader is not None
        assert not receiving._reader.done()
        for channel in channels:
            await sending.publish(channel, b"after")
        received = [await asyncio.wait_for(listener.get(), 2) for _ in channels]
        assert sorted(received) == sorted((c, b"after") for c in channels)
        await listener.close()
    finally:
        await sending.close()
        await receiving.close()
