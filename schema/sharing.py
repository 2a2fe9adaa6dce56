"""One execution per live event, shared by every subscriber who would get the same answer.

A new post reaches thousands of followers at once. For each of them graphql-core would execute the
subscription's selection set again, although a follower's view of a brand-new post is the same as
any other follower's. ``SharingExecutor`` executes a subscription event once per (document,
variables, viewer class) and hands the same result to the others.

It shares only when it is safe: the live event must offer ``share_class(context)`` (the viewer's
class for that event, e.g. "the author" or "a follower"), and every field the document selects must
be in ``SHAREABLE`` (fields whose value is the same for every viewer of one class: no per-viewer
visibility, no per-viewer state that is not primed identically; for ``Post``, ``User`` and
``Artwork`` the ``shared`` of their entries in ``schema.fields``). Anything else executes as usual.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.fields import shareable

SHAREABLE: frozenset[tuple[str, str]] = (
    frozenset(
        [("Subscription", "homeFeed"), ("Node", "id")]
        + [("HomeFeedEvent", f) for f in ("kind", "cursor", "post", "deletedPostId")]
    )
    | shareable()
)  # Post, User and Artwork: as their tables in schema.fields say
_ANALYSED_MAX = 512
_analysed: OrderedDict[tuple[str, str | None], bool] = OrderedDict()


def _selection_shareable(
    schema: GraphQLSchema,
    parent: GraphQLObjectType,
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    checked: set[tuple[str, str]],
    depth: int = 0,
) -> bool:
    if selection_set is None:
        return True
    if depth > 12:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name == "__typename":
                continue
            if (parent.name, name) not in SHAREABLE or name not in parent.fields:
                return False
            field_type = get_named_type(parent.fields[name].type)
            if selection.selection_set is not None:
                if not isinstance(field_type, GraphQLObjectType):
                    return False
                if not _selection_shareable(
                    schema, field_type, selection.selection_set, fragments, checked, depth + 1
                ):
                    return False
        else:
            condition: NamedTypeNode | None
            if isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is None:
                    return False
                if (selection.name.value, parent.name) in checked:
                    continue  # found shareable at another spread: read each fragment once
                checked.add((selection.name.value, parent.name))
                condition, inner = fragment.type_condition, fragment.selection_set
            elif isinstance(selection, InlineFragmentNode):
                condition, inner = selection.type_condition, selection.selection_set
            else:
                return False
            target = schema.get_type(condition.name.value) if condition is not None else parent
            if target is not parent:
                return False
            if not _selection_shareable(schema, parent, inner, fragments, checked, depth + 1):
                return False
    return True


def document_shareable(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    body = operation.loc.source.body if operation.loc is not None else None
    if body is None or operation.operation is not OperationType.SUBSCRIPTION:
        return False
    key = (body, operation.name.value if operation.name else None)
    known = _analysed.get(key)
    if known is None:
        root = schema.subscription_type
        known = root is not None and _selection_shareable(
            schema, root, operation.selection_set, fragments, set()
        )
        _analysed[key] = known
        if len(_analysed) > _ANALYSED_MAX:
            _analysed.popitem(last=False)
    return known


class SharingExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core executor that reuses one event's result across like subscribers."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        root = self.root_value
        share_class = getattr(root, "share_class", None)
        results = getattr(root, "shared_results", None)
        if share_class is None or results is None:
            return super().execute_operation(serially)
        viewer_class = share_class(self.context_value)
        if viewer_class is None or not document_shareable(
            self.schema, self.operation, self.fragment_definitions
        ):
            return super().execute_operation(serially)
        key = (
            self.operation.loc.source.body if self.operation.loc else "",
            self.operation.name.value if self.operation.name else None,
            orjson.dumps(self.variable_values.coerced, option=orjson.OPT_SORT_KEYS, default=str),
            viewer_class,
        )
        shared = results.get(key)
        if shared is not None:
            return shared
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            result = asyncio.ensure_future(result)
        results[key] = result
        return result
