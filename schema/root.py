"""Schema assembly: the root types and the extensions."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from strawberry.extensions import SchemaExtension

from resolvers.errors import GessoError
from schema.mutation import Mutation
from schema.query import Query


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


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=[ErrorCodes])


schema = build_schema()
