"""Keyset pagination: opaque cursors over the sort key, never OFFSET.

A cursor is ``base64url("<kind>:<int>[:<int>]")``; the kind keeps a cursor from one ordering from
being used in another, and anything we did not issue is refused with a clear error. Each kind's
key parts are bounded by the columns they are compared with (``KEYS``): a value no row can hold
(an id that is negative or past 64 bits, a position past 32 bits) is refused here, not handed to
the database, which would fail on it (PostgreSQL) or compare it as a different type (SQLite).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from resolvers.errors import BadRequest

MAX_PAGE = 100
DEFAULT_PAGE = 20

ID = range(1, 1 << 63)  # a Snowflake id (storage.ids): a positive BIGINT
POSITION = range(-(1 << 31), 1 << 31)  # a portfolio position: an INTEGER
# The key of each cursor kind, part by part.
KEYS: dict[str, tuple[range, ...]] = {
    "post": (ID,),
    "comment": (ID,),
    "follow": (ID,),
    "block": (ID,),
    "mute": (ID,),
    "case": (ID,),
    "log": (ID,),
    "notification": (ID,),
    "search": (range(0, 1 << 62), ID),  # a score (millionths) and an id
    "portfolio": (POSITION, ID),
}

T = TypeVar("T")


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise BadRequest(f"first must not be negative (got {first})")
    if first > MAX_PAGE:
        raise BadRequest(f"first must be at most {MAX_PAGE} (got {first})")
    return first


def encode_cursor(kind: str, *key: int) -> str:
    raw = ":".join([kind, *(str(part) for part in key)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> tuple[int, ...]:
    """The key inside ``cursor``; ``BadRequest`` when it is not a ``kind`` cursor we issued."""
    bounds = KEYS[kind]
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        found_kind, *values = text.split(":")
        if found_kind != kind or len(values) != len(bounds):
            raise ValueError(kind)
        key = []
        for value, bound in zip(values, bounds, strict=True):
            number = int(value)
            # In range, and written as we write it (no sign, zero padding or digit separators).
            if number not in bound or str(number) != value:
                raise ValueError(kind)
            key.append(number)
        return tuple(key)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadRequest(f"unknown cursor {cursor[:64]!r} for this list") from None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool


def paginate(rows: list[T], size: int, cursor_of: CursorFn[T]) -> Page[T]:
    """Cut a ``size + 1`` fetch down to one page and tell whether another follows."""
    items = rows[:size]
    return Page(items=items, cursors=[cursor_of(row) for row in items], has_next=len(rows) > size)


class CursorFn(Generic[T]):
    def __init__(self, kind: str, *attrs: str) -> None:
        if len(attrs) != len(KEYS[kind]):
            raise ValueError(f"a {kind} cursor has {len(KEYS[kind])} parts")
        self.kind = kind
        self.attrs = attrs

    def __call__(self, row: T) -> str:
        return encode_cursor(self.kind, *(int(getattr(row, attr)) for attr in self.attrs))
