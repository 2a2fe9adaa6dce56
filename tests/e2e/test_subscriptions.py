"""Live feeds over real websockets, against real uvicorn processes and a real Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient
from tests.images import photo
from tests.services import RedisProcess

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"
HOME_FEED = """subscription($after: String) {
  homeFeed(after: $after) {
    kind cursor deletedPostId
    post { id text author { handle isFollowedByViewer } artworks { title } viewerHasLiked }
  }
}"""
NOTIFICATIONS = """subscription { notifications {
  kind actor { handle } post { text } artwork { title } comment { text }
} }"""
CREATE_POST = (
    "mutation($t: String!) { createPost(input: {text: $t}) { post { id } errors { code } } }"
)
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("ws"), {"REDIS_URL": REDIS_URL}).start()
    yield live
    live.stop()
    assert "Traceback" not in live.log(), live.log()


async def _post(gql: GraphQLClient, handle: str, text: str) -> str:
    result = await gql.execute(CREATE_POST, {"t": text}, as_=handle)
    assert result.data["createPost"]["errors"] == []
    return str(result.data["createPost"]["post"]["id"])


async def _pair(gql: GraphQLClient, follower: str, artist: str) -> None:
    await gql.sign_up(follower)
    artist_id = await gql.sign_up(artist)
    followed = await gql.execute(FOLLOW, {"u": artist_id}, as_=follower)
    assert followed.data["follow"]["errors"] == []


async def test_follower_receives_new_posts_and_tombstones(server: LiveServer) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await _pair(gql, "sub_fan", "sub_artist")
        fan = await Subscriber.open(server.ws_url, gql.token_of("sub_fan"))
        await fan.acknowledged()
        op = await fan.subscribe(HOME_FEED)
        await asyncio.sleep(0.3)  # the subscription is registered before the post

        started = time.monotonic()
        post_id = await _post(gql, "sub_artist", "live paint")
        event = (await fan.next_data(within=2))["homeFeed"]
        assert time.monotonic() - started < 1.0
        assert event["kind"] == "ADDED"
        assert event["post"] == {
            "id": post_id,
            "text": "live paint",
            "author": {"handle": "sub_artist", "isFollowedByViewer": True},
            "artworks": [],
            "viewerHasLiked": False,
        }
        # the fan's own posts arrive too
        await _post(gql, "sub_fan", "my own")
        assert (await fan.next_data())["homeFeed"]["post"]["text"] == "my own"

        deleted = await gql.execute(
            "mutation($p: ID!) { deletePost(id: $p) { deletedId } }",
            {"p": post_id},
            as_="sub_artist",
        )
        assert deleted.data["deletePost"]["deletedId"] == post_id
        tombstone = (await fan.next_data())["homeFeed"]
        assert tombstone["kind"] == "DELETED"
        assert tombstone["deletedPostId"] == post_id
        assert tombstone["post"] is None

        # after unsubscribing nothing more arrives
        await fan.complete(op)
        await _post(gql, "sub_artist", "after complete")
        with pytest.raises(TimeoutError):
            await fan.receive(within=0.7)
        await fan.close()


async def test_strangers_posts_do_not_arrive_until_followed(server: LiveServer) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await gql.sign_up("late_fan")
        artist_id = await gql.sign_up("late_artist")
        fan = await Subscriber.open(server.ws_url, gql.token_of("late_fan"))
        await fan.acknowledged()
        await fan.subscribe(HOME_FEED)
        await asyncio.sleep(0.3)
        await _post(gql, "late_artist", "before the follow")
        with pytest.raises(TimeoutError):
            await fan.receive(within=0.7)
        await gql.execute(FOLLOW, {"u": artist_id}, as_="late_fan")
        await asyncio.sleep(0.3)  # the follow reaches the open subscription
        await _post(gql, "late_artist", "after the follow")
        assert (await fan.next_data())["homeFeed"]["post"]["text"] == "after the follow"
        await fan.close()


async def test_resume_replays_what_was_missed_without_gaps_or_duplicates(
    server: LiveServer,
) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await _pair(gql, "resume_fan", "resume_artist")
        fan = await Subscriber.open(server.ws_url, gql.token_of("resume_fan"))
        await fan.acknowledged()
        await fan.subscribe(HOME_FEED)
        await asyncio.sleep(0.3)
        await _post(gql, "resume_artist", "one")
        cursor = (await fan.next_data())["homeFeed"]["cursor"]
        await fan.close()

        # while the fan is away
        for text in ("two", "three", "four"):
            await _post(gql, "resume_artist", text)

        fan = await Subscriber.open(server.ws_url, gql.token_of("resume_fan"))
        await fan.acknowledged()
        await fan.subscribe(HOME_FEED, {"after": cursor})
        replayed = [(await fan.next_data())["homeFeed"]["post"]["text"] for _ in range(3)]
        assert replayed == ["two", "three", "four"]
        await _post(gql, "resume_artist", "five")
        assert (await fan.next_data())["homeFeed"]["post"]["text"] == "five"
        with pytest.raises(TimeoutError):
            await fan.receive(within=0.7)  # no duplicate of anything
        await fan.close()


async def test_notifications_for_follows_likes_and_comments(server: LiveServer) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await gql.sign_up("notified_artist")
        artist = Subscriber.open(server.ws_url, gql.token_of("notified_artist"))
        sub = await artist
        await sub.acknowledged()
        await sub.subscribe(NOTIFICATIONS)
        await asyncio.sleep(0.3)
        post_id = await _post(gql, "notified_artist", "look at this")

        artist_id = (await gql.execute("{ viewer { id } }", as_="notified_artist")).data["viewer"][
            "id"
        ]
        await gql.sign_up("admirer")
        await gql.execute(FOLLOW, {"u": artist_id}, as_="admirer")
        await gql.execute(
            "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }",
            {"p": post_id},
            as_="admirer",
        )
        await gql.execute(
            "mutation($p: ID!) {"
            ' addComment(input: {subjectId: $p, text: "wow"}) { errors { code } } }',
            {"p": post_id},
            as_="admirer",
        )
        got = [(await sub.next_data())["notifications"] for _ in range(3)]
        assert got == [
            {
                "kind": "NEW_FOLLOWER",
                "actor": {"handle": "admirer"},
                "post": None,
                "artwork": None,
                "comment": None,
            },
            {
                "kind": "POST_LIKED",
                "actor": {"handle": "admirer"},
                "post": {"text": "look at this"},
                "artwork": None,
                "comment": None,
            },
            {
                "kind": "COMMENT",
                "actor": {"handle": "admirer"},
                "post": {"text": "look at this"},
                "artwork": None,
                "comment": {"text": "wow"},
            },
        ]
        # liking one's own post notifies nobody
        await gql.execute(
            "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }",
            {"p": post_id},
            as_="notified_artist",
        )
        with pytest.raises(TimeoutError):
            await sub.receive(within=0.7)
        await sub.close()


async def test_legacy_graphql_ws_protocol(server: LiveServer) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await _pair(gql, "legacy_fan", "legacy_artist")
        fan = await Subscriber.open(
            server.ws_url, gql.token_of("legacy_fan"), protocol="graphql-ws"
        )
        await fan.acknowledged()
        await fan.subscribe(HOME_FEED)
        await asyncio.sleep(0.3)
        await _post(gql, "legacy_artist", "old protocol")
        assert (await fan.next_data())["homeFeed"]["post"]["text"] == "old protocol"
        await fan.close()


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "send connection_init {authorization: 'Bearer <token>'}"),
        ("not-a-token", "the access token is invalid or was revoked"),
    ],
)
async def test_connection_without_a_valid_token_is_refused(
    server: LiveServer, token: str | None, reason: str
) -> None:
    fan = await Subscriber.open(server.ws_url, token)
    with pytest.raises(ConnectionClosed) as closed:
        await fan.receive()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, reason)


async def test_legacy_protocol_gets_a_connection_error_first(server: LiveServer) -> None:
    fan = await Subscriber.open(server.ws_url, "not-a-token", protocol="graphql-ws")
    message = await fan.receive()
    assert message == {
        "type": "connection_error",
        "payload": {
            "message": "the access token is invalid or was revoked",
            "code": "TOKEN_INVALID",
        },
    }


async def test_cross_origin_handshake_is_refused(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await Subscriber.open(server.ws_url, None, origin="https://evil.example")
    assert refused.value.response.status_code == 403


async def test_a_loopback_origin_may_open_a_websocket_in_development(server: LiveServer) -> None:
    # a frontend's development server (Vite on 5173, say) needs no GESSO_ALLOWED_ORIGINS
    async with GraphQLClient.for_url(server.url) as gql:
        await gql.sign_up("vite_dev")
        sub = await Subscriber.open(
            server.ws_url, gql.token_of("vite_dev"), origin="http://localhost:5173"
        )
        await sub.acknowledged()
        await sub.close()


async def test_subscriptions_per_connection_are_capped(server: LiveServer) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await gql.sign_up("greedy")
        sub = await Subscriber.open(server.ws_url, gql.token_of("greedy"))
        await sub.acknowledged()
        for _ in range(10):
            await sub.subscribe(NOTIFICATIONS)
        op = await sub.subscribe(NOTIFICATIONS)
        refused = await sub.receive()
        assert refused["type"] == "error"
        assert refused["id"] == op
        assert refused["payload"][0]["message"] == "Subscription limit reached"
        await sub.close()


async def test_two_processes_share_live_updates_through_redis(tmp_path: Path) -> None:
    env = {"REDIS_URL": REDIS_URL, "DATABASE_URL": f"sqlite://{tmp_path / 'shared.sqlite3'}"}
    first = LiveServer(tmp_path, env).start()
    second = LiveServer(tmp_path, env).start()
    try:
        async with GraphQLClient.for_url(second.url) as writer:
            await _pair(writer, "two_fan", "two_artist")
            fan = await Subscriber.open(first.ws_url, writer.token_of("two_fan"))
            await fan.acknowledged()
            await fan.subscribe(HOME_FEED)
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await _post(writer, "two_artist", "across processes")
            event = (await fan.next_data(within=2))["homeFeed"]
            assert event["post"]["text"] == "across processes"
            assert time.monotonic() - started < 1.0
            await fan.close()
    finally:
        first.stop()
        second.stop()


async def test_redis_outage_keeps_writes_and_subscribers_resume(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    live = LiveServer(tmp_path, {"REDIS_URL": redis.url}).start()
    try:
        async with GraphQLClient.for_url(live.url) as gql:
            await _pair(gql, "outage_fan", "outage_artist")
            fan = await Subscriber.open(live.ws_url, gql.token_of("outage_fan"))
            await fan.acknowledged()
            await fan.subscribe(HOME_FEED)
            await asyncio.sleep(0.3)
            await _post(gql, "outage_artist", "before")
            assert (await fan.next_data())["homeFeed"]["post"]["text"] == "before"

            # Redis goes away: writes and reads keep working
            redis.stop()
            await asyncio.sleep(0.5)
            await _post(gql, "outage_artist", "during")
            feed = await gql.execute("{ homeFeed(first: 1) { nodes { text } } }", as_="outage_fan")
            assert feed.data["homeFeed"]["nodes"] == [{"text": "during"}]

            # Redis returns: the subscriber gets what it missed, then live posts again
            redis.start()
            assert (await fan.next_data(within=15))["homeFeed"]["post"]["text"] == "during"
            await _post(gql, "outage_artist", "after")
            assert (await fan.next_data())["homeFeed"]["post"]["text"] == "after"
            await fan.close()
        assert "Traceback" not in live.log()
    finally:
        live.stop()
        redis.stop()


async def test_a_subscriber_that_stops_reading_is_disconnected(tmp_path: Path) -> None:
    live = LiveServer(tmp_path, {"REDIS_URL": REDIS_URL, "GESSO_SUBSCRIBER_INBOX": "8"}).start()
    publisher = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with GraphQLClient.for_url(live.url) as gql:
            await _pair(gql, "slow_fan", "slow_artist")
            artist_gid = (await gql.execute("{ viewer { id } }", as_="slow_artist")).data["viewer"][
                "id"
            ]
            artist_pk = int(base64.b64decode(artist_gid).decode().split(":")[1])
            fan = await Subscriber.open(live.ws_url, gql.token_of("slow_fan"))
            await fan.acknowledged()
            await fan.subscribe(HOME_FEED)
            await asyncio.sleep(0.3)
            # when 400 large posts arrive and the fan reads none of them
            for n in range(400):
                await publisher.publish(f"gesso:posts:{artist_pk}", _fake_post(artist_pk, n))
            # then the server drops the fan with a clear reason instead of buffering
            with pytest.raises(ConnectionClosed) as closed:
                await fan.drain()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4008
            assert closed.value.rcvd.reason.startswith("too slow: fell more than 8 messages behind")
        assert "Traceback" not in live.log()
    finally:
        await publisher.aclose()
        live.stop()


def _fake_post(author_id: int, n: int) -> bytes:
    now = "2026-01-01T00:00:00+00:00"
    return json.dumps(
        {
            "t": "post",
            "post": {
                "id": (1 << 40) + n,
                "author_id": author_id,
                "text": "x" * 2000,
                "reply_to_id": None,
                "visibility": "public",
                "like_count": 0,
                "comment_count": 0,
                "reply_count": 0,
                "created_at": now,
            },
            "author": {
                "id": author_id,
                "handle": "slow_artist",
                "display_name": "",
                "bio": "",
                "links": [],
                "open_for_commissions": False,
                "ai_training_policy": "disallowed",
                "follower_count": 1,
                "following_count": 0,
                "post_count": 0,
                "artwork_count": 0,
                "created_at": now,
            },
            "artworks": [],
        }
    ).encode()


async def test_documents_outside_the_shared_fields_still_work(server: LiveServer) -> None:
    # replyTo depends on what each viewer may see, so this document is executed per subscriber
    async with GraphQLClient.for_url(server.url) as gql:
        await _pair(gql, "reply_fan", "reply_artist")
        fan = await Subscriber.open(server.ws_url, gql.token_of("reply_fan"))
        await fan.acknowledged()
        await fan.subscribe(
            "subscription { homeFeed { post { text replyTo { text } author { handle } } } }"
        )
        await asyncio.sleep(0.3)
        first = await _post(gql, "reply_artist", "first")
        assert (await fan.next_data())["homeFeed"]["post"]["replyTo"] is None
        reply = await gql.execute(
            "mutation($r: ID!) {"
            ' createPost(input: {text: "second", replyTo: $r}) { errors { code } } }',
            {"r": first},
            as_="reply_artist",
        )
        assert reply.data["createPost"]["errors"] == []
        event = (await fan.next_data())["homeFeed"]["post"]
        assert event == {
            "text": "second",
            "replyTo": {"text": "first"},
            "author": {"handle": "reply_artist"},
        }
        await fan.close()


async def test_every_subscriber_of_an_event_gets_its_own_operation_id(server: LiveServer) -> None:
    # the payload text is shared and framed once per operation id (server.wsprotocol)
    async with GraphQLClient.for_url(server.url) as gql:
        await _pair(gql, "frame_fan_a", "frame_artist")
        await gql.sign_up("frame_fan_b")
        artist = await gql.execute('{ user(handle: "frame_artist") { id } }')
        await gql.execute(FOLLOW, {"u": artist.data["user"]["id"]}, as_="frame_fan_b")
        fans = [
            await Subscriber.open(server.ws_url, gql.token_of(handle))
            for handle in ("frame_fan_a", "frame_fan_b")
        ]
        ids = []
        for number, fan in enumerate(fans):
            assert fan.ws.protocol.extensions == []  # permessage-deflate is off by default
            await fan.acknowledged()
            for _ in range(number):  # fan b subscribes as operation 2
                await fan.complete(await fan.subscribe(HOME_FEED))
            ids.append(await fan.subscribe(HOME_FEED))
        await asyncio.sleep(0.3)
        await _post(gql, "frame_artist", "framed once")
        for fan, op_id in zip(fans, ids, strict=True):
            message = await fan.receive()
            assert (message["id"], message["type"]) == (op_id, "next")
            assert message["payload"]["data"]["homeFeed"]["post"]["text"] == "framed once"
            await fan.close()
        assert ids == ["1", "2"]


async def test_compressed_connections_receive_the_feed(tmp_path: Path) -> None:
    live = LiveServer(tmp_path, {"GESSO_WS_COMPRESSION": "true"}).start()
    try:
        async with GraphQLClient.for_url(live.url) as gql:
            await _pair(gql, "deflate_fan", "deflate_artist")
            fan = await Subscriber.open(live.ws_url, gql.token_of("deflate_fan"))
            assert [e.name for e in fan.ws.protocol.extensions] == ["permessage-deflate"]
            await fan.acknowledged()
            await fan.subscribe(HOME_FEED)
            await asyncio.sleep(0.3)
            await _post(gql, "deflate_artist", "squeezed")
            assert (await fan.next_data())["homeFeed"]["post"]["text"] == "squeezed"
            await fan.close()
    finally:
        live.stop()
    assert "Traceback" not in live.log(), live.log()


async def test_upload_progress_reaches_the_uploader(server: LiveServer) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await gql.sign_up("progress_artist")
        sub = await Subscriber.open(server.ws_url, gql.token_of("progress_artist"))
        await sub.acknowledged()
        await sub.subscribe(
            'subscription { uploadProgress(id: "u-1") {'
            " id stage progress done error code imageId } }"
        )
        await asyncio.sleep(0.3)
        created = await gql.upload(
            "mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {"
            " artwork { images { width } } errors { code } } }",
            {"i": {"title": "Progress", "images": [{"file": None, "uploadId": "u-1"}]}},
            {"i.images.0.file": ("p.jpg", photo(), "image/jpeg")},
            as_="progress_artist",
        )
        assert created.data["createArtwork"]["errors"] == []
        stages: list[dict[str, Any]] = []
        while not stages or not stages[-1]["done"]:
            stages.append((await sub.next_data(within=30))["uploadProgress"])
        assert [s["stage"] for s in stages] == [
            "queued",
            "ingest",
            "cloak",
            "watermark",
            "derivatives",
            "stored",
            "ready",
        ]
        image_id = stages[-1].pop("imageId")
        assert stages[-1] == {
            "id": "u-1",
            "stage": "ready",
            "progress": 1.0,
            "done": True,
            "error": None,
            "code": None,
        }
        await sub.close()
        # a subscriber that comes late (by the image's id) is told where the upload is, at once
        late = await Subscriber.open(server.ws_url, gql.token_of("progress_artist"))
        await late.acknowledged()
        await late.subscribe(
            "subscription($id: ID!) { uploadProgress(id: $id) { stage done } }", {"id": image_id}
        )
        assert (await late.next_data(within=10))["uploadProgress"] == {
            "stage": "ready",
            "done": True,
        }
        await late.close()


async def test_a_burst_of_websocket_connections_from_one_address_gets_429(
    tmp_path: Path,
) -> None:
    live = LiveServer(tmp_path, {"GESSO_RATE_LIMITS": "websocket=3/1m"}).start()
    try:
        async with GraphQLClient.for_url(live.url) as gql:
            await gql.sign_up("many_tabs")
            token = gql.token_of("many_tabs")
        # given three connections opened from one address (the limit)
        opened = [await Subscriber.open(live.ws_url, token) for _ in range(3)]
        for subscriber in opened:
            await subscriber.acknowledged()
        # when a fourth is opened within the minute
        with pytest.raises(InvalidStatus) as refused:
            await Subscriber.open(live.ws_url, token)
        # then the handshake is answered 429 with Retry-After and the RateLimit headers
        response = refused.value.response
        assert response.status_code == 429
        assert 0 < int(response.headers["Retry-After"]) <= 60
        assert response.headers["RateLimit-Policy"] == '"websocket";q=3;w=60'
        assert json.loads(response.body)["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # and the connections already open keep working
        for subscriber in opened:
            await subscriber.send({"type": "ping"})
            assert json.loads(await subscriber.ws.recv()) == {"type": "pong"}
            await subscriber.close()
    finally:
        live.stop()
    assert "Traceback" not in live.log(), live.log()


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_document_with_a_syntax_error_gets_an_error_message(
    server: LiveServer, protocol: str
) -> None:
    async with GraphQLClient.for_url(server.url) as gql:
        await gql.sign_up(f"typo_{protocol.replace('-', '_')}")
        sub = await Subscriber.open(
            server.ws_url, gql.token_of(f"typo_{protocol.replace('-', '_')}"), protocol=protocol
        )
        await sub.acknowledged()
        op = await sub.subscribe("subscription { homeFeed { kind ")
        message = await sub.receive()
        assert (message["type"], message["id"]) == ("error", op)
        errors = message["payload"] if protocol == "graphql-transport-ws" else [message["payload"]]
        assert len(errors) == 1
        assert errors[0]["message"].startswith("Syntax Error")
        # the connection stays usable
        op = await sub.subscribe(NOTIFICATIONS)
        await sub.complete(op)
        await sub.close()


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "send connection_init {authorization: 'Bearer <token>'}"),
        ("not-a-token", "the access token is invalid or was revoked"),
    ],
)
async def test_legacy_protocol_without_a_valid_token_is_closed_4403_with_a_reason(
    server: LiveServer, token: str | None, reason: str
) -> None:
    fan = await Subscriber.open(server.ws_url, token, protocol="graphql-ws")
    message = await fan.receive()
    assert message["type"] == "connection_error"
    assert message["payload"]["message"] == reason
    with pytest.raises(ConnectionClosed) as closed:
        await fan.receive()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, reason)
