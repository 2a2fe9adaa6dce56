"""A real server's JSON logs and live metrics: request ids, operation names, no secrets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.live import LiveServer, Subscriber

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "Vermilion-Secret-7731"
SIGN_UP = """mutation SignMeUp($i: SignUpInput!) { signUp(input: $i) { errors { code } } }"""
LOG_IN = """mutation LetMeIn($i: LogInInput!) { logIn(input: $i) { token errors { code } } }"""
HOME_FEED = "subscription { homeFeed { kind post { text } } }"
CREATE_POST = "mutation Say($t: String!) { createPost(input: {text: $t}) { errors { code } } }"


def _lines(server: LiveServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def _metric(text: str, name: str) -> float:
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]
    assert len(values) == 1, (name, values)
    return values[0]


async def _post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], **headers: str
) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def test_logs_carry_request_ids_and_operations_and_never_secrets(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, {"REDIS_URL": REDIS_URL, "GESSO_LOG_FORMAT": "json"}).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            # given a sign-up with a request id of the client's, and a log-in without one
            credentials = {"handle": "logged", "email": "logged@example.com"}
            signed = await _post(
                http,
                SIGN_UP,
                {"i": {**credentials, "password": PASSWORD}},
                **{"X-Request-ID": "client-chosen-0001"},
            )
            logged = await _post(http, LOG_IN, {"i": {"login": "logged", "password": PASSWORD}})
            token = logged.json()["data"]["logIn"]["token"]
            bad_id = await _post(
                http, "{ viewer { handle } }", {}, **{"X-Request-ID": "no spaces\tallowed"}
            )
            await _post(http, "{ viewer { handle } }", {}, Authorization=f"Bearer {token}")
    finally:
        server.stop()
    # then the responses echo the request id: the client's when sane, else a fresh one
    assert signed.headers["x-request-id"] == "client-chosen-0001"
    assert len(logged.headers["x-request-id"]) == 32
    assert bad_id.headers["x-request-id"] not in ("no spaces\tallowed", "")
    # and every access line is JSON with the request id and the operation name
    access = [line for line in _lines(server) if line["logger"] == "gesso.access"]
    by_id = {line["request_id"]: line for line in access}
    assert by_id["client-chosen-0001"]["operation"] == "SignMeUp"
    assert by_id["client-chosen-0001"]["http"]["status"] == 200
    assert by_id[logged.headers["x-request-id"]]["operation"] == "LetMeIn"
    assert set(by_id["client-chosen-0001"]) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "operation",
        "http",
    }
    # and neither the password nor the token appears anywhere in the log
    text = server.log()
    assert PASSWORD not in text
    assert token not in text


async def test_live_metrics_count_sockets_subscriptions_and_broker_lag(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, {"REDIS_URL": REDIS_URL}).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await _post(
                http,
                SIGN_UP,
                {"i": {"handle": "gauged", "email": "g@example.com", "password": PASSWORD}},
            )
            logged = await _post(http, LOG_IN, {"i": {"login": "gauged", "password": PASSWORD}})
            token = logged.json()["data"]["logIn"]["token"]
            idle = (await http.get("/metrics")).text
            # given one subscriber on one socket
            subscriber = await Subscriber.open(server.ws_url, token)
            await subscriber.acknowledged()
            await subscriber.subscribe(HOME_FEED)
            await asyncio.sleep(0.3)
            live = (await http.get("/metrics")).text
            # when the subscriber's own post goes through Redis to it
            said = await _post(http, CREATE_POST, {"t": "hello"}, Authorization=f"Bearer {token}")
            assert said.json()["data"]["createPost"]["errors"] == []
            event = (await subscriber.next_data())["homeFeed"]
            assert event == {"kind": "ADDED", "post": {"text": "hello"}}
            delivered = (await http.get("/metrics")).text
            await subscriber.close()
            await asyncio.sleep(0.3)
            closed = (await http.get("/metrics")).text
    finally:
        server.stop()
    # then the gauges follow the socket and the lag of the delivery was measured
    assert _metric(idle, "gesso_websocket_connections") == 0.0
    assert _metric(idle, "gesso_live_subscriptions") == 0.0
    assert _metric(live, "gesso_websocket_connections") == 1.0
    # the home feed, and the listener for revocations of the tokens of this process's sockets
    # (kept once the first socket has signed in)
    assert _metric(live, "gesso_live_subscriptions") == 2.0
    assert _metric(live, "gesso_broker_delivery_lag_seconds_count") == 0.0
    assert _metric(delivered, "gesso_broker_delivery_lag_seconds_count") == 1.0
    assert _metric(delivered, "gesso_broker_delivery_lag_seconds_sum") < 1.0
    assert _metric(closed, "gesso_websocket_connections") == 0.0
    assert _metric(closed, "gesso_live_subscriptions") == 1.0
