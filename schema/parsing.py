"""The document cache every schema uses: Strawberry's ParserCache, which lets a syntax error reach
the client.

Strawberry's ParserCache parses inside the ``on_parse`` hook, where a ``GraphQLError`` escapes the
try block that turns a syntax error into a result. Over HTTP an outer handler still catches it;
over websockets (``Schema.subscribe``, both protocols) nothing does, and the client got a bare
``complete`` (graphql-transport-ws) or nothing at all (graphql-ws). Here a document that does not
parse is left unparsed, and Strawberry's own parse step reports the error as it does without the
cache: an ``error`` message on both protocols, and the same result over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class DocumentCache(ParserCache):
    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None  # parsed again, and reported, by Strawberry
        yield
