"""Feeds: home (followed artists and oneself), discover (all public posts), tag, and one artist's
posts. All newest first, keyset-paginated on the time-ordered post id."""

from __future__ import annotations

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from resolvers.access import visible_filter, visible_to_viewer
from resolvers.context import Context, require_viewer
from resolvers.errors import BadRequest
from resolvers.feedsql import home_page_ids
from resolvers.keyset import by_index, by_visibility, merged
from resolvers.loaders import by_id
from resolvers.pagination import CursorFn, Page, decode_cursor, page_size, paginate
from resolvers.rules import DISCOVER, HOME
from resolvers.validation import normalize_tags
from storage.models import Post, PostTag, User

post_cursor: CursorFn[Post] = CursorFn("post", "id")
ORDER = ("-id",)  # newest first


def home_posts(viewer_id: int) -> QuerySet[Post]:
    """The viewer's home timeline: own posts, and followed artists' posts the viewer may see
    (as a filter, for the live feed's replay; a page is read with ``feedsql.home_page_ids``)."""
    return Post.filter(HOME.to_q(viewer_id, owner="author_id", visibility="visibility"))


def discover_posts(viewer_id: int | None) -> QuerySet[Post]:
    return Post.filter(DISCOVER.to_q(viewer_id, owner="author_id", visibility="visibility"))


async def home_feed(ctx: Context, *, first: int | None, after: str | None) -> Page[Post]:
    """A page of the viewer's home timeline: its ids from the statement the compiled plans run
    (``feedsql.home_page_ids``), then the posts."""
    viewer = require_viewer(ctx)
    size = page_size(first)
    last_id = decode_cursor("post", after)[0] if after is not None else None
    ids = await home_page_ids(viewer.id, size, last_id)
    found = [row for row in await by_id(Post, ids) if row is not None] if ids else []
    rows = sorted(found, key=_post_id, reverse=True)
    return paginate(rows, size, post_cursor)


def _older(query: QuerySet[Post], after: str | None) -> QuerySet[Post]:
    if after is None:
        return query
    (last_id,) = decode_cursor("post", after)
    return query.filter(id__lt=last_id)


async def discover_feed(ctx: Context, *, first: int | None, after: str | None) -> Page[Post]:
    size = page_size(first)
    rows = await by_index(_older(discover_posts(ctx.viewer_id), after), ORDER, size + 1)
    return paginate(rows, size, post_cursor)


async def tag_feed(ctx: Context, tag: str, *, first: int | None, after: str | None) -> Page[Post]:
    normalized, error = normalize_tags("tag", [tag])
    if error is not None or not normalized:
        raise BadRequest(error.message if error else "name a tag")
    # A tag copied from an attached artwork counts only for those who may see that artwork.
    seen = visible_filter(
        ctx.viewer_id, owner="artwork__owner_id", visibility="artwork__visibility"
    )
    # The posts the discover rule shows, judged by the visibility each tag row keeps of its post:
    # the page is one range of the tag's index, however many of the tag's posts are hidden.
    shown = DISCOVER.to_q(ctx.viewer_id, owner="post__author_id", visibility="post_visibility")
    tagged = PostTag.filter(shown, Q(artwork_id=None) | seen, tag=normalized[0])
    size = page_size(first)
    if after is not None:
        (last_id,) = decode_cursor("post", after)
        tagged = tagged.filter(post_id__lt=last_id)
    page = tagged.order_by("-post_id").limit(size + 1).values("post_id")
    rows = await Post.filter(id__in=Subquery(page)).order_by(*ORDER)
    return paginate(rows, size, post_cursor)


async def user_posts(
    ctx: Context, user: User, *, first: int | None, after: str | None
) -> Page[Post]:
    """The artist's posts the viewer may see: one index range per visibility that passes."""
    size = page_size(first)
    query = _older(Post.filter(author_id=user.id), after)
    visible = await visible_to_viewer(ctx, user.id)
    reads = by_visibility(query, visible, ORDER, size + 1)
    rows = await merged(reads, key=_post_id, limit=size + 1, descending=True)
    return paginate(rows, size, post_cursor)


def _post_id(post: Post) -> int:
    return int(post.id)
