"""Shared schema pieces: the Info alias, enums, global ids, the error type, permissions."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeAlias

import strawberry
from strawberry.permission import BasePermission

from resolvers.context import Context
from resolvers.errors import AuthenticationRequired, ErrorCode, FieldError, InputError
from storage.models import TrainingPolicy, Visibility

Info: TypeAlias = strawberry.Info[Context, None]

strawberry.enum(Visibility, description="Who may see a post or an artwork.")
strawberry.enum(
    TrainingPolicy,
    description="Whether the artist consents to AI training on the work (default: DISALLOWED).",
)
strawberry.enum(ErrorCode, name="ErrorCode", description="Why an input was refused.")


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type(description="An input the mutation refused; nothing was changed.")
class UserError:
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase), or null for the input as a whole."
    )
    message: str
    code: ErrorCode

    @classmethod
    def from_input_error(cls, error: InputError) -> list[UserError]:
        return [cls(field=e.field, message=e.message, code=e.code) for e in error.errors]


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{pk}".encode()).decode())


def parse_global_id(value: str, field: str, *types: str) -> tuple[str, int]:
    """``(type, pk)`` of a global id of one of ``types``; ``InputError`` (INVALID_ID) otherwise."""
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("ascii")
        type_name, _, raw = text.partition(":")
        pk = int(raw)
        if type_name not in types or not 0 < pk < 1 << 63 or raw != str(pk):
            raise ValueError(value)
    except (ValueError, UnicodeError, binascii.Error):
        expected = " or ".join(types)
        raise InputError.single(
            field, f"not a valid {expected} id: {value[:64]!r}", ErrorCode.INVALID_ID
        ) from None
    return type_name, pk


def decode_id(value: str, field: str, type_name: str) -> int:
    return parse_global_id(value, field, type_name)[1]


class IsAuthenticated(BasePermission):
    message = "sign in to do this"

    def on_unauthorized(self) -> None:
        raise AuthenticationRequired(self.message or "sign in to do this")

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.viewer is not None


__all__ = [
    "FieldError",
    "Info",
    "IsAuthenticated",
    "Node",
    "UserError",
    "decode_id",
    "parse_global_id",
    "to_global_id",
]
