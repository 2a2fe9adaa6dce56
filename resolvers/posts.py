"""Posts: short texts with optional attached artworks, optionally replying to another post."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from resolvers import (
    channels,
    counts,
    events,
    generated,
    inbox,
    media,
    ratelimit,
    replies,
    sensitive,
)
from resolvers.access import can_see_post, load_visible_post, visible_to
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, FieldError, InputError, PermissionDenied
from resolvers.services import Services
from resolvers.validation import check_length, clean_text, hashtags, mentions, raise_if_any
from storage.db import in_transaction
from storage.models import (
    Artwork,
    MediaKind,
    NotificationKind,
    Post,
    PostArtwork,
    PostRevision,
    PostTag,
    User,
    Visibility,
)

TEXT_MAX = 2000
ATTACHMENTS_MAX = 10
_MOST_VISIBLE_FIRST = {Visibility.PUBLIC: 0, Visibility.FOLLOWERS: 1, Visibility.PRIVATE: 2}


async def create_post(
    ctx: Context,
    *,
    text: str,
    artwork_ids: list[int] | None = None,
    reply_to_id: int | None = None,
    visibility: Visibility = Visibility.PUBLIC,
    images: Sequence[media.ImageUpload] = (),
    content_warning: str = "",
    sensitive_media: bool = False,
) -> Post:
    viewer = require_viewer(ctx)
    await ratelimit.charge(ctx.services, "post", viewer.id)
    text = clean_text(text)
    artwork_ids = artwork_ids or []
    errors: list[FieldError | None] = [check_length("text", text, high=TEXT_MAX)]
    if not text and not artwork_ids:
        errors.append(
            FieldError("text", "write something or attach an artwork", ErrorCode.REQUIRED)
        )
    if len(artwork_ids) > ATTACHMENTS_MAX:
        errors.append(
            FieldError(
                "artworkIds", f"at most {ATTACHMENTS_MAX} artworks per post", ErrorCode.TOO_MANY
            )
        )
    elif len(set(artwork_ids)) != len(artwork_ids):
        errors.append(FieldError("artworkIds", "an artwork is attached twice", ErrorCode.DUPLICATE))
    labels, label_errors = sensitive.labels(content_warning, sensitive_media)
    raise_if_any(errors + label_errors)

    artworks = {a.id: a for a in await Artwork.filter(id__in=artwork_ids)}
    if any(artworks.get(i) is None or artworks[i].owner_id != viewer.id for i in artwork_ids):
        raise InputError.single(
            "artworkIds", "only your own artworks can be attached", ErrorCode.NOT_OWNER
        )
    replied = None if reply_to_id is None else await load_visible_post(ctx, reply_to_id, "replyTo")
    labels["ai_generated"] = await generated.screen(ctx.services, images, MediaKind.POST, "images")

    # tag -> the artwork it comes from (None: a #hashtag of the text). A tag of several
    # artworks comes from the most visible of them.
    tags: dict[str, int | None] = dict.fromkeys(hashtags(text))
    for artwork in sorted(artworks.values(), key=lambda a: _MOST_VISIBLE_FIRST[a.visibility]):
        for tag in artwork.tags:
            tags.setdefault(tag, artwork.id)

    async with media.uploaded(ctx.services, viewer, images, "images") as batch, in_transaction():
        post = await Post.create(
            author_id=viewer.id, text=text, reply_to_id=reply_to_id, visibility=visibility, **labels
        )
        if artwork_ids:
            await PostArtwork.bulk_create(
                [
                    PostArtwork(post_id=post.id, artwork_id=artwork_id, position=i)
                    for i, artwork_id in enumerate(artwork_ids)
                ]
            )
        if tags:
            await PostTag.bulk_create(
                [
                    PostTag(post_id=post.id, tag=tag, artwork_id=a, post_visibility=visibility)
                    for tag, a in tags.items()
                ]
            )
        await User.filter(id=viewer.id).update(**counts.changes("post", visibility, 1))
        if reply_to_id is not None:
            await Post.filter(id=reply_to_id).update(**replies.changes(visibility, 1))
        await batch.save(MediaKind.POST, post_id=post.id, sensitive=post.sensitive)
    counts.apply(viewer, "post", visibility, 1)
    await events.publish_post_added(
        ctx.services, post, viewer, [artworks[artwork_id] for artwork_id in artwork_ids]
    )
    await _notify(ctx, post, replied)
    return post


async def _notify(ctx: Context, post: Post, replied: Post | None) -> None:
    """Tell the author of the post replied to, and the members the text mentions, who may see
    the new post."""
    told: frozenset[int] = frozenset()
    if replied is not None and await visible_to(replied.author_id, post.author_id, post.visibility):
        await inbox.notify(
            ctx.services,
            replied.author_id,
            NotificationKind.REPLY,
            actor_id=post.author_id,
            post_id=post.id,
        )
        told = frozenset({replied.author_id})
    await inbox.notify_mentions(
        ctx.services,
        post.text,
        actor_id=post.author_id,
        owner_id=post.author_id,
        visibility=post.visibility,
        post_id=post.id,
        told=told,
    )


async def delete_post(ctx: Context, post_id: int) -> int:
    viewer = require_viewer(ctx)
    post = await load_visible_post(ctx, post_id, "id")
    if post.author_id != viewer.id:
        raise PermissionDenied("only the author may delete this post")
    await remove_post(ctx.services, post)
    counts.apply(viewer, "post", post.visibility, -1)
    return post_id


async def remove_post(services: Services, post: Post) -> None:
    """Delete a post with its images and counters, and announce its tombstone (the author's
    deletion, or a moderator's removal)."""
    images = await media.rows_of(post_id=post.id)
    async with in_transaction():
        await post.delete()
        await User.filter(id=post.author_id).update(**counts.changes("post", post.visibility, -1))
        if post.reply_to_id is not None:
            await Post.filter(id=post.reply_to_id).update(**replies.changes(post.visibility, -1))
    await media.removed(services, images)
    await events.publish(
        services,
        channels.author_posts(post.author_id),
        events.post_deleted(post.id, post.author_id, post.visibility),
    )


async def update_post(ctx: Context, post_id: int, *, text: str) -> Post:
    """The author changes the text of a post; the earlier text is kept as a revision, the
    post's #hashtags follow the new text, newly mentioned members are told, and live home feeds
    get the post again as EDITED."""
    viewer = require_viewer(ctx)
    post = await load_visible_post(ctx, post_id, "id")
    if post.author_id != viewer.id:
        raise PermissionDenied("only the author may edit this post")
    await ratelimit.charge(ctx.services, "post", viewer.id)
    text = clean_text(text)
    errors: list[FieldError | None] = [check_length("text", text, high=TEXT_MAX)]
    attached = cast(
        "list[int]",
        await PostArtwork.filter(post_id=post.id)
        .order_by("position")
        .values_list("artwork_id", flat=True),
    )
    if not text and not attached:
        errors.append(
            FieldError("text", "write something or attach an artwork", ErrorCode.REQUIRED)
        )
    raise_if_any(errors)
    if text == post.text:
        return post
    before = post.text
    now = datetime.now(UTC)
    old_tags, new_tags = set(hashtags(before)), set(hashtags(text))
    async with in_transaction():
        await PostRevision.create(
            post_id=post.id, text=before, written_at=post.edited_at or post.created_at
        )
        await Post.filter(id=post.id).update(text=text, edited_at=now)
        # A hashtag no longer written goes; one newly written comes (a tag an attached artwork
        # already gave the post stays the artwork's).
        if old_tags - new_tags:
            await PostTag.filter(
                post_id=post.id, artwork_id=None, tag__in=list(old_tags - new_tags)
            ).delete()
        present = set(await PostTag.filter(post_id=post.id).values_list("tag", flat=True))
        if new_tags - present:
            await PostTag.bulk_create(
                [
                    PostTag(post_id=post.id, tag=tag, post_visibility=post.visibility)
                    for tag in sorted(new_tags - present)
                ]
            )
    post.text, post.edited_at = text, now
    by_id = {a.id: a for a in await Artwork.filter(id__in=list(attached))}
    artworks = [by_id[a] for a in attached if a in by_id]
    await events.publish(
        ctx.services,
        channels.author_posts(viewer.id),
        events.post_edited(post, viewer, artworks),
    )
    await inbox.notify_mentions(
        ctx.services,
        text,
        actor_id=viewer.id,
        owner_id=viewer.id,
        visibility=post.visibility,
        post_id=post.id,
        told=await _mentioned(before),
    )
    return post


async def _mentioned(text: str) -> frozenset[int]:
    """The members ``text`` mentions (told already when it was written)."""
    handles = [handle.lower() for handle in mentions(text)]
    if not handles:
        return frozenset()
    found = await User.filter(handle_key__in=handles).values_list("id", flat=True)
    return frozenset(cast("list[int]", found))


async def revisions(post_id: int) -> list[PostRevision]:
    """A post's earlier texts, newest first."""
    return list(await PostRevision.filter(post_id=post_id).order_by("-id"))


async def get_post(ctx: Context, post_id: int) -> Post | None:
    post = await ctx.loaders.post.load(post_id)
    if post is None or not await can_see_post(ctx, post):
        return None
    return post
