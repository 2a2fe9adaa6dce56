"""graphql-http's audit suite (the npm package, pinned in package-lock.json beside this file)
against a live development server: no errors and no warnings."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.live import LiveServer

pytestmark = pytest.mark.e2e

AUDIT_DIR = Path(__file__).parent


@pytest.fixture(scope="module")
def audit_tool() -> Path:
    """The audit script, with its node packages installed from the lock file when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for the GraphQL-over-HTTP audit")
    if not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=AUDIT_DIR, check=True, timeout=300
        )
    return AUDIT_DIR / "audit.mjs"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("audit")).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_graphql_over_http_audit_is_clean(audit_tool: Path, live_server: LiveServer) -> None:
    # when the audit suite runs against the server
    completed = subprocess.run(
        ["node", str(audit_tool), f"{live_server.url}/graphql"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(completed.stdout)
    problems = [r for r in report["results"] if r["status"] != "ok"]
    # then every check passes: no error, no warning
    assert problems == []
    assert (report["error"], report["warn"]) == (0, 0)
    assert report["ok"] == len(report["results"]) == 60
