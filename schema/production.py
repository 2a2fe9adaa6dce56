"""The production schema: the same types, hardened (see ``schema.limits`` and ``schema.masking``).

Besides the document limits and masked errors, every operation over HTTP gets a time limit: a
query that would hold a worker for minutes (a slow database, a pathological page) is cancelled and
answered with one top-level error, code ``OPERATION_TIMEOUT``. Cancellation rolls back an open
transaction, so a mutation cut short leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Iterable
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema.limits import PRODUCTION_LIMITS, Limits, production_extensions
from schema.masking import MaskUnexpectedErrors
from schema.mutations import Mutation
from schema.query import Query
from schema.root import DOCUMENT_CACHE_SIZE, ErrorCodes, GessoSchema
from schema.sharing import SharingExecutor
from schema.subscription import Subscription

TIMEOUT_CODE = "OPERATION_TIMEOUT"


class HardenedSchema(GessoSchema):
    """A schema with document ``limits``, hidden suggestions and an operation time limit."""

    def __init__(self, *args: Any, limits: Limits, operation_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.operation_timeout = operation_timeout

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        # Variable coercion happens in execution: keep its errors free of suggestions, too.
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        kwargs["hide_suggestions"] = True
        return kwargs

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
        run = super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )
        return await within_time_limit(self.operation_timeout, run)


async def within_time_limit(
    seconds: float | None, run: Awaitable[ExecutionResult]
) -> ExecutionResult:
    """The result of ``run``, or the ``OPERATION_TIMEOUT`` error once it took ``seconds`` (the
    regular path and compiled plans alike; None: no limit)."""
    try:
        async with asyncio.timeout(seconds):
            return await run
    except TimeoutError:
        assert seconds is not None
        return ExecutionResult(data=None, errors=[timeout_error(seconds)])


def operation_timeout(schema: object) -> float | None:
    """The time limit of an operation on ``schema`` (None in development)."""
    return schema.operation_timeout if isinstance(schema, HardenedSchema) else None


def cost_limit(schema: object) -> int | None:
    """The cost limit of an operation on ``schema`` (None in development)."""
    return schema.limits.max_cost if isinstance(schema, HardenedSchema) else None


def timeout_error(seconds: float) -> GraphQLError:
    """The error of an operation cut short by its time limit."""
    message = f"the operation took longer than its limit of {seconds:g} s"
    return GraphQLError(message, extensions={"code": TIMEOUT_CODE})


@functools.cache
def hardened_schema(operation_timeout: float, limits: Limits = PRODUCTION_LIMITS) -> HardenedSchema:
    """The production schema (one per process and setting: building one takes a while)."""
    return HardenedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            ErrorCodes,
            *production_extensions(limits, DOCUMENT_CACHE_SIZE),
            MaskUnexpectedErrors,
        ],
        execution_context_class=SharingExecutor,
        limits=limits,
        operation_timeout=operation_timeout,
    )
