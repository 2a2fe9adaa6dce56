"""A real server process on the embedded default, driven over HTTP like a frontend would."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.live import LiveServer
from tests.graphql import GraphQLClient

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``gesso serve`` with no configuration but a fresh working directory."""
    workdir = tmp_path_factory.mktemp("live")
    server = LiveServer(workdir).start()
    yield server.url
    server.stop()
    assert (workdir / "data" / "gesso.sqlite3").is_file()  # the embedded default


def test_graphiql_loads(live_server: str) -> None:
    response = httpx.get(f"{live_server}/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_scripted_session(live_server: str) -> None:
    async with GraphQLClient.for_url(live_server) as gql:
        # given two artists, the first following the second
        await gql.sign_up("follower_fay")
        artist = await gql.sign_up("painter_pol")
        followed = await gql.execute(
            "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
            {"u": artist},
            as_="follower_fay",
        )
        assert followed.data["follow"]["errors"] == []
        # when the artist creates an artwork and posts it
        art = await gql.execute(
            'mutation { createArtwork(input: {title: "Dunes", medium: "oil"})'
            " { artwork { id } errors { code } } }",
            as_="painter_pol",
        )
        artwork_id = art.data["createArtwork"]["artwork"]["id"]
        posted = await gql.execute(
            'mutation($a: ID!) { createPost(input: {text: "Dunes, finished", artworkIds: [$a]})'
            " { post { id } errors { code } } }",
            {"a": artwork_id},
            as_="painter_pol",
        )
        assert posted.data["createPost"]["errors"] == []
        # then the follower's home feed shows the post with its artwork
        feed = await gql.execute(
            "{ homeFeed(first: 5) { nodes { text author { handle } artworks { title } } } }",
            as_="follower_fay",
        )
        assert feed.data["homeFeed"]["nodes"] == [
            {
                "text": "Dunes, finished",
                "author": {"handle": "painter_pol"},
                "artworks": [{"title": "Dunes"}],
            }
        ]


def test_health(live_server: str) -> None:
    assert httpx.get(f"{live_server}/healthz").json() == {"status": "ok"}
