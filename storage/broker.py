"""Pub/sub for live updates: one interface, two implementations.

* ``InProcessBroker`` for the embedded default (one process).
* ``RedisBroker``: every process keeps ONE subscriber connection to Redis and fans each message out
  to its local listeners, so the cost per open websocket is a small bounded inbox, not a Redis
  connection. ``sharded=True`` uses Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE) for Redis Cluster.

A payload is serialised once by the publisher; every local listener receives the same ``bytes``
object. Each listener's inbox is bounded: a listener that falls ``maxsize`` messages behind is
failed with ``ListenerOverflow`` and dropped, so a slow consumer can never grow memory.

The database is the source of truth and pub/sub only a doorbell: publish after the commit, and a
subscriber that was interrupted (``BrokerInterrupted``) replays what it missed from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger("gesso.broker")

DEFAULT_INBOX = 256
# A write must not wait long on a sick Redis: the row is committed, only the doorbell is late.
PUBLISH_TIMEOUT = 1.0
# Connecting the subscriber connection (at start and on each reconnection attempt) may take this
# long: a Redis that accepts connections and never answers must not hold the server's start.
CONNECT_TIMEOUT = 2.0
# On Redis Cluster, sharded subscriptions live on one connection per node and redis-py reads them
# round-robin, waiting up to this long on each: with N nodes an idle message waits at most
# (N - 1) x this before it is read.
SHARD_READ_WAIT = 0.1
# redis-py's words when its round-robin shard read meets a node connection still being opened.
NODE_CONNECTING = "pubsub connection not set"
SHARD_CONNECTING_WAIT = 0.01
# What RedisBroker puts before each payload: a marker byte and the publisher's wall-clock time, so
# a receiver can measure publish-to-delivery lag. A payload without the marker (an older process,
# redis-cli) is delivered as it is.
ENVELOPE_MARK = b"\x00"
_STAMP = struct.Struct("!d")
ENVELOPE_SIZE = len(ENVELOPE_MARK) + _STAMP.size


class BrokerError(Exception):
    """Base of the broker's errors."""


class BrokerUnavailable(BrokerError):
    """Redis cannot be reached; publishing failed or live delivery is interrupted."""


class BrokerInterrupted(BrokerUnavailable):
    """Delivery to a listener stopped because the connection to Redis was lost; messages published
    meanwhile were missed. Wait with ``Broker.wait_available`` and replay from the database."""


class ListenerOverflow(BrokerError):
    """The listener fell too far behind and was dropped."""


class Listener:
    """A subscriber's bounded inbox of ``(channel, payload)`` messages.

    Kept small on purpose (a list and at most one future, no deque or Event): a process holds one
    per open subscription, tens of thousands of them.
    """

    __slots__ = ("_broker", "_inbox", "_maxsize", "_waiter", "channels", "failure")

    def __init__(self, broker: Broker, maxsize: int) -> None:
        self._broker = broker
        self._inbox: list[tuple[str, bytes]] = []
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self.channels: set[str] = set()
        self.failure: BrokerError | None = None

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def deliver(self, channel: str, payload: bytes) -> None:
        if self.failure is not None:
            return
        if len(self._inbox) >= self._maxsize:
            self.fail(
                ListenerOverflow(f"fell more than {self._maxsize} messages behind live delivery")
            )
            self._inbox = []
            self._broker._forget(self)
            return
        self._inbox.append((channel, payload))
        self._wake()

    def fail(self, error: BrokerError) -> None:
        if self.failure is None:
            self.failure = error
            self._wake()

    def pending(self) -> int:
        return len(self._inbox)

    async def get(self) -> tuple[str, bytes]:
        """The next message; raises the listener's failure once its inbox is drained."""
        while not self._inbox:
            if self.failure is not None:
                raise self.failure
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._inbox.pop(0)

    async def add(self, channels: Iterable[str]) -> None:
        await self._broker._attach(self, set(channels) - self.channels)

    async def remove(self, channels: Iterable[str]) -> None:
        await self._broker._detach(self, set(channels) & self.channels)

    async def resume(self) -> None:
        """After ``BrokerInterrupted``: wait for the broker, then listen again on the same
        channels (the caller replays what it missed from the database)."""
        await self._broker.wait_available()
        channels, self.channels = set(self.channels), set()
        self.failure = None
        self._broker._listeners.add(self)
        await self._broker._attach(self, channels)

    async def close(self) -> None:
        await self._broker._detach(self, set(self.channels))
        self._broker._forget(self)


class Broker:
    """Local fan-out shared by both implementations; subclasses carry messages between processes."""

    def __init__(self) -> None:
        self._routes: dict[str, set[Listener]] = {}
        self._listeners: set[Listener] = set()
        self._available = asyncio.Event()
        self._available.set()

    @property
    def available(self) -> bool:
        return self._available.is_set()

    async def wait_available(self) -> None:
        await self._available.wait()

    async def start(self) -> None:
        """Connect; called once by the application's lifespan."""

    async def close(self) -> None:
        for listener in list(self._listeners):
            listener.fail(BrokerUnavailable("the server is shutting down"))
        self._routes.clear()
        self._listeners.clear()

    async def publish(self, channel: str, payload: bytes) -> None:
        raise NotImplementedError

    async def ping(self) -> None:
        """Raise ``BrokerUnavailable`` unless messages can cross between processes."""

    def listener(self, maxsize: int = DEFAULT_INBOX) -> Listener:
        listener = Listener(self, maxsize)
        self._listeners.add(listener)
        return listener

    def subscriber_count(self) -> int:
        return len(self._listeners)

    def _dispatch(self, channel: str, payload: bytes) -> None:
        for listener in tuple(self._routes.get(channel, ())):
            listener.deliver(channel, payload)

    async def _attach(self, listener: Listener, channels: set[str]) -> None:
        if listener.failure is not None:
            raise listener.failure
        fresh = [c for c in channels if c not in self._routes]
        for channel in channels:
            self._routes.setdefault(channel, set()).add(listener)
        listener.channels |= channels
        if fresh:
            try:
                await self._subscribe_remote(fresh)
            except BrokerUnavailable:
                await self._detach(listener, channels)
                raise

    async def _detach(self, listener: Listener, channels: set[str]) -> None:
        emptied = []
        for channel in channels:
            routes = self._routes.get(channel)
            if routes is None:
                continue
            routes.discard(listener)
            if not routes:
                del self._routes[channel]
                emptied.append(channel)
        listener.channels -= channels
        if emptied:
            with contextlib.suppress(BrokerUnavailable):
                await self._unsubscribe_remote(emptied)

    def _forget(self, listener: Listener) -> None:
        """Drop a listener from every route at once (overflow or close)."""
        for channel in listener.channels:
            routes = self._routes.get(channel)
            if routes is not None:
                routes.discard(listener)
        self._listeners.discard(listener)

    async def _subscribe_remote(self, channels: list[str]) -> None:
        """Start receiving ``channels`` from other processes (returns once confirmed)."""

    async def _unsubscribe_remote(self, channels: list[str]) -> None:
        """Stop receiving ``channels``."""


class InProcessBroker(Broker):
    """Delivers within this process only: the embedded default."""

    async def publish(self, channel: str, payload: bytes) -> None:
        self._dispatch(channel, payload)


class RedisBroker(Broker):
    """Redis pub/sub with one shared subscriber connection per process."""

    def __init__(
        self,
        url: str,
        *,
        sharded: bool = False,
        cluster: bool = False,
        reconnect_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0),
    ) -> None:
        super().__init__()
        self.url = url
        self.sharded = sharded
        self.cluster = cluster
        self._reconnect_delays = reconnect_delays
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._closing = False
        # Called with the seconds between a publish (in any process) and its arrival here.
        self.on_lag: Callable[[float], None] | None = None

    async def start(self) -> None:
        options: dict[str, Any] = {
            "socket_connect_timeout": 2,
            "socket_keepalive": True,
            "health_check_interval": 5,
            # A pooled connection that died with a restarted Redis is replaced, not reported.
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
            "retry_on_error": [RedisConnectionError],
        }
        if self.cluster:
            self._client = RedisCluster.from_url(self.url, **options)
        else:
            self._client = aioredis.Redis.from_url(self.url, **options)
        self._available.clear()
        try:
            await self._connect()
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("Redis unreachable at start (%r); live updates wait for it", error)
        self._reader = asyncio.create_task(self._read_forever(), name="redis-broker-reader")

    async def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await super().close()
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        if self._client is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._client.aclose()

    async def publish(self, channel: str, payload: bytes) -> None:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                envelope = ENVELOPE_MARK + _STAMP.pack(time.time()) + payload
                if self.sharded:
                    await self._client.spublish(channel, envelope)
                else:
                    await self._client.publish(channel, envelope)
        except (RedisError, OSError, TimeoutError) as error:
            raise BrokerUnavailable(f"cannot publish to Redis: {error}") from error

    async def ping(self) -> None:
        """Raise ``BrokerUnavailable`` unless Redis answers a PING (readiness checks)."""
        if self._client is None:
            raise BrokerUnavailable("the broker has not started")
        try:
            await self._client.ping()
        except (RedisError, OSError) as error:
            raise BrokerUnavailable(f"Redis does not answer: {error}") from error

    async def _connect(self) -> None:
        """Open the subscriber connection, within ``CONNECT_TIMEOUT`` (else ``TimeoutError``)."""
        pubsub = None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                if self.cluster:
                    # Learns the slot map; the cluster's pub/sub routes each shard channel with it.
                    await self._client.initialize()
                pubsub = self._client.pubsub()
                # Subscribe to a channel of our own first: redis-py reads nothing without one.
                await self._send(pubsub, True, ["gesso:broker:alive"])
                if self._routes:
                    await self._send(pubsub, True, list(self._routes))
        except BaseException:
            if pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            raise
        self._pubsub = pubsub
        self._available.set()

    async def _send(self, pubsub: Any, subscribe: bool, channels: list[str]) -> None:
        if self.sharded:
            method = pubsub.ssubscribe if subscribe else pubsub.sunsubscribe
        else:
            method = pubsub.subscribe if subscribe else pubsub.unsubscribe
        await method(*channels)

    async def _subscribe_remote(self, channels: list[str]) -> None:
        if not self.available or self._pubsub is None:
            raise BrokerUnavailable("live updates are unavailable: Redis cannot be reached")
        loop = asyncio.get_running_loop()
        waiting = []
        for channel in channels:
            future = self._confirmations.get(channel)
            if future is None or future.done():
                future = self._confirmations[channel] = loop.create_future()
            waiting.append(future)
        try:
            await self._send(self._pubsub, True, channels)
            async with asyncio.timeout(5):
                await asyncio.gather(*waiting)
        except (RedisError, OSError, TimeoutError) as error:
            raise BrokerUnavailable(f"cannot subscribe on Redis: {error!r}") from error

    async def _unsubscribe_remote(self, channels: list[str]) -> None:
        if self._pubsub is None or not self.available:
            return
        try:
            await self._send(self._pubsub, False, channels)
        except (RedisError, OSError) as error:
            raise BrokerUnavailable(str(error)) from error

    async def _read_forever(self) -> None:
        attempt = 0
        while not self._closing:
            if self._pubsub is None or not self.available:
                delay = self._reconnect_delays[min(attempt, len(self._reconnect_delays) - 1)]
                await asyncio.sleep(delay)
                attempt += 1
                try:
                    await self._connect()
                    log.info("reconnected to Redis; live updates resume")
                    attempt = 0
                except (RedisError, OSError, TimeoutError) as error:
                    log.debug("Redis still unreachable: %s", error)
                continue
            try:
                message = await self._next_message()
            except (RedisError, OSError) as error:
                self._interrupted(error)
                continue
            except Exception as error:
                # Whatever stops this loop must not leave listeners waiting forever on a dead
                # reader: they are told to resume, and the connection is made again.
                log.exception("the Redis reader failed; live listeners must resume")
                self._interrupted(error)
                continue
            if message is not None:
                self._handle(message)

    async def _next_message(self) -> dict[str, Any] | None:
        if self.cluster and self.sharded:
            # Shard channels are spread over one connection per node; get_message reads none.
            try:
                sharded: dict[str, Any] | None = await self._pubsub.get_sharded_message(
                    timeout=SHARD_READ_WAIT
                )
            except RuntimeError as error:
                if NODE_CONNECTING not in str(error):
                    raise
                # A subscription to a channel on a node not yet listened to has registered that
                # node's connection and is still opening it: the round-robin read reached it
                # first. The other nodes are read on the next turn, this one once it is open.
                await asyncio.sleep(SHARD_CONNECTING_WAIT)
                return None
            return sharded
        classic: dict[str, Any] | None = await self._pubsub.get_message(timeout=1.0)
        return classic

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if kind in ("message", "smessage"):
            self._dispatch(channel, self._opened(message["data"]))
        elif kind in ("subscribe", "ssubscribe"):
            future = self._confirmations.pop(channel, None)
            if future is not None and not future.done():
                future.set_result(None)

    def _opened(self, data: bytes) -> bytes:
        if len(data) < ENVELOPE_SIZE or data[:1] != ENVELOPE_MARK:
            return data
        if self.on_lag is not None:
            (published,) = _STAMP.unpack_from(data, 1)
            self.on_lag(max(0.0, time.time() - published))
        return data[ENVELOPE_SIZE:]

    def _interrupted(self, error: Exception) -> None:
        log.warning("lost the Redis connection (%s); live listeners must resume", error)
        self._available.clear()
        old, self._pubsub = self._pubsub, None
        if old is not None:
            task = asyncio.create_task(old.aclose())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        for future in self._confirmations.values():
            if not future.done():
                future.set_exception(BrokerUnavailable("Redis connection lost"))
        self._confirmations.clear()
        interrupted = BrokerInterrupted("live updates were interrupted: Redis connection lost")
        for listener in list(self._listeners):
            listener.fail(interrupted)
            self._forget(listener)
        self._routes.clear()
