"""Follows, likes and comments."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tortoise.expressions import F

from resolvers import channels, events, inbox, ratelimit
from resolvers.access import (
    can_see_artwork,
    can_see_post,
    hidden_member,
    load_visible_artwork,
    load_visible_post,
)
from resolvers.commentsql import CommentReader, Subject
from resolvers.context import Context, require_viewer
from resolvers.edges import add_edge, remove_edge
from resolvers.errors import ErrorCode, InputError, PermissionDenied
from resolvers.keyset import by_index
from resolvers.pagination import CursorFn, Page, decode_cursor, page_size, paginate
from resolvers.validation import check_length, clean_text, raise_if_any
from storage import rawsql
from storage.db import in_transaction
from storage.models import (
    Artwork,
    ArtworkLike,
    Comment,
    Follow,
    NotificationKind,
    Post,
    PostLike,
    User,
)

COMMENT_MAX = 1000

follow_cursor: CursorFn[Follow] = CursorFn("follow", "id")
comment_cursor: CursorFn[Comment] = CursorFn("comment", "id")


async def _load_user(user_id: int) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise InputError.single("userId", "no such user", ErrorCode.NOT_FOUND)
    return user


async def load_member(ctx: Context, user_id: int, field: str = "userId") -> User:
    """The member ``user_id`` as the viewer may see them: NOT_FOUND when missing or hidden
    (a block, either way: it reads as missing, not as blocked)."""
    user = await User.get_or_none(id=user_id)
    if user is None or await hidden_member(ctx, user_id):
        raise InputError.single(field, "no such user", ErrorCode.NOT_FOUND)
    return user


async def follow(ctx: Context, user_id: int) -> User:
    viewer = require_viewer(ctx)
    if user_id == viewer.id:
        raise InputError.single("userId", "you cannot follow yourself", ErrorCode.SELF_FOLLOW)
    await load_member(ctx, user_id)
    await ratelimit.charge(ctx.services, "follow", viewer.id)
    created = await add_edge(
        Follow,
        {"follower_id": viewer.id, "followee_id": user_id},
        [(User, viewer.id, "following_count"), (User, user_id, "follower_count")],
    )
    if created:
        await _notify_follow(ctx, viewer.id, user_id, following=True)
    return await _load_user(user_id)


async def unfollow(ctx: Context, user_id: int) -> User:
    viewer = require_viewer(ctx)
    await load_member(ctx, user_id)
    removed = await remove_edge(
        Follow,
        {"follower_id": viewer.id, "followee_id": user_id},
        [(User, viewer.id, "following_count"), (User, user_id, "follower_count")],
    )
    if removed:
        await _notify_follow(ctx, viewer.id, user_id, following=False)
        await inbox.retract(user_id, NotificationKind.NEW_FOLLOWER, actor_id=viewer.id)
    return await _load_user(user_id)


async def _notify_follow(
    ctx: Context, follower_id: int, followee_id: int, *, following: bool
) -> None:
    # The follower's live home feed starts or stops listening to the artist ...
    await events.publish(
        ctx.services,
        channels.user_inbox(follower_id),
        events.follow_changed(followee_id, following=following),
    )
    # ... and the artist hears of a new follower.
    if following:
        await inbox.notify(
            ctx.services, followee_id, NotificationKind.NEW_FOLLOWER, actor_id=follower_id
        )


async def set_post_like(ctx: Context, post_id: int, *, liked: bool) -> Post:
    viewer = require_viewer(ctx)
    post = await load_visible_post(ctx, post_id, "postId")
    if liked:
        await ratelimit.charge(ctx.services, "like", viewer.id)
    change = add_edge if liked else remove_edge
    changed = await change(
        PostLike, {"user_id": viewer.id, "post_id": post_id}, [(Post, post_id, "like_count")]
    )
    if changed and liked:
        await inbox.notify(
            ctx.services,
            post.author_id,
            NotificationKind.POST_LIKED,
            actor_id=viewer.id,
            post_id=post_id,
        )
    elif changed:
        await inbox.retract(
            post.author_id, NotificationKind.POST_LIKED, actor_id=viewer.id, post_id=post_id
        )
    return await Post.get(id=post_id)


async def set_artwork_like(ctx: Context, artwork_id: int, *, liked: bool) -> Artwork:
    viewer = require_viewer(ctx)
    artwork = await load_visible_artwork(ctx, artwork_id, "artworkId")
    if liked:
        await ratelimit.charge(ctx.services, "like", viewer.id)
    change = add_edge if liked else remove_edge
    changed = await change(
        ArtworkLike,
        {"user_id": viewer.id, "artwork_id": artwork_id},
        [(Artwork, artwork_id, "like_count")],
    )
    if changed and liked:
        await inbox.notify(
            ctx.services,
            artwork.owner_id,
            NotificationKind.ARTWORK_LIKED,
            actor_id=viewer.id,
            artwork_id=artwork_id,
        )
    elif changed:
        await inbox.retract(
            artwork.owner_id,
            NotificationKind.ARTWORK_LIKED,
            actor_id=viewer.id,
            artwork_id=artwork_id,
        )
    return await Artwork.get(id=artwork_id)


@dataclass(frozen=True, slots=True)
class CommentTarget:
    post_id: int | None = None
    artwork_id: int | None = None


async def add_comment(ctx: Context, target: CommentTarget, text: str) -> Comment:
    viewer = require_viewer(ctx)
    text = clean_text(text)
    raise_if_any([check_length("text", text, low=1, high=COMMENT_MAX)])
    await ratelimit.charge(ctx.services, "comment", viewer.id)
    async with in_transaction():
        if target.post_id is not None:
            post = await load_visible_post(ctx, target.post_id, "subjectId")
            subject_owner, subject_visibility = post.author_id, post.visibility
            comment = await Comment.create(author_id=viewer.id, post_id=target.post_id, text=text)
            await Post.filter(id=target.post_id).update(comment_count=F("comment_count") + 1)
        elif target.artwork_id is not None:
            artwork = await load_visible_artwork(ctx, target.artwork_id, "subjectId")
            subject_owner, subject_visibility = artwork.owner_id, artwork.visibility
            comment = await Comment.create(
                author_id=viewer.id, artwork_id=target.artwork_id, text=text
            )
            await Artwork.filter(id=target.artwork_id).update(comment_count=F("comment_count") + 1)
        else:
            raise InputError.single(
                "subjectId", "comment on a post or an artwork", ErrorCode.REQUIRED
            )
    subjects = {
        "post_id": target.post_id,
        "artwork_id": target.artwork_id,
        "comment_id": comment.id,
    }
    await inbox.notify(
        ctx.services, subject_owner, NotificationKind.COMMENT, actor_id=viewer.id, **subjects
    )
    await inbox.notify_mentions(
        ctx.services,
        text,
        actor_id=viewer.id,
        owner_id=subject_owner,
        visibility=subject_visibility,
        told=frozenset({subject_owner}),
        **subjects,
    )
    return comment


async def delete_comment(ctx: Context, comment_id: int) -> int:
    """The comment's author, or the artist whose post or artwork it is on, may delete it."""
    viewer = require_viewer(ctx)
    comment = await Comment.get_or_none(id=comment_id)
    # A comment the viewer may not see reads as missing, except to its author.
    if comment is None or (
        comment.author_id != viewer.id and not await comment_visible(ctx, comment)
    ):
        raise InputError.single("id", "no such comment", ErrorCode.NOT_FOUND)
    subject: Post | Artwork | None
    if comment.post_id is not None:
        subject = await Post.get_or_none(id=comment.post_id)
        subject_owner = subject.author_id if subject else None
    else:
        subject = await Artwork.get_or_none(id=comment.artwork_id)
        subject_owner = subject.owner_id if subject else None
    if viewer.id not in (comment.author_id, subject_owner):
        raise PermissionDenied("only the comment's author or the artist may delete it")
    await remove_comment(comment)
    return comment_id


async def remove_comment(comment: Comment) -> None:
    """Delete a comment and its count (its author's or artist's deletion, or a moderator's
    removal)."""
    async with in_transaction():
        await comment.delete()
        if comment.post_id is not None:
            await Post.filter(id=comment.post_id).update(comment_count=F("comment_count") - 1)
        elif comment.artwork_id is not None:
            await Artwork.filter(id=comment.artwork_id).update(comment_count=F("comment_count") - 1)


async def comments(
    ctx: Context, target: CommentTarget, *, first: int | None, after: str | None
) -> Page[Comment]:
    """Comments oldest first (a conversation reads top to bottom), without those of members
    hidden from the viewer (a block, either way)."""
    size = page_size(first)
    subject: Subject = "post_id" if target.post_id is not None else "artwork_id"
    subject_id = target.post_id if target.post_id is not None else target.artwork_id
    if subject_id is None:
        raise ValueError("comments of nothing")
    last_id = decode_cursor("comment", after)[0] if after is not None else None
    # The statement of the compiled plans (every column, no author): the rule's SQL and the
    # limit written out (an ORM query's LIMIT parameter has PostgreSQL plan it anew each time).
    statement = _comment_reader(subject).statement(ctx.viewer_id, subject_id, size, last_id)
    async with rawsql.reader(Comment) as reader:
        rows = rawsql.instances(Comment, await reader.fetch(*statement))
    return paginate(rows, size, comment_cursor)


@functools.cache
def _comment_reader(subject: Subject) -> CommentReader:
    columns = frozenset(rawsql.table_columns(Comment))
    return CommentReader(subject, columns, None, follows=False)


async def follow_list(
    ctx: Context, user: User, *, followers: bool, first: int | None, after: str | None
) -> Page[Follow]:
    """Who follows ``user`` (followers=True) or whom ``user`` follows, newest first. Members
    hidden from the viewer are left out when the page is shown (``schema.types``), so that the
    page stays one range of the follows' index."""
    size = page_size(first)
    query = Follow.filter(followee_id=user.id) if followers else Follow.filter(follower_id=user.id)
    if after is not None:
        (last_id,) = decode_cursor("follow", after)
        query = query.filter(id__lt=last_id)
    rows = await by_index(query, ("-id",), size + 1)
    return paginate(rows, size, follow_cursor)


async def comment_visible(ctx: Context, comment: Comment) -> bool:
    if comment.post_id is not None:
        post = await ctx.loaders.post.load(comment.post_id)
        return post is not None and await can_see_post(ctx, post)
    artwork = await ctx.loaders.artwork.load(comment.artwork_id or 0)
    return artwork is not None and await can_see_artwork(ctx, artwork)


async def get_comment(ctx: Context, comment_id: int) -> Comment | None:
    """The comment, or None when it is missing or on a work the viewer may not see."""
    comment = await ctx.loaders.comment.load(comment_id)
    if comment is None or await hidden_member(ctx, comment.author_id):
        return None
    if not await comment_visible(ctx, comment):
        return None
    return comment
