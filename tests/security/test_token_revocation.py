"""A websocket lives as long as its token: logOut (on any process) and expiry close it with 4401,
and nothing more reaches it; sockets of the same account's other tokens stay open."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from resolvers.accounts import hash_token
from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient
from tests.services import RedisProcess

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"
TOKEN_ENDED = 4401
HOME_FEED = "subscription { homeFeed { kind post { text visibility } } }"
NOTIFICATIONS = "subscription { notifications { kind actor { handle } } }"
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
LOG_IN = "mutation($i: LogInInput!) { logIn(input: $i) { token errors { code } } }"
LOG_OUT = "mutation { logOut { errors { code } } }"
CREATE_POST = (
    "mutation($t: String!) { createPost(input: {text: $t, visibility: FOLLOWERS}) "
    "{ errors { code } } }"
)


async def _second_token(gql: GraphQLClient, handle: str) -> str:
    """Another token of the same account (another device)."""
    logged = await gql.execute(LOG_IN, {"i": {"login": handle, "password": "correct horse"}})
    token: str = logged.data["logIn"]["token"]
    return token


async def _log_out(gql: GraphQLClient, token: str) -> None:
    result = await gql.execute(LOG_OUT, headers={"Authorization": f"Bearer {token}"})
    assert result.data["logOut"]["errors"] == []


async def _post(gql: GraphQLClient, token: str, text: str) -> None:
    posted = await gql.execute(
        CREATE_POST, {"t": text}, headers={"Authorization": f"Bearer {token}"}
    )
    assert posted.data["createPost"]["errors"] == []


async def _signed_in(ws_url: str, token: str, *queries: str) -> Subscriber:
    subscriber = await Subscriber.open(ws_url, token)
    await subscriber.acknowledged()
    for query in queries:
        await subscriber.subscribe(query)
    return subscriber


async def _closed(subscriber: Subscriber, within: float) -> tuple[int, str]:
    """The close code and reason of a socket the server closes within ``within`` seconds; no
    event may arrive before it."""
    deadline = time.monotonic() + within
    while True:
        try:
            message = await subscriber.receive(within=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            frame = closed.rcvd
            break
        assert message["type"] not in ("next", "data"), f"delivered after revocation: {message}"
    assert frame is not None, "the connection ended without a close frame"
    return frame.code, frame.reason


def _expire_soon(database: Path, token: str, seconds: float) -> None:
    """Make a token expire in ``seconds`` (as the application writes datetimes to SQLite)."""
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        (stored,) = db.execute(
            "SELECT expires_at FROM auth_tokens WHERE token_hash = ?", (hash_token(token),)
        ).fetchone()
        soon = datetime.now(UTC) + timedelta(seconds=seconds)
        written = soon.isoformat(sep=" " if " " in str(stored) else "T")
        db.execute(
            "UPDATE auth_tokens SET expires_at = ? WHERE token_hash = ?",
            (written, hash_token(token)),
        )


async def _pair(gql: GraphQLClient, fan: str, artist: str) -> None:
    await gql.sign_up(fan)
    artist_id = await gql.sign_up(artist)
    followed = await gql.execute(FOLLOW, {"u": artist_id}, as_=fan)
    assert followed.data["follow"]["errors"] == []


async def _fan_on_two_devices(
    gql: GraphQLClient, ws_url: str, fan: str, artist: str
) -> tuple[str, Subscriber, Subscriber]:
    """A fan following an artist, with the feed open on a phone (also notifications) and a
    laptop, signed in with two tokens: the phone's token and both sockets."""
    await _pair(gql, fan, artist)
    phone, laptop = gql.token_of(fan), await _second_token(gql, fan)
    on_phone = await _signed_in(ws_url, phone, HOME_FEED, NOTIFICATIONS)
    on_laptop = await _signed_in(ws_url, laptop, HOME_FEED)
    await asyncio.sleep(0.3)
    return phone, on_phone, on_laptop


async def _log_out_ends(gql: GraphQLClient, token: str, socket: Subscriber) -> None:
    """Log ``token`` out: ``socket`` is closed within a second with 4401 TOKEN_REVOKED."""
    started = time.monotonic()
    await _log_out(gql, token)
    code, reason = await _closed(socket, within=1.0)
    assert time.monotonic() - started < 1.0
    assert (code, reason.split(":")[0]) == (TOKEN_ENDED, "TOKEN_REVOKED")


async def test_log_out_and_expiry_end_the_sockets_of_that_token_only(tmp_path: Path) -> None:
    # given one server process (the in-process broker) on a database the test can edit
    database = tmp_path / "gesso.sqlite3"
    server = LiveServer(tmp_path, {"DATABASE_URL": f"sqlite://{database}"}).start()
    try:
        async with GraphQLClient.for_url(server.url) as gql:
            # and a fan's feed and notifications open on two devices (two tokens)
            phone, on_phone, on_laptop = await _fan_on_two_devices(
                gql, server.ws_url, "rev_fan", "rev_artist"
            )
            # when the phone logs out, then its socket is closed within a second, saying why
            await _log_out_ends(gql, phone, on_phone)
            # and the laptop's socket (another token) stays open and live
            await _post(gql, gql.token_of("rev_artist"), "followers only")
            event = (await on_laptop.next_data(within=2))["homeFeed"]
            assert event["post"] == {"text": "followers only", "visibility": "FOLLOWERS"}

            # given a socket whose token is revoked right after it signed in
            tablet = await _second_token(gql, "rev_fan")
            on_tablet = await _signed_in(server.ws_url, tablet)
            await _log_out(gql, tablet)
            # when it subscribes anyway and an event follows
            with contextlib.suppress(ConnectionClosed):
                await on_tablet.subscribe(HOME_FEED)
            await _post(gql, gql.token_of("rev_artist"), "not for a revoked token")
            # then nothing is delivered and the socket is closed
            assert (await _closed(on_tablet, within=1.0))[0] == TOKEN_ENDED
            event = (await on_laptop.next_data(within=2))["homeFeed"]
            assert event["post"]["text"] == "not for a revoked token"

            # given a socket of the legacy protocol, when its token is revoked, it ends the same
            legacy_token = await _second_token(gql, "rev_fan")
            legacy = await Subscriber.open(server.ws_url, legacy_token, protocol="graphql-ws")
            await legacy.acknowledged()
            await legacy.subscribe(NOTIFICATIONS)
            await _log_out_ends(gql, legacy_token, legacy)

            # given a socket whose token expires in two seconds
            watch = await _second_token(gql, "rev_fan")
            _expire_soon(database, watch, 2.0)
            on_watch = await _signed_in(server.ws_url, watch, NOTIFICATIONS)
            opened = time.monotonic()
            # then it is closed at the expiry, without any message to provoke it
            code, reason = await _closed(on_watch, within=3.0)
            assert 1.0 < time.monotonic() - opened < 3.0
            assert code == TOKEN_ENDED
            assert reason.startswith("TOKEN_EXPIRED")

            # and the laptop is still live after all that
            await _post(gql, gql.token_of("rev_artist"), "still here")
            event = (await on_laptop.next_data(within=2))["homeFeed"]
            assert event["post"]["text"] == "still here"
            await on_laptop.close()
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


async def test_log_out_on_one_process_closes_the_socket_on_another(tmp_path: Path) -> None:
    # given two server processes sharing Redis and one database
    env = {"REDIS_URL": REDIS_URL, "DATABASE_URL": f"sqlite://{tmp_path / 'shared.sqlite3'}"}
    first = LiveServer(tmp_path, env).start()
    second = LiveServer(tmp_path, env).start()
    try:
        async with (
            GraphQLClient.for_url(first.url) as on_first,
            GraphQLClient.for_url(second.url) as on_second,
        ):
            # and a fan's sockets (two tokens) on the second process
            phone, on_phone, on_laptop = await _fan_on_two_devices(
                on_first, second.ws_url, "far_fan", "far_artist"
            )
            # when the phone logs out through the first process, then its socket on the second
            # process is closed within a second
            await _log_out_ends(on_first, phone, on_phone)
            # and the other token's socket stays open and live
            await _post(on_second, on_first.token_of("far_artist"), "still live")
            event = (await on_laptop.next_data(within=2))["homeFeed"]
            assert event["post"]["text"] == "still live"
            await on_laptop.close()
    finally:
        first.stop()
        second.stop()
    assert "Traceback" not in first.log() + second.log()


async def test_a_revocation_lost_to_a_redis_outage_ends_the_socket_when_redis_returns(
    tmp_path: Path,
) -> None:
    # given a server on a Redis of its own, and a fan signed in on two devices
    redis = RedisProcess(tmp_path)
    redis.start()
    server = LiveServer(tmp_path, {"REDIS_URL": redis.url}).start()
    try:
        async with GraphQLClient.for_url(server.url) as gql:
            await _pair(gql, "gap_fan", "gap_artist")
            phone, laptop = gql.token_of("gap_fan"), await _second_token(gql, "gap_fan")
            on_phone = await _signed_in(server.ws_url, phone)
            on_laptop = await _signed_in(server.ws_url, laptop)
            # when the phone logs out while Redis is down (the revocation is never published)
            redis.stop()
            await asyncio.sleep(0.5)
            await _log_out(gql, phone)
            # then, once Redis is back, the held tokens are looked up and the phone is closed
            redis.start()
            code, reason = await _closed(on_phone, within=15.0)
            assert (code, reason.split(":")[0]) == (TOKEN_ENDED, "TOKEN_REVOKED")
            # and the laptop stays signed in and live
            await on_laptop.subscribe(HOME_FEED)
            await asyncio.sleep(0.3)
            await _post(gql, gql.token_of("gap_artist"), "after the outage")
            event = (await on_laptop.next_data(within=5))["homeFeed"]
            assert event["post"]["text"] == "after the outage"
            await on_laptop.close()
    finally:
        server.stop()
        redis.stop()
    assert "Traceback" not in server.log(), server.log()
