"""A Redis that hangs (accepts, never answers) costs a request a bounded wait, never the request:
rate limits are not enforced meanwhile, a post is saved and answered, the server starts, and when
Redis answers again limits hold and the live feed delivers what was posted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.broker import BrokerUnavailable, RedisBroker
from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient
from tests.services import RedisProcess

TYPENAME = {"query": "{ __typename }"}
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
HOME_FEED = "subscription { homeFeed { kind post { text } } }"
CREATE_POST = (
    "mutation($t: String!) { createPost(input: {text: $t}) { post { text } errors { code } } }"
)


@contextlib.contextmanager
def hung(redis: RedisProcess) -> Iterator[None]:
    """The server stopped with SIGSTOP: connections are accepted by the kernel, nothing answers."""
    assert redis.process is not None
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_rate_limits_fail_open_while_redis_hangs_and_hold_again_after(
    clean_db: str, redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gesso.ratelimit")
    environ = {"REDIS_URL": redis.url, "GESSO_RATE_LIMITS": "ip=3/1m"}
    async with GraphQLClient.for_app(**environ) as site:
        # given a client that has used up its limit
        before = [(await site.http.post("/graphql", json=TYPENAME)).status_code for _ in range(4)]
        # when Redis hangs, its requests are served (unlimited), each within a bounded wait
        with hung(redis):
            started = time.monotonic()
            async with asyncio.timeout(10):
                during = [await site.http.post("/graphql", json=TYPENAME) for _ in range(5)]
            took = time.monotonic() - started
        # and once it answers again, the count it kept applies again
        await asyncio.sleep(1.1)  # the store asks Redis again a second after a failure
        after = await site.http.post("/graphql", json=TYPENAME)
    assert before == [200, 200, 200, 429]
    assert [r.status_code for r in during] == [200] * 5
    assert all("ratelimit" not in r.headers for r in during)
    # one timeout, then the store does not ask a hung Redis again for a while
    assert took < 2.0, took
    assert after.status_code == 429
    # and the outage was logged once when it began and once when it ended
    assert [r.getMessage() for r in caplog.records if r.name == "gesso.ratelimit"] == [
        "rate limits not enforced, their store is unavailable: no answer within 1.0 s",
        "rate limits enforced again, their store answers",
    ]


@pytest.mark.e2e
async def test_a_post_is_saved_while_redis_hangs_and_its_followers_see_it_after(
    tmp_path: Path, redis: RedisProcess
) -> None:
    # given a server on Redis, and a follower watching their live home feed
    env = {"DATABASE_URL": f"sqlite://{tmp_path / 'gesso.sqlite3'}", "REDIS_URL": redis.url}
    server = LiveServer(tmp_path, env).start()
    try:
        async with GraphQLClient.for_url(server.url) as site:
            await site.sign_up("hang_fan")
            artist_id = await site.sign_up("hang_artist")
            followed = await site.execute(FOLLOW, {"u": artist_id}, as_="hang_fan")
            assert followed.data["follow"]["errors"] == []
            fan = await Subscriber.open(server.ws_url, site.token_of("hang_fan"))
            await fan.acknowledged()
            await fan.subscribe(HOME_FEED)
            await asyncio.sleep(0.5)  # the subscription is listening
            # when the artist posts while Redis hangs
            with hung(redis):
                started = time.monotonic()
                posted = await asyncio.wait_for(
                    site.execute(CREATE_POST, {"t": "made in the dark"}, as_="hang_artist"), 10
                )
                took = time.monotonic() - started
                # (nothing can be delivered while Redis hangs)
                with pytest.raises(TimeoutError):
                    await fan.next_data(within=0.5)
            # then the post was saved and answered within the bounded waits (a rate-limit
            # timeout, then the publish timeout), not held as long as Redis hangs
            assert posted.data["createPost"] == {"post": {"text": "made in the dark"}, "errors": []}
            assert took < 5.0, took
            # and once Redis answers again, the follower's live feed delivers it
            event = (await fan.next_data(within=10))["homeFeed"]
            assert event == {"kind": "ADDED", "post": {"text": "made in the dark"}}
            await fan.close()
    finally:
        server.stop()
    assert "rate limits not enforced" in server.log()


async def test_the_broker_starts_on_a_hung_redis_and_goes_live_when_it_answers(
    redis: RedisProcess,
) -> None:
    broker = RedisBroker(redis.url, reconnect_delays=(0.1,))
    try:
        with hung(redis):
            # when the server starts while Redis hangs, its start is not held
            started = time.monotonic()
            await asyncio.wait_for(broker.start(), 10)
            took = time.monotonic() - started
            assert not broker.available
            # and a publish fails, in bounded time, rather than waiting
            with pytest.raises(BrokerUnavailable):
                await asyncio.wait_for(broker.publish("test:hung", b"lost"), 5)
        assert took < 4.0, took
        # then once Redis answers, live delivery begins
        await asyncio.wait_for(broker.wait_available(), 10)
        listener = broker.listener()
        await listener.add(["test:hung"])
        await broker.publish("test:hung", b"hello")
        assert await asyncio.wait_for(listener.get(), 5) == ("test:hung", b"hello")
        await listener.close()
    finally:
        await broker.close()
