"""The GraphQL documents of the reference client (``client/operations/``), as a client sends them.

A client library (Apollo, Relay, urql) sends an operation together with the fragments it spreads,
directly or through other fragments; ``client_document`` does the same from the files.
"""

from __future__ import annotations

from pathlib import Path

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    parse,
    visit,
)
from graphql.language import Visitor

OPERATIONS = Path(__file__).resolve().parent.parent / "client" / "operations"
FRAGMENTS_FILE = "fragments.graphql"


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.append(node.name.value)


def _spreads(node: DocumentNode | OperationDefinitionNode | FragmentDefinitionNode) -> list[str]:
    collector = _Spreads()
    visit(node, collector)
    return collector.names


def client_document(operation_file: str, directory: Path = OPERATIONS) -> str:
    """The operation in ``directory/operation_file`` followed by every fragment of
    ``fragments.graphql`` it uses (in the order they are first reached), separated by blank
    lines. Raises ``KeyError`` naming a fragment that no file defines."""
    operation = (directory / operation_file).read_text(encoding="utf-8")
    fragments_source = (directory / FRAGMENTS_FILE).read_text(encoding="utf-8")
    fragments = {
        definition.name.value: definition
        for definition in parse(fragments_source).definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    used: list[str] = []
    waiting = _spreads(parse(operation))
    while waiting:
        name = waiting.pop(0)
        if name in used:
            continue
        if name not in fragments:
            raise KeyError(f"{operation_file} spreads fragment {name}, which no file defines")
        used.append(name)
        waiting.extend(_spreads(fragments[name]))
    parts = [operation.strip()]
    for name in used:
        location = fragments[name].loc
        assert location is not None  # parse() keeps locations
        parts.append(fragments_source[location.start : location.end])
    return "\n\n".join(parts) + "\n"
