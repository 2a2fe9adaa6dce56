"""Who may see what: the visibility rules of posts and artworks."""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q, Subquery

from resolvers.context import Context
from resolvers.errors import ErrorCode, InputError, PermissionDenied
from resolvers.loaders import NotLoaded, peek
from storage.models import Artwork, Follow, MediaAsset, MediaKind, Post, Visibility


def visible_unless_follows(
    viewer_id: int | None, owner_id: int, visibility: Visibility
) -> bool | None:
    """Whether ``viewer_id`` may see a thing of ``owner_id`` with ``visibility``; None when that
    is whether the viewer follows the owner."""
    if visibility is Visibility.PUBLIC or owner_id == viewer_id:
        return True
    if visibility is Visibility.FOLLOWERS and viewer_id is not None:
        return None
    return False


_SOMEONE_ELSE = 0  # no account has id 0


def visible_filter(viewer_id: int | None, *, owner: str, visibility: str) -> Q:
    """``visible_unless_follows`` as a query filter, for rows whose owner and visibility are the
    fields ``owner`` and ``visibility`` (related fields too: ``artwork__owner_id``)."""
    classes: dict[bool | None, list[Visibility]] = {True: [], False: [], None: []}
    for each in Visibility:
        classes[visible_unless_follows(viewer_id, _SOMEONE_ELSE, each)].append(each)
    found = _where({f"{visibility}__in": classes[True]})
    if viewer_id is not None:
        own = [v for v in Visibility if visible_unless_follows(viewer_id, viewer_id, v)]
        found |= _where({owner: viewer_id, f"{visibility}__in": own})
        if classes[None]:
            followed = Follow.filter(follower_id=viewer_id).values("followee_id")
            found |= _where(
                {f"{owner}__in": Subquery(followed), f"{visibility}__in": classes[None]}
            )
    return found


def _where(filters: dict[str, Any]) -> Q:
    return Q(**filters)


async def can_see(ctx: Context, owner_id: int, visibility: Visibility) -> bool:
    seen = visible_unless_follows(ctx.viewer_id, owner_id, visibility)
    if seen is None:
        return await ctx.loaders.viewer_follows.load(owner_id)
    return seen


def visible_now(ctx: Context, owner_id: int, visibility: Visibility) -> bool | None:
    """``can_see`` without awaiting: None when it needs a follow status not loaded yet."""
    seen = visible_unless_follows(ctx.viewer_id, owner_id, visibility)
    if seen is None:
        follows = peek(ctx.loaders.viewer_follows, owner_id)
        return None if isinstance(follows, NotLoaded) else follows
    return seen


async def visible_to_viewer(ctx: Context, owner_id: int) -> list[Visibility]:
    """The visibilities of ``owner_id``'s things that the viewer may see."""
    if owner_id == ctx.viewer_id:
        return list(Visibility)
    if ctx.viewer_id is not None and await ctx.loaders.viewer_follows.load(owner_id):
        return [Visibility.PUBLIC, Visibility.FOLLOWERS]
    return [Visibility.PUBLIC]


async def can_see_post(ctx: Context, post: Post) -> bool:
    return await can_see(ctx, post.author_id, post.visibility)


async def can_see_artwork(ctx: Context, artwork: Artwork) -> bool:
    return await can_see(ctx, artwork.owner_id, artwork.visibility)


async def can_see_media(ctx: Context, media: MediaAsset) -> bool:
    """An image is as visible as the artwork or post it belongs to; an avatar is public."""
    if media.kind is MediaKind.ARTWORK and media.artwork_id is not None:
        artwork = await ctx.loaders.artwork.load(media.artwork_id)
        return artwork is not None and await can_see_artwork(ctx, artwork)
    if media.kind is MediaKind.POST and media.post_id is not None:
        post = await ctx.loaders.post.load(media.post_id)
        return post is not None and await can_see_post(ctx, post)
    return media.kind is MediaKind.AVATAR


async def load_owned_artwork(ctx: Context, artwork_id: int, field: str) -> Artwork:
    """The viewer's own artwork; NOT_FOUND if the viewer cannot see it, FORBIDDEN if not theirs."""
    artwork = await Artwork.get_or_none(id=artwork_id)
    if artwork is None or not await can_see_artwork(ctx, artwork):
        raise InputError.single(field, "no such artwork", ErrorCode.NOT_FOUND)
    if artwork.owner_id != ctx.viewer_id:
        raise PermissionDenied("only the artist may change or delete this artwork")
    return artwork


async def load_visible_post(ctx: Context, post_id: int, field: str) -> Post:
    post = await Post.get_or_none(id=post_id)
    if post is None or not await can_see_post(ctx, post):
        raise InputError.single(field, "no such post", ErrorCode.NOT_FOUND)
    return post


async def load_visible_artwork(ctx: Context, artwork_id: int, field: str) -> Artwork:
    artwork = await Artwork.get_or_none(id=artwork_id)
    if artwork is None or not await can_see_artwork(ctx, artwork):
        raise InputError.single(field, "no such artwork", ErrorCode.NOT_FOUND)
    return artwork
