"""A page of the comments on one post or artwork, read with hand-written SQL.

The companion of ``resolvers.detailsql`` for a compiled plan of one post or artwork by id
(``schema.plan_detail``): the comments oldest first after the cursor, without those of members
an exclusion or a hold of ``rules.VISIBLE`` hides from the viewer (as ``resolvers.social.comments``
filters them), with their authors' rows and whether the viewer follows each author joined in: one
statement for the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from resolvers.pagination import MAX_PAGE
from resolvers.rules import FOLLOWS, VISIBLE
from storage import rawsql
from storage.models import Comment, User, public_columns
from storage.rawsql import Row, convert, converters

Subject = Literal["post_id", "artwork_id"]
AUTHOR = "author__"  # the prefix of the author's columns in a comment row


@dataclass(slots=True)
class CommentPage:
    comments: list[Row]
    has_next: bool
    users: dict[int, Row] = field(default_factory=dict)  # the authors' rows, when read
    followed: set[int] = field(default_factory=set)  # the authors the viewer follows
    has_previous: bool = False  # read after a cursor


class CommentReader:
    """The page statement of one selection (a compiled plan holds one)."""

    def __init__(
        self,
        subject: Subject,
        columns: frozenset[str],
        user_columns: frozenset[str] | None,
        *,
        follows: bool,
    ) -> None:
        """``columns`` of the comments and ``user_columns`` of their authors (None: the authors
        are not shown), by the tables' own names; ``follows``: whether the viewer follows each
        author."""
        unknown = (columns - set(public_columns(Comment))) | (
            (user_columns or frozenset()) - set(public_columns(User))
        )
        if unknown:
            raise ValueError(f"not columns a page may read: {sorted(unknown)}")
        self.columns = ("id", "author_id", *sorted(columns - {"id", "author_id"}))
        self.user_columns = (
            ("id", *sorted(user_columns - {"id"})) if user_columns is not None else ()
        )
        self.follows = follows and user_columns is not None
        self.subject = subject
        self.convert = converters(Comment, self.columns) + [
            (f"{AUTHOR}{column}", to_python)
            for column, to_python in converters(User, self.user_columns)
        ]
        self.author_keys = [(f"{AUTHOR}{column}", column) for column in self.user_columns]
        self._statements: dict[tuple[bool, bool, int], tuple[str, bool]] = {}

    def _sql(self, *, after: bool, viewer: bool, limit: int) -> tuple[str, bool]:
        columns = [f"c.{column}" for column in self.columns]
        columns += [f"u.{column} AS {AUTHOR}{column}" for column in self.user_columns]
        if viewer and self.follows:
            columns.append(f"({FOLLOWS.exists_sql('$1', 'c.author_id', 'f')}) AS viewer_follows")
        joined = " JOIN users u ON u.id = c.author_id" if self.user_columns else ""
        shown = VISIBLE.unhidden_sql("$1" if viewer else None, owner="c.author_id")
        uses_viewer = viewer and (self.follows or "$1" in shown)
        subject = 2 if uses_viewer else 1
        sql = (
            f"SELECT {', '.join(columns)} FROM comments c{joined}"  # noqa: S608 (our names)
            f" WHERE c.{self.subject} = ${subject} AND {shown}"
            + (f" AND c.id > ${subject + 1}" if after else "")
            # the limit written out, as the feed pages do (resolvers.feedsql)
            + f" ORDER BY c.id LIMIT {int(limit)}"
        )
        return sql, uses_viewer

    def statement(
        self, viewer_id: int | None, subject_id: int, size: int, after: int | None
    ) -> tuple[Any, ...]:
        """The page statement of ``read`` and its arguments: the rows of ``size`` comments and
        one more when another page follows."""
        if not 0 <= size <= MAX_PAGE:
            raise ValueError(f"page size {size} out of range")
        key = (after is not None, viewer_id is not None, size)
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = self._sql(
                after=after is not None, viewer=viewer_id is not None, limit=size + 1
            )
        sql, uses_viewer = statement
        args: list[Any] = [viewer_id] if uses_viewer else []
        args.append(subject_id)
        if after is not None:
            args.append(after)
        return (sql, *args)

    async def read(
        self, viewer_id: int | None, subject_id: int, size: int, after: int | None
    ) -> CommentPage:
        """``size`` comments on the post or artwork ``subject_id`` after the comment id ``after``
        (from the first when None), for ``viewer_id``."""
        async with rawsql.reader(Comment) as reader:
            raw = await reader.fetch(*self.statement(viewer_id, subject_id, size, after))
        rows = convert(raw, self.convert)
        page = CommentPage(rows[:size], has_next=len(rows) > size)
        follows = self.follows and viewer_id is not None
        for row in page.comments:
            if self.author_keys:
                page.users[row["author_id"]] = {c: row.pop(k) for k, c in self.author_keys}
            if follows and row.pop("viewer_follows") is not None:
                page.followed.add(row["author_id"])
        return page
