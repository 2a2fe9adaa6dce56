"""Which operation of a document a request runs, as the GraphQL specification selects it.

Strawberry falls back to the first operation of a document when the request names none, so a
document with several operations ran its first one. The specification's GetOperation asks for a
request error instead ("Must provide operation name if query contains multiple operations."), as
it does for an ``operationName`` that names no operation of the document. Here an unnamed request
selects the document's only operation, or none; graphql-core then reports a request error for a
request that selects none, on every transport (HTTP, both websocket protocols).
"""

from __future__ import annotations

from graphql import OperationDefinitionNode, get_operation_ast
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

# When no operation is selected, the path that reports it: the first one the transport allows.
# On a websocket that is the subscription path, which sends the error as the protocol's ``error``
# message (as it sends every request error); over HTTP, the query path.
_REPORTED_BY = (OperationType.SUBSCRIPTION, OperationType.QUERY, OperationType.MUTATION)


class SelectedOperation(ExecutionContext):
    """Strawberry's execution context, with the operation the specification selects."""

    @property
    def operation_name(self) -> str | None:
        provided = self._provided_operation_name
        if provided is not None:
            return provided if isinstance(provided, str) else None  # refused: operation_type
        operation = self._selected()
        return operation.name.value if operation is not None and operation.name else None

    @property
    def operation_type(self) -> OperationType:
        if self.graphql_document is None:
            raise RuntimeError("No GraphQL document available")
        if not isinstance(self._provided_operation_name, str | None):
            # A name that is not a string (from a websocket message) names no operation either;
            # refused before anything runs, as Strawberry refuses an operation it cannot find.
            raise RuntimeError("operationName is not a string")
        operation = self._selected()
        if operation is not None:
            return OperationType(operation.operation.value)
        # None runs: graphql-core answers with the request error, on a path the transport allows.
        allowed = set(self.allowed_operations)
        return next((kind for kind in _REPORTED_BY if kind in allowed), OperationType.QUERY)

    def _selected(self) -> OperationDefinitionNode | None:
        if self.graphql_document is None:
            return None
        return get_operation_ast(self.graphql_document, self._provided_operation_name)
