"""The reference client's documents (client/operations/, one file per screen) are valid against
the schema, each with the shared fragments it spreads."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    parse,
    validate,
    visit,
)
from graphql.language import Visitor

from schema.root import schema

OPERATIONS = Path(__file__).resolve().parents[1] / "client" / "operations"
SHARED = OPERATIONS / "fragments.graphql"
SCREENS = sorted(path for path in OPERATIONS.glob("*.graphql") if path != SHARED)


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _spread(document: DocumentNode) -> set[str]:
    spreads = _Spreads()
    visit(document, spreads)
    return spreads.names


def _with_fragments(screen: DocumentNode, shared: DocumentNode) -> DocumentNode:
    """The screen's document with the shared fragments it needs, as a client library sends it."""
    fragments = {
        d.name.value: d for d in shared.definitions if isinstance(d, FragmentDefinitionNode)
    }
    own = {d.name.value for d in screen.definitions if isinstance(d, FragmentDefinitionNode)}
    needed: set[str] = set()
    pending = _spread(screen) - own
    while pending:
        name = pending.pop()
        if name in needed or name not in fragments:
            continue
        needed.add(name)
        pending |= _spread(DocumentNode(definitions=(fragments[name],))) - own
    return DocumentNode(
        definitions=(*screen.definitions, *(fragments[name] for name in sorted(needed)))
    )


def test_there_are_screens() -> None:
    assert {path.name for path in SCREENS} >= {"home_feed.graphql", "notifications.graphql"}


@pytest.mark.parametrize("path", SCREENS, ids=lambda path: path.name)
def test_a_screen_is_valid_against_the_schema(path: Path) -> None:
    screen = parse(path.read_text())
    assert any(isinstance(d, OperationDefinitionNode) for d in screen.definitions)
    document = _with_fragments(screen, parse(SHARED.read_text()))
    errors = validate(schema._schema, document)
    assert errors == [], [error.message for error in errors]
