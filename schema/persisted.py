"""Persisted queries in the request: ``extensions.persistedQuery`` (Apollo's protocol) and the
allowlist.

* ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": H}}}`` without a query runs the
  document known by ``H``; an unknown hash is answered ``PersistedQueryNotFound`` (code
  ``PERSISTED_QUERY_NOT_FOUND``), and the client sends the text with the hash once more.
* With the text, the hash must match it; in ``apq`` mode the text is then remembered.
* In ``allowlist`` mode only registered operations run, by hash or by their exact text; anything
  else is refused with ``PERSISTED_QUERY_NOT_ALLOWED`` before it is parsed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from storage.persisted import HASH_PATTERN, PersistedQueries, sha256_of

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
INVALID = "PERSISTED_QUERY_INVALID"
# Longer documents still run but are not remembered: the cache stays bounded in bytes, too.
MAX_CACHED_QUERY_CHARS = 64 * 1024


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


async def resolve(
    persisted: PersistedQueries, query: str | None, extensions: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The query to run, and the hash to remember it under once it validates (or None)."""
    request = extensions.get("persistedQuery")
    if request is None:
        if (
            persisted.mode == "allowlist"
            and query is not None
            and not persisted.is_registered(sha256_of(query))
        ):
            raise PersistedQueryError("only registered operations run on this server", NOT_ALLOWED)
        return query, None
    if persisted.mode == "off":
        raise PersistedQueryError("PersistedQueryNotSupported", NOT_SUPPORTED)
    sha256 = request.get("sha256Hash") if isinstance(request, dict) else None
    version = request.get("version") if isinstance(request, dict) else None
    if version != 1 or not isinstance(sha256, str) or not HASH_PATTERN.match(sha256):
        raise PersistedQueryError(
            "persistedQuery must be {version: 1, sha256Hash: <64 lowercase hex digits>}", INVALID
        )
    if query is None:
        found = await persisted.lookup(sha256)
        if found is None:
            raise PersistedQueryError("PersistedQueryNotFound", NOT_FOUND)
        return found, None
    if sha256_of(query) != sha256:
        raise PersistedQueryError("provided sha does not match query", INVALID)
    if persisted.mode == "allowlist":
        if not persisted.is_registered(sha256):
            raise PersistedQueryError("only registered operations run on this server", NOT_ALLOWED)
        return query, None
    return query, sha256 if len(query) <= MAX_CACHED_QUERY_CHARS else None


def _ran(result: ExecutionResult) -> bool:
    """True when the document parsed and validated (no error without a path)."""
    return not any(error.path is None for error in result.errors or ())


async def execute_persisted(
    execute: Callable[[str | None], Awaitable[ExecutionResult]],
    query: str | None,
    context: Any,
    extensions: dict[str, Any] | None,
) -> ExecutionResult:
    """Run ``execute`` on the query a persisted-query request stands for."""
    persisted: PersistedQueries | None = getattr(
        getattr(context, "services", None), "persisted", None
    )
    if persisted is None:
        return await execute(query)
    try:
        query, remember = await resolve(persisted, query, extensions or {})
    except PersistedQueryError as error:
        return ExecutionResult(
            data=None, errors=[GraphQLError(error.message, extensions={"code": error.code})]
        )
    result = await execute(query)
    if remember is not None and query is not None and _ran(result):
        # Only a document that parsed and validated is remembered, so the cache cannot be
        # filled with junk that would never run.
        await persisted.cache.put(remember, query)
    return result
