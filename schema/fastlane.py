"""The fast lane for the live home feed: one execution and one JSON encoding per event and
viewer class, then the same text for every subscriber.

The regular path runs each subscriber's event through Strawberry's streaming machinery
(extension hooks, a per-event executor, JSON encoding) even when the result is shared. For the one
subscription every signed-in client keeps open, ``homeFeed``, a document that selects only
viewer-independent fields (see ``schema.sharing``) takes this lane instead: its payload text is
computed once per live event and viewer class and handed to every such subscriber. Any other
document, and anything unusual (variables that do not coerce, other root fields), takes the regular
path.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
)
from graphql.execution import Executor
from graphql.execution.execute import execute_subscription_event
from graphql.execution.values import get_argument_values
from strawberry.schema.schema import validate_document

from resolvers import live
from resolvers.context import Context
from resolvers.errors import GessoError
from schema import masking
from schema.limits import Limits, check_document
from schema.root import schema
from schema.sharing import SharingExecutor, document_shareable
from schema.subscription import HomeFeedEvent

_PREPARED_MAX = 256
_documents: OrderedDict[
    tuple[str, str | None, Limits | None], tuple[DocumentNode, OperationDefinitionNode] | None
]
_documents = OrderedDict()


@dataclass(frozen=True, slots=True)
class LiveOperation:
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any]
    after: str | None
    # Identifies (document, operation, variables) for sharing: a digest, not the text, since
    # every open subscription holds one.
    key: bytes
    masked: bool = False  # production: unexpected errors are masked (schema.masking)


def _document(
    query: str, operation_name: str | None, limits: Limits | None
) -> tuple[DocumentNode, OperationDefinitionNode] | None:
    key = (query, operation_name, limits)
    if key in _documents:
        return _documents[key]
    found: tuple[DocumentNode, OperationDefinitionNode] | None = None
    try:
        document = parse(query, max_tokens=limits.max_tokens if limits else None)
    except GraphQLSyntaxError:
        document = None
    # Under production limits a document must pass all of them here too (depth, aliases,
    # directives, introspection); one that fails takes the regular path, which reports why.
    errors = (
        (check_document(schema._schema, document, limits) if limits else None)
        or validate_document(schema._schema, document, tuple(specified_rules))
        if document is not None
        else None
    )
    if document is not None and not errors:
        operation = get_operation_ast(document, operation_name)
        if (
            operation is not None
            and operation.operation is OperationType.SUBSCRIPTION
            and len(operation.selection_set.selections) == 1
            and isinstance(operation.selection_set.selections[0], FieldNode)
            and operation.selection_set.selections[0].name.value == "homeFeed"
            and not operation.selection_set.selections[0].directives
        ):
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            if document_shareable(schema._schema, operation, fragments):
                found = (document, operation)
    _documents[key] = found
    if len(_documents) > _PREPARED_MAX:
        _documents.popitem(last=False)
    return found


def prepare(
    payload: dict[str, Any], context: Context, limits: Limits | None = None
) -> LiveOperation | None:
    """A ``LiveOperation`` when this subscribe message may take the fast lane, else None.
    ``limits`` are the production limits (None in development)."""
    query = payload.get("query")
    operation_name = payload.get("operationName")
    variables = payload.get("variables") or {}
    if not isinstance(query, str) or not isinstance(variables, dict):
        return None
    if operation_name is not None and not isinstance(operation_name, str):
        return None
    found = _document(query, operation_name, limits)
    if found is None:
        return None
    document, _operation = found
    built = SharingExecutor.build(
        schema._schema, document, None, context, variables, operation_name
    )
    if isinstance(built, list):  # variables that do not coerce: the regular path reports them
        return None
    arguments = _root_arguments(built)
    after = arguments.get("after")
    if after is not None and not isinstance(after, str):
        return None
    return LiveOperation(
        document=document,
        operation_name=operation_name,
        variables=variables,
        after=after,
        key=hashlib.blake2b(
            orjson.dumps([query, operation_name, variables], option=orjson.OPT_SORT_KEYS),
            digest_size=16,
        ).digest(),
        masked=limits is not None,
    )


def _root_arguments(executor: Executor[Any]) -> dict[str, Any]:
    field_node = executor.operation.selection_set.selections[0]
    assert isinstance(field_node, FieldNode)
    subscription = executor.schema.subscription_type
    assert subscription is not None
    return get_argument_values(
        subscription.fields["homeFeed"], field_node, executor.variable_values
    )


async def _execute(operation: LiveOperation, event: HomeFeedEvent, context: Context) -> str:
    built = SharingExecutor.build(
        schema._schema,
        operation.document,
        event,
        context,
        operation.variables,
        operation.operation_name,
    )
    if isinstance(built, list):
        return _encode(None, built, operation.masked)
    result = execute_subscription_event(built)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        result = await result
    return _encode(result.data, result.errors or [], operation.masked)  # type: ignore[union-attr]


def _encode(data: Any, errors: list[GraphQLError], masked: bool) -> str:
    payload: dict[str, Any] = {"data": data}
    if errors:
        payload["errors"] = [
            _formatted(masking.masked(e) if masked and not masking.is_expected(e) else e)
            for e in errors
        ]
    return orjson.dumps(payload).decode()


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    if isinstance(error.original_error, GessoError):
        extensions: dict[str, Any] = dict(formatted.get("extensions") or {})
        extensions["code"] = error.original_error.code
        formatted["extensions"] = extensions
    return formatted


async def payloads(operation: LiveOperation, context: Context) -> AsyncIterator[str]:
    """The JSON text of each ``next`` payload of this subscriber's home feed."""
    async for feed_event in live.home_feed(context, after=operation.after):
        event = HomeFeedEvent.of(feed_event)
        viewer_class = event.share_class(context)
        if viewer_class is None or event.shared_results is None:
            yield await _execute(operation, event, context)
            continue
        key = ("fastlane", operation.key, viewer_class)
        shared = event.shared_results.get(key)
        if shared is None:
            shared = event.shared_results[key] = asyncio.ensure_future(
                _execute(operation, event, context)
            )
        yield await shared
