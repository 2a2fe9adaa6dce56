"""Which database answers an operation: the read replica for feed and profile queries, unless the
viewer wrote within the last few seconds; the primary for everything else."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager

from graphql import DocumentNode, FieldNode, OperationDefinitionNode
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from storage.replica import reads_from_replica, request_reads

# Root query fields that may read a replica, with everything below them (a profile's posts,
# portfolio, followers and following included).
REPLICA_FIELDS = frozenset({"homeFeed", "discoverFeed", "tagFeed", "user", "__typename"})


class ReplicaReads(SchemaExtension):
    """Route a query made only of feed and profile fields to the replica, and note a signed-in
    viewer's mutation so their next reads stay on the primary (read-your-own-writes).

    The request's state comes from ``storage.replica.begin_request`` (the HTTP view calls it);
    without it, as on websockets, every read goes to the primary.
    """

    def on_execute(self) -> Iterator[None]:
        state = request_reads()
        if state is None:
            yield
            return
        context = self.execution_context
        kind = context.operation_type
        if kind is OperationType.MUTATION:
            yield
            state.wrote = state.viewer_id is not None
            return
        if kind is OperationType.QUERY and context.graphql_document is not None:
            with query_reads(only_replica_fields(context.graphql_document, context.operation_name)):
                yield
            return
        yield


def query_reads(replica_fields_only: bool) -> AbstractContextManager[None]:
    """Where the reads of a query go (the regular path and compiled plans alike): the replica
    when the query is made of replica fields only (``only_replica_fields``) and the request's
    viewer did not write lately, else the primary."""
    state = request_reads()
    if replica_fields_only and state is not None and not state.wrote_recently:
        return reads_from_replica()
    return contextlib.nullcontext()


def only_replica_fields(document: DocumentNode, name: str | None) -> bool:
    operation = get_operation_ast(document, name)
    if not isinstance(operation, OperationDefinitionNode):
        return False
    # A fragment at the root could hide any field: those operations stay on the primary.
    return all(
        isinstance(selection, FieldNode) and selection.name.value in REPLICA_FIELDS
        for selection in operation.selection_set.selections
    )
