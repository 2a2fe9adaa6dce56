"""schema.graphql is the committed contract: it must match the code."""

from __future__ import annotations

from pathlib import Path

from schema.root import schema

SDL_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_sdl_is_current() -> None:
    committed = SDL_FILE.read_text(encoding="utf-8")
    assert committed == schema.as_str() + "\n", "schema.graphql is stale: run `gesso export-schema`"
