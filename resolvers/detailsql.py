"""One post or one artwork by id, and everything its page shows, read with hand-written SQL.

The data side of the compiled plans of ``post(id:)`` and ``artwork(id:)`` (``schema.plan_detail``):
the object if the viewer may see it (``rules.VISIBLE``, as ``resolvers.posts.get_post`` and
``resolvers.portfolio.get_artwork`` decide), in one statement with its author or owner, the
viewer's like and follow joined in. A post is read with the post it replies to (under the same
rule: ``Post.replyTo``), and with their attached artworks, as a feed page reads its posts
(``resolvers.feedsql.PageReader``): the result is a ``FeedPage`` the plans' writers and
``resolvers.pagemedia`` read as they read a feed page.
"""

from __future__ import annotations

from typing import Any

from resolvers.feedsql import (
    _FOLLOWS,
    _LIKED,
    ARTWORK,
    AUTHOR,
    FeedPage,
    Needs,
    PageReader,
    _ordered,
    read_replies_seen,
)
from resolvers.rules import FOLLOWS, VISIBLE
from storage import rawsql
from storage.models import Artwork, Post, User
from storage.rawsql import Row, convert, converters


class PostReader(PageReader):
    """The post ``$n`` (and the post it replies to, with ``reply_to``) as a page of at most two
    posts, newest first, each only if the viewer may see it."""

    def __init__(self, needs: Needs, *, reply_to: bool) -> None:
        self.reply_to = reply_to
        super().__init__(needs, home=False)

    def _sql(self, *, after: bool, viewer: bool, sqlite: bool) -> tuple[str, bool]:
        needs = self.needs
        columns = [f"p.{column}" for column in self.post_columns]
        if needs.authors:
            columns += [f"u.{column} AS {AUTHOR}{column}" for column in self.user_columns]
        if viewer and needs.likes:
            columns.append(_LIKED)
        if viewer and needs.follows:
            columns.append(_FOLLOWS)
        joined = " JOIN users u ON u.id = p.author_id" if needs.authors else ""
        who = "$1" if viewer else None
        seen = VISIBLE.to_sql(who, owner="p.author_id", visibility="p.visibility")
        uses_viewer = viewer and (needs.likes or needs.follows or "$1" in seen)
        n = 2 if uses_viewer else 1
        ids = (
            f"p.id IN (${n}, (SELECT r.reply_to_id FROM posts r WHERE r.id = ${n}))"  # noqa: S608
            if self.reply_to
            else f"p.id = ${n}"
        )
        sql = (
            f"SELECT {', '.join(columns)} FROM posts p{joined}"  # noqa: S608 (our names)
            f" WHERE {ids} AND {seen} ORDER BY p.id DESC LIMIT {{limit}}"
        )
        if needs.artwork_columns is not None:
            attached = ", ".join(f"a.{c} AS {ARTWORK}{c}" for c in self.artwork_columns)
            sql = (
                f"SELECT p.*, {attached} FROM ({sql}) p"  # noqa: S608 (our names)
                " LEFT JOIN post_artworks pa ON pa.post_id = p.id"
                " LEFT JOIN artworks a ON a.id = pa.artwork_id"
                " ORDER BY p.id DESC, pa.position, pa.id"
            )
        return sql, uses_viewer

    async def read_post(self, viewer_id: int | None, post_id: int) -> FeedPage:
        """The post and the one it replies to, those of them the viewer may see."""
        async with rawsql.reader(Post) as reader:
            sql, uses_viewer = self._page_statement(False, viewer_id is not None, reader.sqlite, 2)
            args: list[Any] = [viewer_id] if uses_viewer else []
            args.append(post_id)
            rows = convert(await reader.fetch(sql, *args), self.convert)
            page, owners = self._page(viewer_id, 2, rows)
            if owners:
                await self._owners(page, owners, reader)
        if self.needs.replies:
            await read_replies_seen(page)
        return page


class ArtworkReader:
    """The artwork ``$n`` with its owner's row (and whether the viewer follows the owner), if
    the viewer may see it, as a page whose one attachment it is (so ``resolvers.pagemedia``
    reads its images and the viewer's like)."""

    def __init__(
        self, artwork_columns: frozenset[str], user_columns: frozenset[str], *, follows: bool
    ) -> None:
        self.columns = _ordered(artwork_columns, Artwork, "id", "owner_id", "visibility")
        self.user_columns = _ordered(user_columns, User, "id")
        self.follows = follows
        self.convert = converters(Artwork, self.columns) + [
            (f"{AUTHOR}{column}", to_python)
            for column, to_python in converters(User, self.user_columns)
        ]
        self.sql = {viewer: self._sql(viewer=viewer) for viewer in (False, True)}

    def _sql(self, *, viewer: bool) -> tuple[str, bool]:
        columns = [f"a.{column}" for column in self.columns]
        columns += [f"u.{column} AS {AUTHOR}{column}" for column in self.user_columns]
        if viewer and self.follows:
            columns.append(f"({FOLLOWS.exists_sql('$1', 'a.owner_id', 'f')}) AS viewer_follows")
        who = "$1" if viewer else None
        seen = VISIBLE.to_sql(who, owner="a.owner_id", visibility="a.visibility")
        uses_viewer = viewer and (self.follows or "$1" in seen)
        sql = (
            f"SELECT {', '.join(columns)} FROM artworks a"  # noqa: S608 (our names)
            f" JOIN users u ON u.id = a.owner_id WHERE a.id = ${2 if uses_viewer else 1}"
            f" AND {seen}"
        )
        return sql, uses_viewer

    async def read_artwork(self, viewer_id: int | None, artwork_id: int) -> FeedPage | None:
        """A page holding the artwork (``attachments``) and its owner (``users``); None when
        it is missing or the viewer may not see it."""
        sql, uses_viewer = self.sql[viewer_id is not None]
        args: list[Any] = [viewer_id] if uses_viewer else []
        args.append(artwork_id)
        async with rawsql.reader(Artwork) as reader:
            rows = convert(await reader.fetch(sql, *args), self.convert)
        if not rows:
            return None
        artwork: Row = rows[0]
        owner = {column: artwork.pop(f"{AUTHOR}{column}") for column in self.user_columns}
        page = FeedPage(viewer_id, [], has_next=False)
        page.users[artwork["owner_id"]] = owner
        page.attachments[artwork["id"]] = [artwork]
        if viewer_id is not None and self.follows and artwork.pop("viewer_follows") is not None:
            page.followed.add(artwork["owner_id"])
        return page
