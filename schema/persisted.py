"""Persisted queries in the request: ``extensions.persistedQuery`` (Apollo's protocol) and the
allowlist.

* ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": H}}}`` without a query runs the
  document known by ``H``; an unknown hash is answered ``PersistedQueryNotFound`` (code
  ``PERSISTED_QUERY_NOT_FOUND``), and the client sends the text with the hash once more.
* With the text, the hash must match it; in ``apq`` mode the text is then remembered, within the
  cache's bounds (``storage.persisted.CacheBounds``) and the ``apq`` rate limit of the client's
  address. A text that is not remembered still runs: the response carries
  ``extensions.persistedQuery`` ``{"stored": false, "code": ..., "message": ...}`` (code
  ``PERSISTED_QUERY_TOO_LARGE`` or ``RATE_LIMITED`` with ``retryAfter``), and the client, finding
  the hash unknown next time, sends the text again, as Apollo's link does.
* In ``allowlist`` mode only registered operations run, by hash or by their exact text; anything
  else is refused with ``PERSISTED_QUERY_NOT_ALLOWED`` before it is parsed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from resolvers.ratelimit import RateLimited, charge, client_ip
from storage.persisted import HASH_PATTERN, PersistedQueries, QueryTooLarge, sha256_of

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
INVALID = "PERSISTED_QUERY_INVALID"
TOO_LARGE = "PERSISTED_QUERY_TOO_LARGE"


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
    return query, sha256


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
    await remember_after(persisted, remember, query, context, result)
    return result


async def remember_after(
    persisted: PersistedQueries,
    remember: str | None,
    query: str | None,
    context: Any,
    result: ExecutionResult,
) -> None:
    """Once a text sent with its hash ran (``remember`` from ``resolve``): remember it, or say
    in the result's ``extensions.persistedQuery`` why not (the regular path and compiled plans
    alike)."""
    if remember is not None and query is not None and _ran(result):
        # Only a document that parsed and validated is remembered, so the cache cannot be
        # filled with junk that would never run.
        refused = await _remember(persisted, remember, query, context)
        if refused is not None:
            result.extensions = {**(result.extensions or {}), "persistedQuery": refused}


async def _remember(
    persisted: PersistedQueries, sha256: str, query: str, context: Any
) -> dict[str, Any] | None:
    """Store ``query``, charging the client's ``apq`` limit if it is new. None once it is stored
    (or was already), else why it is not, for the response's ``extensions.persistedQuery``."""
    try:
        persisted.cache.bounds.size_of(query)
        if await persisted.cache.get(sha256) is not None:
            return None  # known already (and now the most recently used)
        await charge(context.services, "apq", client_ip(context))
        await persisted.cache.put(sha256, query)
    except QueryTooLarge as error:
        return {"stored": False, "code": TOO_LARGE, "message": str(error)}
    except RateLimited as error:
        refusal = {"stored": False, "code": error.code, "message": str(error)}
        return {**refusal, "retryAfter": error.retry_after}
    return None
