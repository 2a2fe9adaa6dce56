"""A real server process on the embedded default, driven over HTTP like a frontend would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.graphql import GraphQLClient

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``gesso serve`` with no configuration but a fresh data directory."""
    port = _free_port()
    workdir = tmp_path_factory.mktemp("live")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    log_path = workdir / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = log_path.read_text(errors="replace")
                pytest.fail(f"server exited with {process.returncode}:\n{output}")
            try:
                httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("server did not answer within 60 s")
                time.sleep(0.2)
        yield base
        assert (workdir / "data" / "gesso.sqlite3").is_file()
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


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
