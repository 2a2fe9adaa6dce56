"""A page of the home or discover feed and everything it shows, read with hand-written SQL.

This is the data side of the compiled plans (``schema.compiled``): the same rules as
``resolvers.feed`` and ``resolvers.access``, as a handful of statements on one pooled connection,
returning plain rows (dicts keyed by column) instead of model instances. One page costs at most
five statements: the page, the attached artworks, the users shown, the viewer's likes among the
page and the viewer's follows among the people shown.

The statements run on both backends through ``storage.rawsql``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

_VISIBLE_TO_FOLLOWERS = "('public', 'followers')"
_HOME_WHERE = (
    "(author_id = $1 OR (author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)"
    f" AND visibility IN {_VISIBLE_TO_FOLLOWERS}))"
)
_DISCOVER_WHERE = "visibility = 'public'"


def _ids(n: int) -> str:
    return f"= ANY(${n}::bigint[])"


def _page_sql(where: str, first_param: int) -> tuple[str, str]:
    """The page's statement without and with a cursor (``id < $k``)."""
    columns = ", ".join(POST_COLUMNS)
    head = f"SELECT {columns} FROM posts WHERE {where}"
    limit = f"ORDER BY id DESC LIMIT ${first_param}"
    return f"{head} {limit}", f"{head} AND id < ${first_param + 1} {limit}"


HOME_SQL, HOME_AFTER_SQL = _page_sql(_HOME_WHERE, 2)
DISCOVER_SQL, DISCOVER_AFTER_SQL = _page_sql(_DISCOVER_WHERE, 1)
ATTACHMENTS_SQL = (
    "SELECT pa.post_id AS attached_to, "
    + ", ".join(f"a.{column}" for column in ARTWORK_COLUMNS)
    + f" FROM post_artworks pa JOIN artworks a ON a.id = pa.artwork_id WHERE pa.post_id {_ids(1)}"
    " ORDER BY pa.post_id, pa.position"
)
USERS_SQL = f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE id {_ids(1)}"
LIKES_SQL = f"SELECT post_id FROM post_likes WHERE user_id = $1 AND post_id {_ids(2)}"
FOLLOWS_SQL = f"SELECT followee_id FROM follows WHERE follower_id = $1 AND followee_id {_ids(2)}"

_POST_CONVERT = converters(Post, POST_COLUMNS)
_USER_CONVERT = converters(User, USER_COLUMNS)
_ARTWORK_CONVERT = converters(Artwork, ARTWORK_COLUMNS)


@dataclass(frozen=True, slots=True)
class Needs:
    """What the selection shows besides the posts' own columns."""

    attachments: bool = False
    users: bool = False  # the authors (and the owners of attached artworks)
    likes: bool = False  # the viewer's likes among the page
    follows: bool = False  # the viewer's follows among the people shown


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


async def read_page(
    *, viewer_id: int | None, home: bool, size: int, after: int | None, needs: Needs
) -> FeedPage:
    """The home feed of ``viewer_id`` (``home``) or the discover feed: ``size`` posts older than
    the post id ``after`` (newest first when None), and what ``needs`` asks for.

    Reads go where the ORM's reads would go now (the replica inside
    ``storage.replica.reads_from_replica``)."""
    async with rawsql.reader(Post) as reader:
        if home:
            assert viewer_id is not None
            if after is None:
                raw = await reader.fetch(HOME_SQL, viewer_id, size + 1)
            else:
                raw = await reader.fetch(HOME_AFTER_SQL, viewer_id, size + 1, after)
        elif after is None:
            raw = await reader.fetch(DISCOVER_SQL, size + 1)
        else:
            raw = await reader.fetch(DISCOVER_AFTER_SQL, size + 1, after)
        posts = convert(raw[:size], _POST_CONVERT)
        page = FeedPage(viewer_id, posts, has_next=len(raw) > size)
        if not posts:
            return page
        post_ids = [post["id"] for post in posts]
        people = list(dict.fromkeys(post["author_id"] for post in posts))
        if needs.attachments:
            rows = convert(await reader.fetch(ATTACHMENTS_SQL, post_ids), _ARTWORK_CONVERT)
            for artwork in rows:
                page.attachments.setdefault(artwork.pop("attached_to"), []).append(artwork)
                if artwork["owner_id"] not in people:
                    people.append(artwork["owner_id"])
        if needs.users:
            rows = convert(await reader.fetch(USERS_SQL, people), _USER_CONVERT)
            page.users = {row["id"]: row for row in rows}
        if viewer_id is not None and needs.likes:
            liked = await reader.fetch(LIKES_SQL, viewer_id, post_ids)
            page.liked = {row[0] for row in liked}
        if viewer_id is not None and needs.follows:
            followed = await reader.fetch(FOLLOWS_SQL, viewer_id, people)
            page.followed = {row[0] for row in followed}
        return page
