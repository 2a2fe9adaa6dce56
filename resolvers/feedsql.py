"""A page of the home or discover feed and everything it shows, read with hand-written SQL.

This is the data side of the compiled plans (``schema.compiled``): the same rules as
``resolvers.feed`` and ``resolvers.access``, as a handful of statements on one pooled connection,
returning plain rows (dicts keyed by column) instead of model instances. One page costs at most
two statements: the page (with its authors and the viewer's likes and follows joined in) and the
attached artworks; a third and fourth only for an artwork whose owner is not the post's author.

The statements run on both backends through ``storage.rawsql``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resolvers.pagination import MAX_PAGE
from storage import rawsql
from storage.models import Artwork, Post, User, Visibility
from storage.rawsql import Row, convert, converters

# What a feed shows of each kind of row. Never email or password_hash.
POST_COLUMNS = (
    "id",
    "author_id",
    "text",
    "visibility",
    "like_count",
    "comment_count",
    "reply_count",
    "created_at",
)
USER_COLUMNS = (
    "id",
    "handle",
    "display_name",
    "bio",
    "links",
    "open_for_commissions",
    "ai_training_policy",
    "follower_count",
    "following_count",
    "post_count",
    "artwork_count",
    "created_at",
)
ARTWORK_COLUMNS = (
    "id",
    "owner_id",
    "title",
    "description",
    "medium",
    "tags",
    "position",
    "visibility",
    "ai_training_policy",
    "like_count",
    "comment_count",
    "created_at",
    "updated_at",
)

_HOME_WHERE = (
    "(p.author_id = $1 OR (p.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)"
    " AND p.visibility IN ('public', 'followers')))"
)
_DISCOVER_WHERE = "p.visibility = 'public'"
# Per-row look-ups by primary key, not EXISTS: PostgreSQL may answer an EXISTS with a hash of
# every like (or follow) of the viewer, which grows with the viewer's history, not with the page.
_LIKED = "(SELECT 1 FROM post_likes l WHERE l.user_id = $1 AND l.post_id = p.id) AS viewer_liked"
_FOLLOWS = (
    "(SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = p.author_id)"
    " AS viewer_follows"
)
AUTHOR = "author__"  # the prefix of the author's columns in a page row

ATTACHMENTS_SQL = (
    "SELECT pa.post_id AS attached_to, {columns} FROM post_artworks pa"
    " JOIN artworks a ON a.id = pa.artwork_id WHERE pa.post_id = ANY($1::bigint[])"
    " ORDER BY pa.post_id, pa.position"
)
USERS_SQL = "SELECT {columns} FROM users WHERE id = ANY($1::bigint[])"
FOLLOWS_SQL = (
    "SELECT followee_id FROM follows WHERE follower_id = $1 AND followee_id = ANY($2::bigint[])"
)


@dataclass(frozen=True, slots=True)
class Needs:
    """What a selection shows. Column names are the tables' own."""

    post_columns: frozenset[str] = frozenset()
    authors: bool = False  # the authors' rows (joined into the page)
    owners: bool = False  # the rows of attached artworks' owners
    user_columns: frozenset[str] = frozenset()  # of authors and owners
    artwork_columns: frozenset[str] | None = None  # None: attachments are not read
    likes: bool = False  # the viewer's likes among the page
    follows: bool = False  # the viewer's follows among the people shown


def _ordered(columns: frozenset[str], known: tuple[str, ...], *always: str) -> tuple[str, ...]:
    unknown = columns - set(known)
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)}")
    return tuple(column for column in known if column in columns or column in always)


@dataclass(slots=True)
class FeedPage:
    viewer_id: int | None
    posts: list[Row]
    has_next: bool
    users: dict[int, Row] = field(default_factory=dict)
    attachments: dict[int, list[Row]] = field(default_factory=dict)
    liked: set[int] = field(default_factory=set)
    followed: set[int] = field(default_factory=set)

    def can_see(self, owner_id: int, visibility: Visibility) -> bool:
        """``resolvers.access.can_see`` on what the page holds."""
        if visibility is Visibility.PUBLIC or owner_id == self.viewer_id:
            return True
        return (
            visibility is Visibility.FOLLOWERS
            and self.viewer_id is not None
            and owner_id in self.followed
        )


def _flag(value: object) -> bool:
    return value is not None


class PageReader:
    """The statements for one selection of one feed, built once (a compiled plan holds one)."""

    def __init__(self, needs: Needs, *, home: bool) -> None:
        self.needs, self.home = needs, home
        self.post_columns = _ordered(needs.post_columns, POST_COLUMNS, "id", "author_id")
        self.user_columns = _ordered(needs.user_columns, USER_COLUMNS, "id")
        artwork_columns = (
            _ordered(needs.artwork_columns, ARTWORK_COLUMNS, "id", "owner_id", "visibility")
            if needs.artwork_columns is not None
            else ()
        )
        author = [f"u.{column} AS {AUTHOR}{column}" for column in self.user_columns]
        self.post_convert = converters(Post, self.post_columns)
        self.author_columns: list[tuple[str, str]] = []  # (key in the page row, column)
        if needs.authors:
            self.post_convert += [
                (f"{AUTHOR}{column}", to_python)
                for column, to_python in converters(User, self.user_columns)
            ]
            self.author_columns = [(f"{AUTHOR}{column}", column) for column in self.user_columns]
        self.attachments_sql = ATTACHMENTS_SQL.format(
            columns=", ".join(f"a.{column}" for column in artwork_columns)
        )
        self.artwork_convert = converters(Artwork, artwork_columns)
        self.users_sql = USERS_SQL.format(columns=", ".join(self.user_columns))
        self.user_convert = converters(User, self.user_columns)
        # (cursor given, viewer known) -> the page statement's text with {limit} to fill in,
        # and whether $1 is the viewer
        self.page_sql: dict[tuple[bool, bool], tuple[str, bool]] = {}
        for after in (False, True):
            for viewer in (False, True):
                if home and not viewer:
                    continue
                columns = [f"p.{column}" for column in self.post_columns]
                if needs.authors:
                    columns += author
                if viewer and needs.likes:
                    columns.append(_LIKED)
                if viewer and needs.follows:
                    columns.append(_FOLLOWS)
                where = _HOME_WHERE if home else _DISCOVER_WHERE
                # $1 is the viewer where the statement uses one; the cursor follows.
                uses_viewer = home or (viewer and (needs.likes or needs.follows))
                sql = (
                    f"SELECT {', '.join(columns)} FROM posts p"
                    + (" JOIN users u ON u.id = p.author_id" if needs.authors else "")
                    + f" WHERE {where}"
                    + (f" AND p.id < ${2 if uses_viewer else 1}" if after else "")
                    # The limit is written out, not a parameter: for LIMIT $n PostgreSQL's
                    # generic plan assumes a tenth of the table, so it would plan the statement
                    # anew on every execution (a third of its CPU for a page).
                    + " ORDER BY p.id DESC LIMIT {limit}"
                )
                self.page_sql[(after, viewer)] = (sql, uses_viewer)
        self._statements: dict[tuple[bool, bool, int], str] = {}

    def _page_statement(self, after: bool, viewer: bool, size: int) -> tuple[str, bool]:
        template, uses_viewer = self.page_sql[(after, viewer)]
        key = (after, viewer, size)
        sql = self._statements.get(key)
        if sql is None:
            if not 0 <= size <= MAX_PAGE:
                raise ValueError(f"page size {size} out of range")
            sql = self._statements[key] = template.format(limit=int(size) + 1)
        return sql, uses_viewer

    async def read(self, viewer_id: int | None, size: int, after: int | None) -> FeedPage:
        """``size`` posts older than the post id ``after`` (newest first when None), for
        ``viewer_id``, with what the selection needs. Reads go where the ORM's reads would go
        now (the replica inside ``storage.replica.reads_from_replica``)."""
        needs = self.needs
        sql, uses_viewer = self._page_statement(after is not None, viewer_id is not None, size)
        args: list[Any] = [viewer_id] if uses_viewer else []
        if after is not None:
            args.append(after)
        async with rawsql.reader(Post) as reader:
            raw = await reader.fetch(sql, *args)
            page = FeedPage(viewer_id, convert(raw[:size], self.post_convert), len(raw) > size)
            if not page.posts:
                return page
            self._split(page)
            if needs.artwork_columns is not None:
                await self._attachments(page, reader)
            return page

    def _split(self, page: FeedPage) -> None:
        """Move the authors' columns and the viewer's flags out of the page rows."""
        needs = self.needs
        liked = needs.likes and page.viewer_id is not None
        follows = needs.follows and page.viewer_id is not None
        for post in page.posts:
            if needs.authors:
                author = {column: post.pop(key) for key, column in self.author_columns}
                page.users[post["author_id"]] = author
            if liked and post.pop("viewer_liked") is not None:
                page.liked.add(post["id"])
            if follows and post.pop("viewer_follows") is not None:
                page.followed.add(post["author_id"])

    async def _attachments(self, page: FeedPage, reader: rawsql.Reader) -> None:
        post_ids = [post["id"] for post in page.posts]
        rows = convert(await reader.fetch(self.attachments_sql, post_ids), self.artwork_convert)
        owners: dict[int, None] = {}
        for artwork in rows:
            page.attachments.setdefault(artwork.pop("attached_to"), []).append(artwork)
            owners[artwork["owner_id"]] = None
        # Artworks attach to their own artist's posts, so the owners are authors already; any
        # other owner is read here.
        authors = {post["author_id"] for post in page.posts}
        missing = [owner for owner in owners if owner not in page.users]
        if self.needs.owners and missing:
            users = convert(await reader.fetch(self.users_sql, missing), self.user_convert)
            page.users.update((user["id"], user) for user in users)
        strangers = [owner for owner in owners if owner not in authors]
        if self.needs.follows and page.viewer_id is not None and strangers:
            followed = await reader.fetch(FOLLOWS_SQL, page.viewer_id, strangers)
            page.followed.update(row[0] for row in followed)
