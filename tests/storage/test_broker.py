"""The broker against real Redis (and in-process): fan-out, bounded inboxes, faults."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.broker import (
    Broker,
    BrokerInterrupted,
    BrokerUnavailable,
    InProcessBroker,
    ListenerOverflow,
    RedisBroker,
)
from tests.services import RedisProcess

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["in-process", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    instance: Broker = (
        InProcessBroker() if request.param == "in-process" else RedisBroker(REDIS_URL)
    )
    await instance.start()
    if isinstance(instance, RedisBroker):
        await asyncio.wait_for(instance.wait_available(), 5)
    yield instance
    await instance.close()


def _channel() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_every_listener_gets_the_same_payload_object(broker: Broker) -> None:
    channel = _channel()
    listeners = [broker.listener() for _ in range(50)]
    for listener in listeners:
        await listener.add([channel])
    await broker.publish(channel, b'{"n": 1}')
    received = [await asyncio.wait_for(listener.get(), 5) for listener in listeners]
    assert {payload for _, payload in received} == {b'{"n": 1}'}
    assert len({id(payload) for _, payload in received}) == 1  # serialised once
    for listener in listeners:
        await listener.close()
    assert broker.subscriber_count() == 0


async def test_listener_only_hears_its_channels_until_removed(broker: Broker) -> None:
    mine, other = _channel(), _channel()
    listener = broker.listener()
    await listener.add([mine])
    await broker.publish(other, b"not for me")
    await broker.publish(mine, b"one")
    assert await asyncio.wait_for(listener.get(), 5) == (mine, b"one")
    await listener.remove([mine])
    await broker.publish(mine, b"two")
    await asyncio.sleep(0.2)
    assert listener.pending() == 0
    await listener.close()


async def test_a_listener_that_falls_behind_is_dropped(broker: Broker) -> None:
    channel = _channel()
    slow, fast = broker.listener(maxsize=3), broker.listener(maxsize=100)
    await slow.add([channel])
    await fast.add([channel])
    for n in range(5):
        await broker.publish(channel, str(n).encode())
    got = [await asyncio.wait_for(fast.get(), 5) for _ in range(5)]
    assert [p for _, p in got] == [b"0", b"1", b"2", b"3", b"4"]
    with pytest.raises(ListenerOverflow, match="more than 3 messages behind"):
        await asyncio.wait_for(slow.get(), 5)
    assert slow.pending() == 0  # its inbox was released at once
    await fast.close()


async def test_redis_outage_interrupts_listeners_and_they_resume(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    broker = RedisBroker(server.url, reconnect_delays=(0.1,))
    await broker.start()
    try:
        await asyncio.wait_for(broker.wait_available(), 5)
        listener = broker.listener()
        await listener.add(["feed:1"])
        await broker.publish("feed:1", b"before")
        assert await asyncio.wait_for(listener.get(), 5) == ("feed:1", b"before")

        # when Redis goes away
        server.stop()
        with pytest.raises(BrokerInterrupted):
            await asyncio.wait_for(listener.get(), 10)
        with pytest.raises(BrokerUnavailable):
            await broker.publish("feed:1", b"lost")
        with pytest.raises(BrokerUnavailable):
            await broker.listener().add(["feed:2"])

        # then it comes back, and the listener resumes on its channels
        server.start()
        await asyncio.wait_for(listener.resume(), 15)
        await broker.publish("feed:1", b"after")
        assert await asyncio.wait_for(listener.get(), 5) == ("feed:1", b"after")
        await listener.close()
    finally:
        await broker.close()
        server.stop()


async def test_redis_unreachable_at_start_does_not_crash(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    broker = RedisBroker(server.url, reconnect_delays=(0.1,))
    await broker.start()  # nothing listens on that port yet
    try:
        assert not broker.available
        server.start()
        await asyncio.wait_for(broker.wait_available(), 15)
        listener = broker.listener()
        await listener.add(["x"])
        await broker.publish("x", b"hello")
        assert await asyncio.wait_for(listener.get(), 5) == ("x", b"hello")
        await listener.close()
    finally:
        await broker.close()
        server.stop()


async def test_sharded_pubsub_on_redis7(tmp_path: Path) -> None:
    broker = RedisBroker(REDIS_URL, sharded=True)
    await broker.start()
    try:
        await asyncio.wait_for(broker.wait_available(), 5)
        channel = _channel()
        listener = broker.listener()
        await listener.add([channel])
        await broker.publish(channel, b"sharded")
        assert await asyncio.wait_for(listener.get(), 5) == (channel, b"sharded")
        await listener.close()
    finally:
        await broker.close()
