"""Who may see what: the visibility of posts and artworks (``resolvers.rules.VISIBLE``) applied
to the rows a request reads."""

from __future__ import annotations

from tortoise.expressions import Q

from resolvers.context import Context
from resolvers.errors import ErrorCode, InputError, PermissionDenied
from resolvers.loaders import NotLoaded, peek
from resolvers.rules import FOLLOWS, SHOWN_MEDIA, VISIBLE
from storage.models import Artwork, MediaAsset, MediaKind, Post, Visibility


def visible_unless_follows(
    viewer_id: int | None, owner_id: int, visibility: Visibility
) -> bool | None:
    """Whether ``viewer_id`` may see a thing of ``owner_id`` with ``visibility``; None when that
    depends on the viewer's ties to the owner (whether the viewer follows the owner)."""
    return VISIBLE.decide(viewer_id, owner_id, visibility)


def visible_filter(viewer_id: int | None, *, owner: str, visibility: str) -> Q:
    """``VISIBLE`` as a query filter, for rows whose owner and visibility are the fields
    ``owner`` and ``visibility`` (related fields too: ``artwork__owner_id``)."""
    return VISIBLE.to_q(viewer_id, owner=owner, visibility=visibility)


async def can_see(ctx: Context, owner_id: int, visibility: Visibility) -> bool:
    seen = VISIBLE.decide(ctx.viewer_id, owner_id, visibility)
    if seen is None:
        follows = await ctx.loaders.viewer_follows.load(owner_id)
        hidden = await ctx.loaders.viewer_hidden.load(owner_id)
        return VISIBLE.allows(ctx.viewer_id, owner_id, visibility, follows=follows, hidden=hidden)
    return seen


async def visible_to(viewer_id: int, owner_id: int, visibility: Visibility) -> bool:
    """``can_see`` for a member other than the request's viewer (who is being notified)."""
    seen = VISIBLE.decide(viewer_id, owner_id, visibility)
    if seen is not None:
        return seen
    follows = owner_id != viewer_id and await FOLLOWS.holds(viewer_id, owner_id)
    hidden = await VISIBLE.hides(viewer_id, owner_id)
    return VISIBLE.allows(viewer_id, owner_id, visibility, follows=follows, hidden=hidden)


def visible_now(ctx: Context, owner_id: int, visibility: Visibility) -> bool | None:
    """``can_see`` without awaiting: None when it needs a tie not loaded yet."""
    seen = VISIBLE.decide(ctx.viewer_id, owner_id, visibility)
    if seen is None:
        follows = peek(ctx.loaders.viewer_follows, owner_id)
        hidden: bool | NotLoaded = False
        if VISIBLE.exclusions or VISIBLE.holds:
            hidden = peek(ctx.loaders.viewer_hidden, owner_id)
        if isinstance(follows, NotLoaded) or isinstance(hidden, NotLoaded):
            return None
        return VISIBLE.allows(ctx.viewer_id, owner_id, visibility, follows=follows, hidden=hidden)
    return seen


async def visible_to_viewer(ctx: Context, owner_id: int) -> list[Visibility]:
    """The visibilities of ``owner_id``'s things that the viewer may see."""
    follows = hidden = False
    if ctx.viewer_id is not None and owner_id != ctx.viewer_id:
        follows = await ctx.loaders.viewer_follows.load(owner_id)
    if owner_id != ctx.viewer_id:
        hidden = await ctx.loaders.viewer_hidden.load(owner_id)
    passing = VISIBLE.passing(ctx.viewer_id, owner_id, follows=follows, hidden=hidden)
    return [visibility for visibility in Visibility if visibility in passing]


async def hidden_member(ctx: Context, user_id: int) -> bool:
    """Whether an exclusion of ``VISIBLE`` (a block, either way) or a hold (a suspension) hides
    the member ``user_id`` from the viewer: then the member and everything of theirs reads as
    missing."""
    if user_id == ctx.viewer_id:
        return False
    return await ctx.loaders.viewer_hidden.load(user_id)


async def can_see_post(ctx: Context, post: Post) -> bool:
    return await can_see(ctx, post.author_id, post.visibility)


async def can_see_artwork(ctx: Context, artwork: Artwork) -> bool:
    return await can_see(ctx, artwork.owner_id, artwork.visibility)


async def can_see_media(ctx: Context, media: MediaAsset) -> bool:
    """An image is as visible as the artwork or post it belongs to; an avatar is public. Only
    a protected image is shown at all (``SHOWN_MEDIA``)."""
    if not SHOWN_MEDIA.allows(media.status):
        return False
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
