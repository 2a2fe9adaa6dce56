"""The client libraries frontends use, against a live development server: Apollo Client (with
automatic persisted queries, GraphQLWsLink and apollo-upload-client) and urql from Node, and
GraphiQL in headless Chromium. The npm packages are pinned in package-lock.json beside this file;
Chromium is Debian's ``chromium`` (scripts/test installs it when missing)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live import LiveServer
from tests.images import photo

pytestmark = pytest.mark.e2e

CLIENTS_DIR = Path(__file__).parent


@pytest.fixture(scope="module")
def node_packages() -> Path:
    """The test scripts' directory, with their node packages installed from the lock file."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.fail("node and npm are needed for the client library tests")
    if not (CLIENTS_DIR / "node_modules" / "@apollo" / "client").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENTS_DIR, check=True, timeout=300
        )
    return CLIENTS_DIR


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("clients")).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def _run(script: Path, *args: str) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", str(script), *args], capture_output=True, text=True, timeout=180
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    report: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return report


def upload_image(tmp_path: Path) -> Path:
    """The image file the Apollo test uploads as an artwork."""
    path = tmp_path / "artwork.jpg"
    path.write_bytes(photo(480, 360, seed=15))
    return path


def test_apollo_client_and_urql(
    node_packages: Path, live_server: LiveServer, tmp_path: Path
) -> None:
    # when Apollo Client signs up, uploads an artwork, follows, subscribes and posts
    report = _run(node_packages / "apollo.mjs", live_server.url, str(upload_image(tmp_path)))
    # then a known query travels as its hash alone, the upload was multipart with the preflight
    # header, the post reached the follower's home feed with an image that downloads, and the
    # artist was notified of the follow and the like; urql reads and subscribes too
    assert report["apq"]["knownHashRequests"] == 1
    assert report["upload"] == {"multipart": True, "preflight": "true"}
    assert report["feed"]["kind"] == "ADDED"
    assert report["feed"]["image"]["contentType"] == "image/jpeg"
    assert report["notifications"] == ["NEW_FOLLOWER", "POST_LIKED"]
    assert report["urql"]["feed"] == "ADDED"


def test_graphiql_in_headless_chromium(node_packages: Path, live_server: LiveServer) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the GraphiQL test (scripts/test installs it)")
    # when GraphiQL runs a query with a Bearer header, then a subscription
    report = _run(node_packages / "graphiql.mjs", live_server.url, chromium)
    # then both show their results, and the page fetched nothing from another host
    assert report["query"]["viewer"]["handle"].startswith("giql_viewer_")
    assert report["subscription"]["homeFeed"]["kind"] == "ADDED"
    assert report["foreign"] == []
    assert report["pageErrors"] == []
