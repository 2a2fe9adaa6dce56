"""The reference client's documents (client/operations/, one file per screen) are valid against
the schema, each with the shared fragments it spreads."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import FragmentDefinitionNode, parse, validate

from schema.root import schema

OPERATIONS = Path(__file__).resolve().parents[2] / "client" / "operations"
FRAGMENTS = OPERATIONS / "fragments.graphql"
SCREENS = sorted(p for p in OPERATIONS.glob("*.graphql") if p != FRAGMENTS)


def _with_fragments(text: str) -> str:
    """The screen's document and the shared fragments it uses (transitively)."""
    shared = {
        d.name.value: d
        for d in parse(FRAGMENTS.read_text()).definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    document = text
    while True:
        spread = {name for name in shared if f"...{name}" in document}
        missing = [n for n in spread if f"fragment {n} " not in document]
        if not missing:
            return document
        for name in missing:
            node = shared[name]
            assert node.loc is not None
            document += "\n" + node.loc.source.body[node.loc.start : node.loc.end]


def test_there_are_screens() -> None:
    assert {p.stem for p in SCREENS} >= {"home_feed", "moderation", "settings", "report"}


@pytest.mark.parametrize("screen", SCREENS, ids=lambda p: p.stem)
def test_each_screen_is_valid(screen: Path) -> None:
    document = parse(_with_fragments(screen.read_text()))
    errors = validate(schema._schema, document)
    assert errors == [], [e.message for e in errors]
