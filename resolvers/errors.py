"""The exceptions resolvers raise; the schema layer turns them into GraphQL errors or payloads.

* ``InputError`` carries expected, field-level failures: the mutation returns them as
  ``errors: [{field, message, code}]`` and changes nothing.
* ``AuthenticationRequired``, ``PermissionDenied``, ``NotFound`` and ``BadRequest`` are raised as
  top-level GraphQL errors with ``extensions.code``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorCode(enum.Enum):
    INVALID = "invalid"
    REQUIRED = "required"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"
    INVALID_HANDLE = "invalid_handle"
    INVALID_EMAIL = "invalid_email"
    HANDLE_TAKEN = "handle_taken"
    EMAIL_TAKEN = "email_taken"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_ID = "invalid_id"
    NOT_FOUND = "not_found"
    NOT_OWNER = "not_owner"
    SELF_FOLLOW = "self_follow"
    DUPLICATE = "duplicate"
    IMAGE_INVALID = "image_invalid"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_SMALL = "image_too_small"
    IMAGE_UNSUPPORTED = "image_unsupported"
    IMAGE_UNPROTECTABLE = "image_unprotectable"
    ACCOUNT_SUSPENDED = "account_suspended"
    AI_GENERATED = "ai_generated"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code)
    EXPORT_IN_PROGRESS = "export_in_progress"
    EXPORT_TOO_SOON = "export_too_soon"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str | None
    message: str
    code: ErrorCode


class GessoError(Exception):
    """Base of the errors that reach clients with their message and a stable code."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(GessoError):
    code = "BAD_USER_INPUT"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors

    @classmethod
    def single(cls, field: str | None, message: str, code: ErrorCode) -> InputError:
        return cls([FieldError(field, message, code)])


class AuthenticationRequired(GessoError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "sign in to do this") -> None:
        super().__init__(message)


class InvalidToken(GessoError):
    """A bearer token was sent but is unknown, revoked or expired."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class PermissionDenied(GessoError):
    code = "FORBIDDEN"


class NotFound(GessoError):
    code = "NOT_FOUND"


class LiveUpdatesUnavailable(GessoError):
    """Live delivery cannot start now (the broker is unreachable); queries and mutations work."""

    code = "LIVE_UPDATES_UNAVAILABLE"


class BadRequest(GessoError):
    """A query argument is unusable (page size out of range, a cursor we never issued ...)."""

    code = "BAD_USER_INPUT"
