"""A person and one page of theirs, read with hand-written SQL: the data side of the plans rooted
at ``user(handle:)`` (``schema.plan_user``).

The person is one statement by handle, with whether the viewer follows them and whether an
exclusion or a hold of ``rules.VISIBLE`` hides them (the regular path's ``hidden_member``). Their
page is one more: their posts (``AuthorPageReader``, the feed page's columns and joins of
``resolvers.feedsql``), their portfolio (``PortfolioReader``) or their followers or followees
(``FollowReader``). Who may see which of their works is ``rules.VISIBLE.passing`` for the viewer
and the person, as ``resolvers.access.visible_to_viewer`` decides it for the regular path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resolvers.feedsql import FeedPage, Needs, PageReader, cursor_param, read_replies_seen
from resolvers.pagination import MAX_PAGE
from resolvers.rules import FOLLOWS, VISIBLE
from storage import rawsql
from storage.models import Artwork, Post, User, Visibility, public_columns
from storage.rawsql import Row, convert, converters


def _limit(size: int) -> str:
    if not 0 <= size <= MAX_PAGE:
        raise ValueError(f"page size {size} out of range")
    # written out, not a parameter (see resolvers.feedsql: PostgreSQL would plan LIMIT $n anew)
    return str(int(size) + 1)


@dataclass(frozen=True, slots=True)
class Person:
    row: Row
    follows: bool  # the viewer follows them
    hidden: bool  # an exclusion or a hold hides them from the viewer (never from themselves)

    @property
    def id(self) -> int:
        return int(self.row["id"])

    def passing(self, viewer_id: int | None) -> frozenset[Visibility]:
        """The visibilities of their works the viewer may see (``access.visible_to_viewer``)."""
        return VISIBLE.passing(viewer_id, self.id, follows=self.follows, hidden=self.hidden)


def _hidden_column(viewer: str | None, owner: str) -> str:
    """1 when an exclusion or a hold of ``VISIBLE`` hides ``owner`` from the viewer, else 0."""
    return f"CASE WHEN {VISIBLE.unhidden_sql(viewer, owner=owner)} THEN 0 ELSE 1 END"


class PersonReader:
    """A person by handle, with the columns a plan shows of them."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.convert = converters(User, columns)
        selected = ", ".join(f"u.{column}" for column in columns)
        self.sql = {
            True: f"SELECT {selected}, ({FOLLOWS.exists_sql('$1', 'u.id', 'f')}) AS viewer_follows,"
            f" {_hidden_column('$1', 'u.id')} AS viewer_hidden FROM users u"
            " WHERE u.handle_key = $2",
            False: f"SELECT {selected}, {_hidden_column(None, 'u.id')} AS viewer_hidden"
            " FROM users u WHERE u.handle_key = $1",
        }

    async def read(self, viewer_id: int | None, handle_key: str) -> Person | None:
        """The person whose ``handle_key`` it is (``accounts.find_by_handle``), or None."""
        signed_in = viewer_id is not None
        args: list[Any] = [viewer_id, handle_key] if signed_in else [handle_key]
        async with rawsql.reader(User) as reader:
            rows = convert(await reader.fetch(self.sql[signed_in], *args), self.convert)
        if not rows:
            return None
        row = rows[0]
        follows = row.pop("viewer_follows", None) is not None
        hidden = bool(row.pop("viewer_hidden")) and row["id"] != viewer_id
        return Person(row, follows=follows and row["id"] != viewer_id, hidden=hidden)


class AuthorPageReader(PageReader):
    """A page of one person's posts, newest first, with what the selection shows of each (the
    feed page's columns, joins and follow-up reads)."""

    def __init__(self, needs: Needs) -> None:
        super().__init__(needs, home=False)
        self._author_statements: dict[tuple[bool, bool, frozenset[Visibility], int], str] = {}

    def _author_sql(
        self, *, after: bool, viewer: bool, passing: frozenset[Visibility], size: int
    ) -> str:
        key = (after, viewer, passing, size)
        sql = self._author_statements.get(key)
        if sql is None:
            needs = self.needs
            uses_viewer = viewer and (needs.likes or needs.follows)
            author = 2 if uses_viewer else 1
            joined = " JOIN users u ON u.id = p.author_id" if needs.authors else ""
            seen = VISIBLE.passing_sql(passing, "p.visibility")
            sql = (
                f"SELECT {', '.join(self.columns(viewer=viewer))} FROM posts p{joined}"
                f" WHERE p.author_id = ${author} AND {seen}"
                + (f" AND p.id < ${author + 1}" if after else "")
                + f" ORDER BY p.id DESC LIMIT {_limit(size)}"
            )
            sql = self._author_statements[key] = self.with_attachments(sql)
        return sql

    async def read_author(
        self, viewer_id: int | None, person: Person, size: int, after: int | None
    ) -> FeedPage:
        """``size`` of the person's posts older than the post id ``after`` that the viewer may
        see (and one more when another page follows)."""
        needs = self.needs
        signed_in = viewer_id is not None
        sql = self._author_sql(
            after=after is not None,
            viewer=signed_in,
            passing=person.passing(viewer_id),
            size=size,
        )
        args: list[Any] = [viewer_id] if signed_in and (needs.likes or needs.follows) else []
        args.append(person.id)
        if after is not None:
            args.append(after)
        async with rawsql.reader(Post) as reader:
            rows = convert(await reader.fetch(sql, *args), self.convert)
            page, owners = self._page(viewer_id, size, rows)
            page.users.setdefault(person.id, person.row)
            if person.follows:
                page.followed.add(person.id)
            if owners:
                await self._owners(page, owners, reader)
        if needs.replies:
            await read_replies_seen(page)
        return page


def person_page(viewer_id: int | None, person: Person) -> FeedPage:
    """A page of no posts that shows the person (their header)."""
    page = FeedPage(viewer_id, [], has_next=False, users={person.id: person.row})
    if person.follows:
        page.followed.add(person.id)
    return page


@dataclass(slots=True)
class ListPage:
    """A page of a person's list: each entry's cursor key and row (None: not shown), and the
    page the objects' writers read (the people, follows, images)."""

    page: FeedPage
    entries: list[tuple[tuple[int, ...], Row | None]] = field(default_factory=list)
    has_next: bool = False


class FollowReader:
    """A page of a person's followers (``followers``) or followees, newest follow first, with
    whether the viewer follows each and whether each is hidden from the viewer."""

    def __init__(self, user_columns: tuple[str, ...], *, followers: bool) -> None:
        self.columns = user_columns
        self.convert = converters(User, user_columns)
        mine, other = (
            ("followee_id", "follower_id") if followers else ("follower_id", "followee_id")
        )
        selected = ", ".join(f"u.{column} AS u__{column}" for column in user_columns)
        # by (signed in, after a cursor, SQLite)
        self.templates: dict[tuple[bool, bool, bool], str] = {}
        for signed_in in (True, False):
            viewer = "$1" if signed_in else None
            person = 2 if signed_in else 1
            follows = (
                f", ({FOLLOWS.exists_sql('$1', 'u.id', 'fv')}) AS viewer_follows"
                if signed_in
                else ""
            )
            for after in (False, True):
                for sqlite in (False, True):
                    cursor = cursor_param(f"${person + 1}", sqlite=sqlite)
                    self.templates[(signed_in, after, sqlite)] = (
                        f"SELECT f.id AS follow_id, {selected}{follows},"
                        f" {_hidden_column(viewer, 'u.id')} AS viewer_hidden FROM follows f"
                        f" LEFT JOIN users u ON u.id = f.{other} WHERE f.{mine} = ${person}"
                        + (f" AND f.id < {cursor}" if after else "")
                        + " ORDER BY f.id DESC LIMIT {limit}"
                    )

    async def read(
        self, viewer_id: int | None, person: Person, size: int, after: int | None
    ) -> ListPage:
        signed_in = viewer_id is not None
        args: list[Any] = [viewer_id, person.id] if signed_in else [person.id]
        if after is not None:
            args.append(after)
        async with rawsql.reader(User) as reader:
            template = self.templates[(signed_in, after is not None, reader.sqlite)]
            raw = await reader.fetch(template.replace("{limit}", _limit(size)), *args)
        listed = ListPage(person_page(viewer_id, person), has_next=len(raw) > size)
        page = listed.page
        for record in raw[:size]:
            user: Row | None = {c: record[f"u__{c}"] for c in self.columns}
            assert user is not None
            if user["id"] is None:  # the member went away: left out, as the regular path does
                listed.entries.append(((int(record["follow_id"]),), None))
                continue
            for column, to_python in self.convert:
                user[column] = to_python(user[column])
            user_id = int(user["id"])
            if record["viewer_hidden"] and user_id != viewer_id:
                user = None  # a block or a suspension hides them: left out
            else:
                page.users.setdefault(user_id, user)
                if signed_in and record["viewer_follows"] is not None and user_id != viewer_id:
                    page.followed.add(user_id)
            listed.entries.append(((int(record["follow_id"]),), user))
        return listed


# The key under which a portfolio page keeps its artworks in ``FeedPage.attachments``, where the
# media reader (``resolvers.pagemedia``) finds the artworks whose images and likes it reads.
PORTFOLIO = 0


class PortfolioReader:
    """A page of a person's artworks in their order (position, id) that the viewer may see."""

    def __init__(self, artwork_columns: frozenset[str]) -> None:
        unknown = artwork_columns - set(public_columns(Artwork))
        if unknown:
            raise ValueError(f"not columns a portfolio may read: {sorted(unknown)}")
        always = ("id", "owner_id", "visibility", "position")
        self.columns = (*always, *sorted(artwork_columns - set(always)))
        self.convert = converters(Artwork, self.columns)
        self.selected = ", ".join(f"a.{column}" for column in self.columns)
        self._statements: dict[tuple[bool, frozenset[Visibility], int], str] = {}

    def sql(self, after: bool, passing: frozenset[Visibility], size: int) -> str:
        """The page of ``size`` artworks and one more when another page follows, of the
        person ``$1`` after the place (``$2``, ``$3``) when ``after``, of the visibilities
        ``passing``."""
        key = (after, passing, size)
        sql = self._statements.get(key)
        if sql is None:
            later = (
                " AND a.position >= $2 AND (a.position > $2 OR (a.position = $2 AND a.id > $3))"
                if after
                else ""
            )
            limit = _limit(size)
            # One ordered range of the (owner, visibility, position, id) index per visibility
            # that passes, merged: a page reads at most a page per visibility wherever it
            # starts. (With every visibility in one condition, PostgreSQL estimates a deep
            # page's rows from the whole table's positions, reads all the person's later
            # artworks and sorts them.)
            ranges = " UNION ALL ".join(
                f"SELECT * FROM (SELECT a.id, a.position FROM artworks a WHERE a.owner_id = $1"
                f" AND {VISIBLE.passing_sql(frozenset({shown}), 'a.visibility')}{later}"
                f" ORDER BY a.position, a.id LIMIT {limit}) AS r{number}"
                for number, shown in enumerate(v for v in Visibility if v in passing)
            )
            nothing = f"SELECT {self.selected} FROM artworks a WHERE a.owner_id = $1 AND FALSE"
            sql = self._statements[key] = (
                f"SELECT {self.selected} FROM artworks a"
                f" JOIN (SELECT id, position FROM ({ranges}) AS ranges"
                f" ORDER BY position, id LIMIT {limit}) AS page ON a.id = page.id"
                " ORDER BY a.position, a.id"
                if passing
                else nothing + later
            )
        return sql

    async def read(
        self, viewer_id: int | None, person: Person, size: int, after: tuple[int, ...] | None
    ) -> ListPage:
        sql = self.sql(after is not None, person.passing(viewer_id), size)
        args: list[Any] = [person.id, *(after or ())]
        async with rawsql.reader(Artwork) as reader:
            rows = convert(await reader.fetch(sql, *args), self.convert)
        listed = ListPage(person_page(viewer_id, person), has_next=len(rows) > size)
        artworks = rows[:size]
        listed.page.attachments[PORTFOLIO] = artworks
        listed.entries = [((int(a["position"]), int(a["id"])), a) for a in artworks]
        return listed
