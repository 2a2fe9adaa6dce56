"""Which database answers an operation: the read replica for feed and profile queries, unless the
viewer wrote within the last few seconds; the primary for everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import FieldNode, OperationDefinitionNode
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from storage.replica import reads_from_replica

# Root query fields that may read a replica, with everything below them (a profile's posts,
# portfolio, followers and following included).
REPLICA_FIELDS = frozenset({"homeFeed", "discoverFeed", "tagFeed", "user", "__typename"})


class ReplicaReads(SchemaExtension):
    """Route a query made only of feed and profile fields to the replica; mark each signed-in
    viewer's mutation so their reads stay on the primary for a while (read-your-own-writes)."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        services = getattr(context.context, "services", None)
        writes = getattr(services, "recent_writes", None)
        if writes is None:
            yield
            return
        viewer_id = getattr(context.context, "viewer_id", None)
        kind = context.operation_type
        if kind is OperationType.MUTATION:
            yield
            if viewer_id is not None:
                await writes.mark(viewer_id)
            return
        if (
            kind is not OperationType.QUERY
            or not _only_replica_fields(context.graphql_document, context.operation_name)
            or (viewer_id is not None and await writes.wrote_recently(viewer_id))
        ):
            yield
            return
        with reads_from_replica():
            yield


def _only_replica_fields(document: object, name: str | None) -> bool:
    operation = get_operation_ast(document, name)  # type: ignore[arg-type]
    if not isinstance(operation, OperationDefinitionNode):
        return False
    selections = operation.selection_set.selections
    # A fragment at the root could hide any field: those operations stay on the primary.
    return all(
        isinstance(selection, FieldNode) and selection.name.value in REPLICA_FIELDS
        for selection in selections
    )
