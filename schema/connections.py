"""Relay cursor connections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from resolvers.pagination import Page

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str


@strawberry.type(description="A page of a list, newest or first-ordered first; `first` is 0..100.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of `edges`, for clients that need no cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @classmethod
    def build(
        cls, page: Page[RowT], nodes: Sequence[NodeT | None], *, after: str | None
    ) -> Connection[NodeT]:
        """Edges of ``nodes``, one per row of ``page``; a None (gone since the page was read)
        is left out."""
        edges = [
            Edge(node=node, cursor=cursor)
            for node, cursor in zip(nodes, page.cursors, strict=True)
            if node is not None
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=after is not None,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
        )

    @classmethod
    def of(
        cls, page: Page[RowT], convert: Callable[[RowT], NodeT], *, after: str | None
    ) -> Connection[NodeT]:
        return cls.build(page, [convert(row) for row in page.items], after=after)


def selected_names(info: Any) -> set[str]:
    """Every field name selected below the current field (fragments included). Each fragment is
    read once however often it is spread, so a document of fragments that spread each other
    twice costs its length, not 2^depth."""
    raw = info._raw_info
    fragments: dict[str, FragmentDefinitionNode] = raw.fragments
    names: set[str] = set()
    seen: set[str] = set()
    stack: list[SelectionSetNode] = [
        node.selection_set for node in raw.field_nodes if node.selection_set is not None
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
                if selection.selection_set is not None:
                    stack.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    stack.append(fragments[name].selection_set)
    return names
