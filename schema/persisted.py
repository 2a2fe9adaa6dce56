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

from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from storage.persisted import HASH_PATTERN, PersistedQueries, sha256_of

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
INVALID = "PERSISTED_QUERY_INVALID"
# Longer documents still run but are not remembered: the cache stays bounded in bytes, too.
MAX_CACHED_QUERY_CHARS = 64 * 1024


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


class PersistedQueryExtension(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context
        persisted: PersistedQueries | None = getattr(
            getattr(context.context, "services", None), "persisted", None
        )
        remember = None
        if persisted is not None:
            remember = await self._resolve(persisted, context.operation_extensions or {})
        yield
        if persisted is not None and remember is not None and self._was_valid():
            # Only a document that parsed and validated is remembered, so the cache cannot be
            # filled with junk that would never run.
            await persisted.cache.put(remember, context.query or "")

    def _was_valid(self) -> bool:
        context = self.execution_context
        if context.graphql_document is None:
            return False
        errors = context.result.errors if context.result is not None else None
        return not any(error.path is None for error in errors or ())

    async def _resolve(self, persisted: PersistedQueries, extensions: dict[str, Any]) -> str | None:
        """Set the query from its hash, or check the hash; the hash to remember, if any."""
        context = self.execution_context
        request = extensions.get("persistedQuery")
        if request is None:
            if (
                persisted.mode == "allowlist"
                and context.query is not None
                and not persisted.is_registered(sha256_of(context.query))
            ):
                raise _error("only registered operations run on this server", NOT_ALLOWED)
            return None
        if persisted.mode == "off":
            raise _error("PersistedQueryNotSupported", NOT_SUPPORTED)
        sha256 = request.get("sha256Hash") if isinstance(request, dict) else None
        version = request.get("version") if isinstance(request, dict) else None
        if version != 1 or not isinstance(sha256, str) or not HASH_PATTERN.match(sha256):
            raise _error(
                "persistedQuery must be {version: 1, sha256Hash: <64 lowercase hex digits>}",
                INVALID,
            )
        if context.query is None:
            query = await persisted.lookup(sha256)
            if query is None:
                raise _error("PersistedQueryNotFound", NOT_FOUND)
            context.query = query
            return None
        if sha256_of(context.query) != sha256:
            raise _error("provided sha does not match query", INVALID)
        if persisted.mode == "allowlist":
            if not persisted.is_registered(sha256):
                raise _error("only registered operations run on this server", NOT_ALLOWED)
            return None
        return sha256 if len(context.query) <= MAX_CACHED_QUERY_CHARS else None
