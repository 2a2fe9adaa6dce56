"""What the mutations share: the payload helpers and the input helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types.unset import UnsetType

from resolvers.errors import ErrorCode, FieldError, InputError
from schema.base import UserError
from schema.types import User

T = TypeVar("T")
UNSET: Any = strawberry.UNSET


async def attempt(action: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    try:
        return await action(), []
    except InputError as error:
        return None, UserError.from_input_error(error)


def present(values: dict[str, Any], *, nullable: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields the client sent. An explicit null is refused unless the field is nullable."""
    given = {k: v for k, v in values.items() if not isinstance(v, UnsetType)}
    nulls = [k for k, v in given.items() if v is None and k not in nullable]
    if nulls:
        raise InputError(
            [FieldError(camel(k), f"{camel(k)} cannot be null", ErrorCode.REQUIRED) for k in nulls]
        )
    return given


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]


def user_or_none(row: Any) -> User | None:
    return User.from_row(row) if row is not None else None
