"""Production mode on a real server: websocket handshakes from other origins are refused, the
allowed origin and non-browser clients (no Origin) get through; GraphiQL is not served."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

pytestmark = pytest.mark.e2e

ALLOWED = "https://app.gesso.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("prod"), {**PRODUCTION, "GESSO_ALLOWED_ORIGINS": ALLOWED}
    ).start()
    yield live
    live.stop()
    assert "Traceback" not in live.log(), live.log()


async def test_a_cross_origin_websocket_handshake_is_refused(server: LiveServer) -> None:
    # when a page on another site opens a websocket to the API
    with pytest.raises(InvalidStatus) as refused:
        await Subscriber.open(server.ws_url, None, origin="https://evil.example")
    # then the handshake itself is refused
    assert refused.value.response.status_code == 403


async def test_the_allowed_origin_may_open_a_websocket(server: LiveServer) -> None:
    subscriber = await Subscriber.open(server.ws_url, "not-a-token", origin=ALLOWED)
    # the handshake passes; the bad token is then what closes it
    with pytest.raises(ConnectionClosed) as closed:
        await subscriber.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


def test_graphiql_is_not_served_in_production(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()
    assert httpx.get(f"{server.url}/graphiql/graphiql.min.js").status_code == 404


async def test_a_hostile_home_feed_subscription_is_refused(server: LiveServer) -> None:
    # given a signed-in client on a websocket
    async with GraphQLClient.for_url(server.url) as gql:
        await gql.sign_up("wanda")
        token = gql.token_of("wanda")
    subscriber = await Subscriber.open(server.ws_url, token)
    await subscriber.acknowledged()
    # when it subscribes to the home feed with an alias bomb (the fast lane's own document)
    aliases = " ".join(f"k{n}: kind" for n in range(101))
    op = await subscriber.subscribe(f"subscription {{ homeFeed {{ cursor {aliases} }} }}")
    # then the subscription is refused with the limit, not served
    refused = await subscriber.receive()
    assert refused == {
        "id": op,
        "type": "error",
        "payload": [
            {
                "message": "101 aliases found. Allowed: 100",
                "extensions": {"code": "TOO_MANY_ALIASES"},
            }
        ],
    }
    await subscriber.close()
