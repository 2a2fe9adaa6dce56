"""Two API processes on a real three-node Redis Cluster with sharded pub/sub."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.cluster import RedisClusterProcesses
from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient

pytestmark = pytest.mark.e2e

HOME_FEED = "subscription { homeFeed { kind post { text author { handle } } } }"
CREATE_POST = "mutation($t: String!) { createPost(input: {text: $t}) { errors { code } } }"
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"


async def test_subscribe_on_one_process_post_on_another_through_the_cluster(
    tmp_path: Path,
) -> None:
    # given a three-node Redis Cluster and two app processes sharing it and one database
    cluster = RedisClusterProcesses(tmp_path / "cluster").start()
    env = {
        "REDIS_URL": cluster.url,
        "GESSO_REDIS_CLUSTER": "true",
        "GESSO_REDIS_SHARDED": "true",
        "DATABASE_URL": f"sqlite://{tmp_path / 'shared.sqlite3'}",
    }
    first = LiveServer(tmp_path, env).start()
    second = LiveServer(tmp_path, env).start()
    try:
        async with GraphQLClient.for_url(second.url) as writer:
            await writer.sign_up("cluster_fan")
            artist_id = await writer.sign_up("cluster_artist")
            followed = await writer.execute(FOLLOW, {"u": artist_id}, as_="cluster_fan")
            assert followed.data["follow"]["errors"] == []
            # and a fan subscribed to the home feed on the first process
            fan = await Subscriber.open(first.ws_url, writer.token_of("cluster_fan"))
            await fan.acknowledged()
            await fan.subscribe(HOME_FEED)
            # (the subscription listens on its shard once its task runs: give a loaded machine
            # time for that; the second below is the delivery's, from the post on)
            await asyncio.sleep(1.5)
            # when the artist posts through the second process
            started = time.monotonic()
            posted = await writer.execute(CREATE_POST, {"t": "sharded"}, as_="cluster_artist")
            assert posted.data["createPost"]["errors"] == []
            # then the fan hears it within a second
            event = (await fan.next_data(within=2))["homeFeed"]
            assert event == {
                "kind": "ADDED",
                "post": {"text": "sharded", "author": {"handle": "cluster_artist"}},
            }
            assert time.monotonic() - started < 1.0
            await fan.close()
    finally:
        first.stop()
        second.stop()
        cluster.stop()
    assert "Traceback" not in first.log() + second.log()
