"""The gesso command line, run as a user would run it."""

from __future__ import annotations

from pathlib import Path

from tests.services import gesso


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
