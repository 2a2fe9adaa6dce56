"""Models and migration files must agree: a model change without a migration fails here."""

from __future__ import annotations

import subprocess
import sys


def test_models_match_migrations() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "makemigrations", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
