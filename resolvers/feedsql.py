"""A page of the home or discover feed and everything it shows, read with hand-written SQL.

This is the data side of the compiled plans (``schema.compiled``): the same rules as
``resolvers.feed`` and ``resolvers.access`` in hand-written statements on one pooled connection,
returning plain rows (dicts keyed by column) instead of model instances. A page is one statement
(its posts with their authors, the viewer's likes and follows and the attached artworks joined
in); a second and third run only for an artwork whose owner is not the post's author, and one
more only for posts with non-public replies (how many of them the viewer may see).

The statements run on both backends through ``storage.rawsql``.

The home feed's page of post ids (``home_ids_sql``) is one statement for the compiled plans and
the regular path (``resolvers.feed``) alike. Which way it finds the page is chosen from the
number of artists the viewer follows and from their activity. A viewer who follows at most
``MERGE_FIRST_FOLLOWS`` artists gets a merge of each followed artist's (and the viewer's own)
newest posts: one range of what the viewer may see of each, a page at most, read from the index
on ``(author_id, id)`` of the posts a follower may see (migration 0021; the whole of it for
one's own), so its cost follows the page and the number of followed artists, not the size of the
table (a walk to the end of the table is what a member who follows nobody would cost
otherwise). A viewer who follows more first walks the newest posts (before the cursor) through
``rules.HOME``: ``SHORT_WALK_SCAN`` of them for up to ``SHORT_WALK_FOLLOWS`` artists,
``WALK_SCAN`` beyond. That is the activity signal: it finds a full page when the followed
artists are active, and a merge over a few dozen very active artists would read a page from
each of them. Only when it does not, the merge answers. PostgreSQL reads each range with
LATERAL; SQLite, which has no LATERAL, joins the owners to their posts through the same index. A
viewer who follows more than ``MERGE_MAX_FOLLOWS`` artists gets the walk to the end instead:
past a few hundred followed artists the merge reads more than the walk (a page from each), and
the walk finds a page soon among so many artists.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from tortoise.models import Model

from resolvers import mentions
from resolvers.pagination import MAX_PAGE
from resolvers.replies import beyond_public, seen_beyond_public
from resolvers.rules import DISCOVER, FOLLOWS, HOME, VISIBLE, followed_by_viewer, liked_by_viewer
from storage import rawsql
from storage.models import Artwork, Post, User, Visibility, public_columns
from storage.rawsql import Row, convert, converters

# The page statement's rows: posts (alias p) of ``rules.HOME`` or ``rules.DISCOVER`` for the
# viewer $1 (anonymous: no parameter).
_POSTS = {"owner": "p.author_id", "visibility": "p.visibility"}
# Per-row look-ups by primary key, not EXISTS: PostgreSQL may answer an EXISTS with a hash of
# every like (or follow) of the viewer, which grows with the viewer's history, not with the page.
_LIKED = "(SELECT 1 FROM post_likes l WHERE l.user_id = $1 AND l.post_id = p.id) AS viewer_liked"
_FOLLOWS = f"({FOLLOWS.exists_sql('$1', 'p.author_id', 'f')}) AS viewer_follows"
AUTHOR = "author__"  # the prefix of the author's columns in a page row

USERS_SQL = "SELECT {columns} FROM users WHERE id = ANY($1::bigint[])"

# How many of the newest posts the walk reads before the merge takes over. A dense viewer (one
# who follows 100 artists drawn by popularity) sees about one post in ten of the benchmark's 2M,
# so finds a page in some 200 posts, and more deep in the feed; a walk of 1024 that finds
# nothing costs about 0.3 ms of PostgreSQL CPU.
WALK_SCAN = 1024
# Up to how many followed artists the merge comes first, with no walk: a page from each of so
# few costs less than a walk that may find nothing (new members, and those who follow a few
# quiet artists, would pay for the walk and then for the merge).
MERGE_FIRST_FOLLOWS = 20
# Up to how many followed artists the walk reads only SHORT_WALK_SCAN of the newest posts: the
# activity of a few dozen artists. 48 who post daily fill a page within 256 posts (a merge would
# read a page from each of them: 48 pages for one); 50 of the long tail fill none, and the
# merge after it reads a few posts from each.
SHORT_WALK_FOLLOWS = 64
SHORT_WALK_SCAN = 256
# Up to how many followed artists the merge answers when the short walk finds no page; beyond,
# the walk goes on to the end. Measured on the benchmark graph of 2M posts (docs/benchmarks.md):
# the merge wins up to 200 artists drawn uniformly (the long tail) and loses from 500.
MERGE_MAX_FOLLOWS = 400


def cursor_param(param: str, *, sqlite: bool) -> str:
    """A page statement's keyset cursor, the parameter ``param`` (``$n``, a bigint id).

    PostgreSQL reads it through a subquery, so that no plan depends on its value: estimated
    from the value, the plans of a deep page cost more than the generic plan of the prepared
    statement, and PostgreSQL would plan the statement anew at every execution (on a large
    table, more CPU than the page itself)."""
    return param if sqlite else f"(SELECT CAST({param} AS BIGINT))"


def home_ids_sql(*, after: bool, sqlite: bool) -> str:
    """The home feed's page of post ids, newest first, for the viewer $1, older than the post
    id $2 if ``after``: CTEs ending in one named ``page`` (column ``id``) to put in front of a
    statement, with ``{limit}`` (the page size plus one) to fill in."""
    cursor = cursor_param("$2", sqlite=sqlite)
    older = f" AND p.id < {cursor}" if after else ""
    follows = "(SELECT n FROM follows_count)"
    # How far the walk looks: a few hundred posts for a viewer who follows a few dozen artists
    # (their share of the newest posts tells whether they are active; when it finds no page,
    # the merge that follows costs as much again), further for one who follows more.
    few = min(SHORT_WALK_SCAN, WALK_SCAN)
    scan = (
        f"(SELECT CASE WHEN n > {SHORT_WALK_FOLLOWS} THEN {WALK_SCAN} ELSE {few} END"
        " FROM follows_count)"
    )
    walk = (
        "SELECT w.id FROM (SELECT p.id, p.author_id, p.visibility FROM posts p"
        + (f" WHERE p.id < {cursor}" if after else "")
        + f" ORDER BY p.id DESC LIMIT {scan}) w"
        f" WHERE {follows} > {MERGE_FIRST_FOLLOWS}"
        f" AND {HOME.to_sql('$1', owner='w.author_id', visibility='w.visibility')}"
        " ORDER BY w.id DESC LIMIT {limit}"
    )
    # PostgreSQL reads one range of each owner's posts (``rules.HOME.by_owner_sql``): what
    # passes of them, a page at most, newest first, through the partial index on (author_id,
    # id) whose condition is the rule's (posts_author_shared, migration 0021), or on (author_id,
    # id) for one's own posts: the index alone answers, one descent per owner, and no post is
    # read that does not pass. SQLite joins the owners to their posts.
    branches: list[str] = []
    for term in HOME.by_owner_sql("$1", visibility="p.visibility"):
        if sqlite:
            seen = f" AND {term.passing}" if term.passing is not None else ""
            branches.append(
                f"SELECT p.id FROM ({term.owners}) o JOIN posts p ON p.author_id = o.owner_id"
                f" WHERE TRUE{seen}{older}"
            )
        else:
            seen = f" AND {term.passing}" if term.passing is not None else ""
            branches.append(
                f"SELECT q.id FROM ({term.owners}) o CROSS JOIN LATERAL"
                f" (SELECT p.id FROM posts p WHERE p.author_id = o.owner_id{seen}{older}"
                " ORDER BY p.id DESC LIMIT {limit}) q"
            )
    merge = (
        f"SELECT m.id FROM ({' UNION ALL '.join(branches)}) m ORDER BY m.id DESC LIMIT {{limit}}"
    )
    rule = HOME.to_sql("$1", owner="p.author_id", visibility="p.visibility")
    walk_on = f"SELECT p.id FROM posts p WHERE {rule}{older} ORDER BY p.id DESC LIMIT {{limit}}"
    short = "(SELECT count(*) FROM walk) < {limit}"
    # Exactly one part answers: the short walk when it found a whole page, else the merge, or
    # the walk to the end for a viewer who follows many. Each condition is a constant of the
    # statement, so the parts that do not answer are never run; the walk itself runs only for
    # a viewer who follows more than MERGE_FIRST_FOLLOWS artists.
    return (
        "follows_count AS (SELECT u.following_count AS n FROM users u WHERE u.id = $1),"
        f" walk AS ({walk}),"
        " page AS (SELECT id FROM walk WHERE (SELECT count(*) FROM walk) = {limit}"
        f" UNION ALL SELECT id FROM ({merge}) m"
        f" WHERE {short} AND {follows} <= {MERGE_MAX_FOLLOWS}"
        f" UNION ALL SELECT id FROM ({walk_on}) e"
        f" WHERE {short} AND {follows} > {MERGE_MAX_FOLLOWS})"
    )


async def home_page_ids(viewer_id: int, size: int, after: int | None) -> list[int]:
    """The ids of the viewer's home-feed page of ``size`` posts older than ``after`` (newest
    first when None), and one more when another page follows: the statement of the compiled
    plans, for the regular path."""
    if not 0 <= size <= MAX_PAGE:
        raise ValueError(f"page size {size} out of range")
    args: list[Any] = [viewer_id] if after is None else [viewer_id, after]
    async with rawsql.reader(Post) as reader:
        sql = _home_ids(after is not None, reader.sqlite, size + 1)
        return [row[0] for row in await reader.fetch(sql, *args)]


@functools.cache
def _home_ids(after: bool, sqlite: bool, limit: int) -> str:
    ctes = home_ids_sql(after=after, sqlite=sqlite).replace("{limit}", str(limit))
    return f"WITH {ctes} SELECT id FROM page ORDER BY id DESC"


FOLLOWS_SQL = FOLLOWS.among_sql()
# Which of the artworks $2 the viewer $1 has liked (``Artwork.viewerHasLiked`` for a page).
LIKED_ARTWORKS_SQL = (
    "SELECT artwork_id FROM artwork_likes WHERE user_id = $1 AND artwork_id = ANY($2::bigint[])"
)
# People by id with whether the viewer ($2) follows each: one statement instead of two.
FOLLOWED = "viewer_follows"
USERS_FOLLOWED_SQL = (
    "SELECT {columns}, ("
    + FOLLOWS.exists_sql("$2", "users.id", "fv")
    + f") AS {FOLLOWED} FROM users WHERE id = ANY($1::bigint[])"
)


def _followed(page: FeedPage, people: list[Row]) -> None:
    """Move ``FOLLOWED`` out of people rows read by ``PageReader._people`` into the page."""
    for person in people:
        if person.pop(FOLLOWED, None) is not None:
            page.followed.add(person["id"])


@dataclass(frozen=True, slots=True)
class Needs:
    """What a selection shows. Column names are the tables' own; which columns a field shows is
    decided by the plan's compiler (``schema.fields``), never a private one."""

    post_columns: frozenset[str] = frozenset()
    authors: bool = False  # the authors' rows (joined into the page)
    owners: bool = False  # the rows of attached artworks' owners
    user_columns: frozenset[str] = frozenset()  # of authors and owners
    artwork_columns: frozenset[str] | None = None  # None: attachments are not read
    likes: bool = False  # the viewer's likes among the page
    follows: bool = False  # the viewer's follows among the people shown
    replies: bool = False  # the replies the viewer may see (reply_count, public_reply_count)


def _ordered(columns: frozenset[str], model: type[Model], *always: str) -> tuple[str, ...]:
    """``always`` then ``columns``, in a fixed order; each must be a column of ``model``'s table
    that is not private (``storage.models.PRIVATE_COLUMNS``)."""
    unknown = columns - set(public_columns(model))
    if unknown:
        raise ValueError(f"not columns a feed may read: {sorted(unknown)}")
    return (*always, *sorted(columns - set(always)))


@dataclass(slots=True)
class FeedPage:
    viewer_id: int | None
    posts: list[Row]
    has_next: bool
    users: dict[int, Row] = field(default_factory=dict)
    attachments: dict[int, list[Row]] = field(default_factory=dict)
    liked: set[int] = field(default_factory=set)
    followed: set[int] = field(default_factory=set)
    # post id -> how many of its non-public replies the viewer may see (posts that have any)
    replies_seen: dict[int, int] = field(default_factory=dict)
    # owners an exclusion or a hold of VISIBLE hides
    hidden: set[int] = field(default_factory=set)
    # the page's images and artwork likes, when the selection shows them (resolvers.pagemedia)
    media: Any = None
    # a page of comments, when the selection shows them (resolvers.commentsql)
    comments: Any = None
    # handle key -> the member's row, of the members the page's texts mention whom the viewer
    # may see (``read_mentions``)
    mentioned: dict[str, Row] = field(default_factory=dict)

    def can_see(self, owner_id: int, visibility: Visibility) -> bool:
        """``resolvers.access.can_see`` on what the page holds."""
        seen = VISIBLE.decide(self.viewer_id, owner_id, visibility)
        if seen is None:
            follows, hidden = owner_id in self.followed, owner_id in self.hidden
            return VISIBLE.allows(
                self.viewer_id, owner_id, visibility, follows=follows, hidden=hidden
            )
        return seen

    def is_followed(self, user_id: int) -> bool:
        """``isFollowedByViewer`` of a user the page shows."""
        known = followed_by_viewer(self.viewer_id, user_id)
        return user_id in self.followed if known is None else known

    def has_liked(self, post_id: int) -> bool:
        """``viewerHasLiked`` of a post of the page."""
        known = liked_by_viewer(self.viewer_id)
        return post_id in self.liked if known is None else known


ARTWORK = "artwork__"  # the prefix of an attached artwork's columns in a page row
NODES = 0  # the key, among a page's attachments, of the artworks a page of artworks shows


class PageReader:
    """The page statement for one selection of one feed, built once (a compiled plan holds
    one): the page's posts, newest first, with their authors and the viewer's likes and follows
    joined in, and with their attached artworks (one row per attachment, in the author's order).
    """

    def __init__(self, needs: Needs, *, home: bool, tag: bool = False, ids: bool = False) -> None:
        # ``tag``: the discover rule over one tag's posts (``resolvers.feed.tag_feed``), the
        # tag a parameter of ``read``; ``ids``: given posts (``read_ids``), found by a reader
        # that applied the rules already (``resolvers.search``)
        self.needs, self.home, self.tag, self.ids = needs, home, tag, ids
        self.post_columns = _ordered(needs.post_columns, Post, "id", "author_id")
        self.user_columns = _ordered(needs.user_columns, User, "id")
        self.artwork_columns = (
            _ordered(needs.artwork_columns, Artwork, "id", "owner_id", "visibility")
            if needs.artwork_columns is not None
            else ()
        )
        self.convert = converters(Post, self.post_columns)
        self.author_keys: list[tuple[str, str]] = []  # (key in the page row, column)
        if needs.authors:
            self.convert += _prefixed(AUTHOR, converters(User, self.user_columns))
            self.author_keys = [(f"{AUTHOR}{column}", column) for column in self.user_columns]
        self.artwork_convert = converters(Artwork, self.artwork_columns)
        self.artwork_keys = [(f"{ARTWORK}{column}", column) for column in self.artwork_columns]
        self.users_sql = USERS_SQL.format(columns=", ".join(self.user_columns))
        self.users_followed_sql = USERS_FOLLOWED_SQL.format(columns=", ".join(self.user_columns))
        self.user_convert = converters(User, self.user_columns)
        # (cursor given, viewer known, SQLite) -> the page statement's text with {limit} to
        # fill in, and whether $1 is the viewer
        self.page_sql: dict[tuple[bool, bool, bool], tuple[str, bool]] = {}
        for after in (False, True):
            for viewer in (False, True):
                for sqlite in (False, True):
                    if not home or viewer:
                        self.page_sql[(after, viewer, sqlite)] = self._sql(
                            after=after, viewer=viewer, sqlite=sqlite
                        )
        self._statements: dict[tuple[bool, bool, bool, int], str] = {}

    def columns(self, *, viewer: bool) -> list[str]:
        """The page statement's columns over posts ``p`` (and authors ``u``), the viewer $1."""
        needs = self.needs
        columns = [f"p.{column}" for column in self.post_columns]
        if needs.authors:
            columns += [f"u.{column} AS {AUTHOR}{column}" for column in self.user_columns]
        if viewer and needs.likes:
            columns.append(_LIKED)
        if viewer and needs.follows:
            columns.append(_FOLLOWS)
        return columns

    def with_attachments(self, sql: str) -> str:
        """The page statement ``sql`` with each post's attached artworks joined in (one row per
        attachment), when the selection shows them."""
        if self.needs.artwork_columns is None:
            return sql
        attached = ", ".join(f"a.{c} AS {ARTWORK}{c}" for c in self.artwork_columns)
        return (
            f"SELECT p.*, {attached} FROM ({sql}) p"
            " LEFT JOIN post_artworks pa ON pa.post_id = p.id"
            " LEFT JOIN artworks a ON a.id = pa.artwork_id"
            " ORDER BY p.id DESC, pa.position, pa.id"
        )

    def _sql(self, *, after: bool, viewer: bool, sqlite: bool) -> tuple[str, bool]:
        needs = self.needs
        columns = self.columns(viewer=viewer)
        joined = " JOIN users u ON u.id = p.author_id" if needs.authors else ""
        ctes = ""
        if self.home:
            # The page's ids (see home_ids_sql), $1 the viewer and $2 the cursor.
            uses_viewer = True
            ctes = f"WITH {home_ids_sql(after=after, sqlite=sqlite)} "
            sql = (
                f"SELECT {', '.join(columns)} FROM page JOIN posts p ON p.id = page.id{joined}"
                " ORDER BY p.id DESC"
            )
        elif self.ids:
            # The posts of the page, $1 the viewer where the selection needs one; the ids follow.
            uses_viewer = viewer and (needs.likes or needs.follows)
            ids = 2 if uses_viewer else 1
            sql = (
                f"SELECT {', '.join(columns)} FROM posts p{joined}"
                f" WHERE p.id = ANY(${ids}::bigint[]) ORDER BY p.id DESC"
            )
        elif self.tag:
            # The discover rule judged by the visibility each tag row keeps of its post, and a
            # tag copied from an attached artwork only for those who may see that artwork.
            who = "$1" if viewer else None
            shown = DISCOVER.to_sql(who, owner="p.author_id", visibility="t.post_visibility")
            seen = VISIBLE.to_sql(who, owner="ta.owner_id", visibility="ta.visibility")
            where = f"{shown} AND (t.artwork_id IS NULL OR {seen})"
            # $1 is the viewer where the statement uses one; the tag and the cursor follow.
            uses_viewer = viewer and (needs.likes or needs.follows or "$1" in where)
            tag = 2 if uses_viewer else 1
            # The cursor bounds both sides of the join: PostgreSQL does not carry a range over
            # ``p.id = t.post_id``, so a merge join of the tag's rows with the posts would
            # otherwise read the posts from the newest down to the cursor (a deep page read
            # some 1,200 posts to show 12).
            cursor = f"${tag + 1}"
            sql = (
                f"SELECT {', '.join(columns)} FROM post_tags t JOIN posts p ON p.id = t.post_id"
                f" LEFT JOIN artworks ta ON ta.id = t.artwork_id{joined}"
                f" WHERE t.tag = ${tag} AND {where}"
                + (f" AND t.post_id < {cursor} AND p.id < {cursor}" if after else "")
                + " ORDER BY t.post_id DESC LIMIT {limit}"
            )
        else:
            where = DISCOVER.to_sql("$1" if viewer else None, **_POSTS)
            # $1 is the viewer where the statement uses one; the cursor follows.
            uses_viewer = viewer and (needs.likes or needs.follows or "$1" in where)
            sql = (
                f"SELECT {', '.join(columns)} FROM posts p{joined}"
                + f" WHERE {where}"
                + (f" AND p.id < ${2 if uses_viewer else 1}" if after else "")
                # The limit is written out, not a parameter: for LIMIT $n PostgreSQL's generic
                # plan assumes a tenth of the table, so it would plan the statement anew on
                # every execution (a third of its CPU for a page).
                + " ORDER BY p.id DESC LIMIT {limit}"
            )
        return ctes + self.with_attachments(sql), uses_viewer

    def _page_statement(
        self, after: bool, viewer: bool, sqlite: bool, size: int
    ) -> tuple[str, bool]:
        template, uses_viewer = self.page_sql[(after, viewer, sqlite)]
        key = (after, viewer, sqlite, size)
        sql = self._statements.get(key)
        if sql is None:
            if not 0 <= size <= MAX_PAGE:
                raise ValueError(f"page size {size} out of range")
            sql = self._statements[key] = template.replace("{limit}", str(int(size) + 1))
        return sql, uses_viewer

    async def read(
        self, viewer_id: int | None, size: int, after: int | None, tag: str | None = None
    ) -> FeedPage:
        """``size`` posts older than the post id ``after`` (newest first when None), for
        ``viewer_id``, with what the selection needs (of the normalized ``tag`` for a tag's
        reader). Reads go where the ORM's reads would go now (the replica inside
        ``storage.replica.reads_from_replica``)."""
        async with rawsql.reader(Post) as reader:
            sql, uses_viewer = self._page_statement(
                after is not None, viewer_id is not None, reader.sqlite, size
            )
            args: list[Any] = [viewer_id] if uses_viewer else []
            if self.tag:
                args.append(tag)
            if after is not None:
                args.append(after)
            rows = convert(await reader.fetch(sql, *args), self.convert)
            page, owners = self._page(viewer_id, size, rows)
            if owners:
                await self._owners(page, owners, reader)
        if self.needs.replies:
            await read_replies_seen(page)
        return page

    async def read_ids(self, viewer_id: int | None, ids: list[int]) -> FeedPage:
        """The posts ``ids`` (that ``viewer_id`` may see: the caller's rules decided), in that
        order, with what the selection needs; a post gone since is left out."""
        async with rawsql.reader(Post) as reader:
            sql, uses_viewer = self._page_statement(False, viewer_id is not None, reader.sqlite, 0)
            args: list[Any] = [viewer_id, ids] if uses_viewer else [ids]
            rows = convert(await reader.fetch(sql, *args), self.convert)
            page, owners = self._page(viewer_id, len(ids), rows)
            order = {post_id: n for n, post_id in enumerate(ids)}
            page.posts.sort(key=lambda post: order[post["id"]])
            if owners:
                await self._owners(page, owners, reader)
        if self.needs.replies:
            await read_replies_seen(page)
        return page

    async def read_users(self, viewer_id: int | None, ids: list[int]) -> FeedPage:
        """The members ``ids`` (found under the caller's rules), in that order, as a page's
        objects (``posts``) and its people (``users``), with the viewer's follows among them; a
        member gone since is left out."""
        async with rawsql.reader(User) as reader:
            rows = await self._people(reader, viewer_id, ids, self.needs.follows)
            users = {row["id"]: row for row in rows}
            page = FeedPage(viewer_id, [users[i] for i in ids if i in users], False, users=users)
            _followed(page, rows)
        return page

    async def read_artworks(self, viewer_id: int | None, ids: list[int]) -> FeedPage:
        """The artworks ``ids`` (found under the caller's rules), in that order, as a page's
        objects (``posts``), with their owners; they are also the page's attachments (under
        ``NODES``), whose images and likes ``resolvers.pagemedia`` reads. An artwork gone since
        is left out."""
        columns = ", ".join(self.artwork_columns)
        sql = f"SELECT {columns} FROM artworks WHERE id = ANY($1::bigint[])"
        async with rawsql.reader(Artwork) as reader:
            rows = convert(await reader.fetch(sql, ids), self.artwork_convert)
            artworks = {row["id"]: row for row in rows}
            ordered = [artworks[i] for i in ids if i in artworks]
            page = FeedPage(viewer_id, ordered, False, attachments={NODES: ordered})
            owners = list(dict.fromkeys(row["owner_id"] for row in ordered))
            if self.needs.owners and owners:
                users = await self._people(reader, viewer_id, owners, self.needs.follows)
                page.users.update((user["id"], user) for user in users)
                _followed(page, users)
            elif self.needs.follows and viewer_id is not None and owners:
                followed = await reader.fetch(FOLLOWS_SQL, viewer_id, owners)
                page.followed.update(row[0] for row in followed)
        return page

    async def _people(
        self, reader: rawsql.Reader, viewer_id: int | None, ids: list[int], follows: bool
    ) -> list[Row]:
        """The people ``ids`` with the selection's columns; with ``follows`` (and a viewer), each
        also says whether the viewer follows them (``FOLLOWED``), in the same statement."""
        if follows and viewer_id is not None:
            raw = await reader.fetch(self.users_followed_sql, ids, viewer_id)
        else:
            raw = await reader.fetch(self.users_sql, ids)
        return convert(raw, self.user_convert)

    def _page(
        self, viewer_id: int | None, size: int, rows: list[Row]
    ) -> tuple[FeedPage, list[int]]:
        """Posts from the page rows: the authors' columns, the viewer's flags and the attached
        artworks moved out of them; and the owners of attached artworks still to be read (see
        ``_owners``)."""
        needs = self.needs
        liked = needs.likes and viewer_id is not None
        follows = needs.follows and viewer_id is not None
        # Owners to read: those who are not the post's author, or all when authors are not read.
        every_owner = needs.owners and not needs.authors
        owners: dict[int, None] = {}
        posts: list[Row] = []
        page = FeedPage(viewer_id, posts, has_next=False)
        for row in rows:
            if self.artwork_keys:
                artwork = {column: row.pop(key) for key, column in self.artwork_keys}
                if artwork["id"] is not None:  # else a post without attachments (NULLs)
                    for column, to_python in self.artwork_convert:
                        artwork[column] = to_python(artwork[column])
                    if every_owner or artwork["owner_id"] != row["author_id"]:
                        owners[artwork["owner_id"]] = None
                if posts and posts[-1]["id"] == row["id"]:  # another artwork of that post
                    page.attachments[row["id"]].append(artwork)
                    continue
                page.attachments[row["id"]] = [artwork] if artwork["id"] is not None else []
            posts.append(row)
            if needs.authors:
                page.users[row["author_id"]] = {c: row.pop(key) for key, c in self.author_keys}
            if liked and row.pop("viewer_liked") is not None:
                page.liked.add(row["id"])
            if follows and row.pop("viewer_follows") is not None:
                page.followed.add(row["author_id"])
        if len(posts) > size:  # the one past the page only tells that another page follows
            page.has_next = True
            del posts[size:]
        return page, list(owners)

    async def _owners(self, page: FeedPage, owners: list[int], reader: rawsql.Reader) -> None:
        """Artworks attach to their own artist's posts, so their owners are authors already;
        any other owner (and whether the viewer follows them) is read here."""
        authors = {post["author_id"] for post in page.posts}
        missing = [owner for owner in owners if owner not in page.users]
        if self.needs.owners and missing:
            users = convert(await reader.fetch(self.users_sql, missing), self.user_convert)
            page.users.update((user["id"], user) for user in users)
        strangers = [owner for owner in owners if owner not in authors]
        if self.needs.follows and page.viewer_id is not None and strangers:
            followed = await reader.fetch(FOLLOWS_SQL, page.viewer_id, strangers)
            page.followed.update(row[0] for row in followed)
        # The page's authors passed the feed's rule, which holds VISIBLE's exclusions and holds.
        among = VISIBLE.hidden_among_sql(signed_in=page.viewer_id is not None)
        if among is not None and strangers:
            args = [strangers] if page.viewer_id is None else [page.viewer_id, strangers]
            hidden = await reader.fetch(among, *args)
            page.hidden.update(row[0] for row in hidden)


async def read_replies_seen(page: FeedPage) -> None:
    """The viewer's share of the non-public replies, for the posts that have any: the same
    count as the regular path's (``resolvers.replies``), one statement, and none at all for most
    pages."""
    counted = [
        post["id"]
        for post in page.posts
        if beyond_public(post["reply_count"], post["public_reply_count"])
    ]
    if counted:
        seen = await seen_beyond_public(page.viewer_id, counted)
        page.replies_seen = dict(zip(counted, seen, strict=True))


async def read_mentions(page: FeedPage, user_columns: tuple[str, ...]) -> None:
    """The members the texts of the page's posts and comments mention whom the viewer may see
    (``resolvers.mentions``): one statement for the page, none when no text mentions anyone."""
    texts = [post["text"] for post in page.posts if "text" in post]
    if page.comments is not None:
        texts += [comment["text"] for comment in page.comments.comments if "text" in comment]
    keys = mentions.keys_of(texts)
    if not keys:
        return
    signed_in = page.viewer_id is not None
    columns = _ordered(frozenset(user_columns), User, "id")
    sql = _mentions_sql(columns, signed_in)
    args: list[Any] = [page.viewer_id, keys] if signed_in else [keys]
    async with rawsql.reader(User) as reader:
        rows = convert(await reader.fetch(sql, *args), converters(User, columns))
    page.mentioned = {row.pop("handle_key"): row for row in rows}


@functools.cache
def _mentions_sql(columns: tuple[str, ...], signed_in: bool) -> str:
    return mentions.members_sql(columns, signed_in=signed_in)


def _prefixed(prefix: str, columns: rawsql.Converters) -> rawsql.Converters:
    return [(f"{prefix}{column}", to_python) for column, to_python in columns]
