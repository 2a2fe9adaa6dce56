from __future__ import annotations

import pytest

from resolvers.errors import BadRequest
from resolvers.pagination import decode_cursor, encode_cursor, page_size


def test_cursor_round_trip() -> None:
    assert decode_cursor("portfolio", encode_cursor("portfolio", -3, 42)) == (-3, 42)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        encode_cursor("follow", 1),  # another list's cursor
        encode_cursor("post", 1, 2),  # wrong arity
        "cG9zdDphYmM",  # "post:abc"
        encode_cursor("post", 1 << 63),
        encode_cursor("post", -1),
        encode_cursor("post", 0),
        "cG9zdDorNQ",  # "post:+5"
        "cG9zdDowNQ",  # "post:05"
    ],
)
def test_foreign_or_garbage_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadRequest, match="unknown cursor"):
        decode_cursor("post", cursor)


@pytest.mark.parametrize("key", [(1 << 31, 1), (-(1 << 31) - 1, 1), (0, -1), (0, 1 << 63)])
def test_a_portfolio_cursor_out_of_its_columns_is_refused(key: tuple[int, int]) -> None:
    with pytest.raises(BadRequest, match="unknown cursor"):
        decode_cursor("portfolio", encode_cursor("portfolio", *key))


@pytest.mark.parametrize("key", [((1 << 31) - 1, (1 << 63) - 1), (-(1 << 31), 1)])
def test_a_portfolio_cursor_at_its_columns_bounds_is_read(key: tuple[int, int]) -> None:
    assert decode_cursor("portfolio", encode_cursor("portfolio", *key)) == key


@pytest.mark.parametrize(("first", "expected"), [(None, 20), (0, 0), (100, 100)])
def test_page_size(first: int | None, expected: int) -> None:
    assert page_size(first) == expected


@pytest.mark.parametrize("first", [-1, 101])
def test_page_size_out_of_range(first: int) -> None:
    with pytest.raises(BadRequest, match="first must"):
        page_size(first)
