"""Error masking: what an unexpected failure looks like to a client in production.

Expected errors keep their message and code: our own ``GessoError`` family (authorization, bad
input, not found ...) and request errors, which have no path (syntax, validation, variable
coercion: the client's own document, told back to it). Everything else, a failure while a field
was being resolved, is replaced by a stable message and an error id; the original is logged with
that id, so an operator can find it and a client learns nothing of the server's insides.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from resolvers.errors import GessoError

log = logging.getLogger("gesso.errors")

MASKED_MESSAGE = "Unexpected error."
MASKED_CODE = "INTERNAL_SERVER_ERROR"


def is_expected(error: GraphQLError) -> bool:
    """True for an error whose message is meant for the client."""
    # A request error (no path) is about the client's own document or variables.
    return isinstance(error.original_error, GessoError) or error.path is None


def masked(error: GraphQLError) -> GraphQLError:
    """The client's view of an unexpected ``error``; logs the original with its id."""
    error_id = secrets.token_hex(8)
    log.error(
        "unexpected error %s at %s: %s",
        error_id,
        ".".join(str(p) for p in error.path or ()),
        error.message,
        exc_info=error.original_error,
    )
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": MASKED_CODE, "errorId": error_id},
    )


class MaskUnexpectedErrors(MaskErrors):
    """Strawberry's ``MaskErrors`` with our notion of expected errors and a logged error id."""

    def __init__(self, **_options: Any) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error)
