"""The gesso command line, run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _gesso(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_export_schema_check_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n")
    result = _gesso("export-schema", "--check", "-o", str(stale), cwd=tmp_path)
    assert result.returncode == 1
    assert "stale" in result.stderr
    written = _gesso("export-schema", "-o", str(stale), cwd=tmp_path)
    assert written.returncode == 0
    assert _gesso("export-schema", "--check", "-o", str(stale), cwd=tmp_path).returncode == 0


def test_bad_setting_is_a_clear_usage_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GESSO_PORT=eighty\n")
    result = _gesso("migrate", cwd=tmp_path)
    assert result.returncode == 2
    assert "GESSO_PORT must be an integer" in result.stderr
