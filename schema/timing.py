"""One measurement per query or mutation, handed to the context's observer."""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.errors import GessoError
from resolvers.observer import Observer

# Codes for top-level errors that carry none of our own.
BAD_REQUEST = "GRAPHQL_INVALID"  # the document did not parse or validate
INTERNAL = "INTERNAL_SERVER_ERROR"  # an unexpected exception in a resolver


class OperationTiming(SchemaExtension):
    """Time each operation once (no per-field hooks) and collect its errors' codes."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        services = getattr(context.context, "services", None)
        observer = getattr(services, "observer", None)
        if observer is None:
            yield
            return
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        try:
            kind = context.operation_type
        except RuntimeError:  # no document: it did not parse
            kind_name = "unknown"
        else:
            if kind is OperationType.SUBSCRIPTION:
                return  # a subscription lasts as long as its socket; gauges count those
            kind_name = kind.value
        operation_done(observer, context.operation_name, kind_name, seconds, context.result)

    def on_execute(self) -> Iterator[None]:
        # The document is parsed by now, so an operation the client did not name by
        # ``operationName`` is known by the name in the document.
        services = getattr(self.execution_context.context, "services", None)
        observer = getattr(services, "observer", None)
        if observer is not None:
            observer.operation_started(self.execution_context.operation_name)
        yield


def operation_done(
    observer: Observer, name: str | None, kind: str, seconds: float, result: object
) -> None:
    """Report a finished query or mutation (the regular path and compiled plans alike)."""
    observer.operation(name, kind, seconds, _codes(result))


def _codes(result: object) -> list[str]:
    errors = getattr(result, "errors", None) or []
    codes = []
    for error in errors:
        code = (error.extensions or {}).get("code")
        if isinstance(code, str):
            codes.append(code)
        elif error.original_error is None:
            codes.append(BAD_REQUEST)
        elif isinstance(error.original_error, GessoError):
            codes.append(error.original_error.code)
        else:
            codes.append(INTERNAL)
    return codes
