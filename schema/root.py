"""Schema assembly: the root types and the extensions."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension, ValidationCache
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.errors import GessoError
from schema.mutations import Mutation
from schema.operation import SelectedOperation
from schema.parsing import DocumentCache
from schema.persisted import execute_persisted
from schema.query import Query
from schema.routing import ReplicaReads
from schema.sharing import SharingExecutor
from schema.subscription import Subscription
from schema.timing import OperationTiming

DOCUMENT_CACHE_SIZE = 1024
# Strawberry's refusals of the operation a request selects (over websockets they reach
# ``process_errors``): the client's doing, not a fault of the server.
OPERATION_REFUSALS = (CannotGetOperationTypeError, InvalidOperationTypeError)


class ErrorCodes(SchemaExtension):
    """Put the stable ``code`` of our own errors into ``extensions`` of each GraphQL error."""

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        for error in result.errors:
            original = error.original_error
            if isinstance(original, GessoError):
                error.extensions = {**(error.extensions or {}), "code": original.code}
                error.extensions.update(getattr(original, "extensions", {}))


class GessoSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only unexpected errors: a client's bad query or input is not a server fault."""
        unexpected = [
            error
            for error in errors
            if error.original_error is not None
            and not isinstance(error.original_error, (GessoError, *OPERATION_REFUSALS))
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)

    def _create_execution_context(
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        # The operation the specification selects, not Strawberry's first one (schema.operation).
        return SelectedOperation(
            query=query,
            schema=self,
            allowed_operations=allowed_operation_types,
            context=context_value,
            root_value=root_value,
            variables=variable_values,
            provided_operation_name=operation_name,
            operation_extensions=operation_extensions,
        )

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Execute, after resolving a persisted query (``schema.persisted``)."""
        run = functools.partial(
            super().execute,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed_operation_types,
            operation_extensions=operation_extensions,
        )
        return await execute_persisted(run, query, context_value, operation_extensions)


def build_schema() -> strawberry.Schema:
    return GessoSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            OperationTiming,
            ErrorCodes,
            ReplicaReads,
            # Factories, not shared instances. Subscriptions and feeds repeat a few documents:
            # parse and validate each once (the parsed document is then shared, too).
            lambda: DocumentCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        ],
        execution_context_class=SharingExecutor,
    )


schema = build_schema()
