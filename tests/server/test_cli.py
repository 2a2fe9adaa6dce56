"""The gesso command line, run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services import REPO, gesso, stop_process


def test_export_schema_check_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n")
    result = gesso("export-schema", "--check", "-o", str(stale), cwd=tmp_path)
    assert result.returncode == 1
    assert "stale" in result.stderr
    written = gesso("export-schema", "-o", str(stale), cwd=tmp_path)
    assert written.returncode == 0
    assert gesso("export-schema", "--check", "-o", str(stale), cwd=tmp_path).returncode == 0


def test_bad_setting_is_a_clear_usage_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GESSO_PORT=eighty\n")
    result = gesso("migrate", cwd=tmp_path)
    assert result.returncode == 2
    assert "GESSO_PORT must be an integer" in result.stderr


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.parametrize(("args", "expected"), [((), 10), (("--nice", "0"), 0)])
def test_a_worker_yields_the_cpu_to_the_api_by_default(
    tmp_path: Path, args: tuple[str, ...], expected: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "REDIS_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "GESSO_JOBS_PREFIX": f"test-nice-{os.getpid()}",
        "DATABASE_URL": f"sqlite://{tmp_path / 'db.sqlite3'}",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "server", "worker", *args],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "taking jobs" not in log.read_text(errors="replace"):
            assert worker.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        assert _niceness(worker.pid) - os.nice(0) == expected
    finally:
        stop_process(worker, grace=20)
