"""Blocks and mutes: what a member does to keep another away.

A block hides two members from each other everywhere and ends the follows between them; a mute
takes the muted member's posts and notifications out of the muter's feeds, for a while or for
good, and changes nothing else (the muted member is not told). Both are read through the
exclusions of ``resolvers.rules``; here they are only written. After each change, the open live
subscriptions of those it concerns are told to read their ties again (``events.ties_changed``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from resolvers import channels, events, ratelimit
from resolvers.context import Context, require_viewer
from resolvers.edges import add_edge, remove_edge
from resolvers.errors import ErrorCode, InputError
from resolvers.keyset import by_index
from resolvers.pagination import CursorFn, Page, decode_cursor, page_size, paginate
from resolvers.social import load_member
from storage.db import in_transaction
from storage.models import Block, Follow, Mute, User

# The longest a mute with a duration may last (a mute without one lasts until unmuted).
MUTE_MAX_SECONDS = 366 * 86400

block_cursor: CursorFn[Block] = CursorFn("block", "id")
mute_cursor: CursorFn[Mute] = CursorFn("mute", "id")


async def _member(user_id: int) -> User:
    """Any member, hidden or not: blocking someone who blocked you is allowed, and answering
    NOT_FOUND only then would tell that they did."""
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise InputError.single("userId", "no such user", ErrorCode.NOT_FOUND)
    return user


def _not_self(viewer_id: int, user_id: int, doing: str) -> None:
    if viewer_id == user_id:
        raise InputError.single("userId", f"you cannot {doing} yourself", ErrorCode.INVALID)


async def block_user(ctx: Context, user_id: int) -> User:
    """Block ``user_id``: each is hidden from the other and the follows between them end."""
    viewer = require_viewer(ctx)
    _not_self(viewer.id, user_id, "block")
    user = await _member(user_id)
    await ratelimit.charge(ctx.services, "follow", viewer.id)
    ended: list[tuple[int, int]] = []
    async with in_transaction():
        await add_edge(Block, {"blocker_id": viewer.id, "blocked_id": user_id}, [])
        for follower, followee in ((viewer.id, user_id), (user_id, viewer.id)):
            removed = await remove_edge(
                Follow,
                {"follower_id": follower, "followee_id": followee},
                [(User, follower, "following_count"), (User, followee, "follower_count")],
            )
            if removed:
                ended.append((follower, followee))
    for follower, followee in ended:
        await events.publish(
            ctx.services,
            channels.user_inbox(follower),
            events.follow_changed(followee, following=False),
        )
    await _ties_changed(ctx, viewer.id, user_id)
    return user


async def unblock_user(ctx: Context, user_id: int) -> User:
    viewer = require_viewer(ctx)
    user = await _member(user_id)
    removed = await remove_edge(Block, {"blocker_id": viewer.id, "blocked_id": user_id}, [])
    if removed:
        await _ties_changed(ctx, viewer.id, user_id)
    return user


async def blocked_users(ctx: Context, *, first: int | None, after: str | None) -> Page[Block]:
    """The viewer's blocks, newest first."""
    viewer = require_viewer(ctx)
    size = page_size(first)
    query = Block.filter(blocker_id=viewer.id)
    if after is not None:
        (last_id,) = decode_cursor("block", after)
        query = query.filter(id__lt=last_id)
    rows = await by_index(query, ("-id",), size + 1)
    return paginate(rows, size, block_cursor)


def mute_ends(duration_seconds: int | None) -> datetime | None:
    """When a mute of ``duration_seconds`` ends (None: until unmuted)."""
    if duration_seconds is None:
        return None
    if not 1 <= duration_seconds <= MUTE_MAX_SECONDS:
        raise InputError.single(
            "durationSeconds",
            f"durationSeconds must be 1 to {MUTE_MAX_SECONDS}, or null for no end",
            ErrorCode.INVALID,
        )
    return datetime.now(UTC) + timedelta(seconds=duration_seconds)


async def mute_user(ctx: Context, user_id: int, duration_seconds: int | None) -> Mute:
    """Mute ``user_id`` (again: the new duration replaces the old one)."""
    viewer = require_viewer(ctx)
    _not_self(viewer.id, user_id, "mute")
    expires_at = mute_ends(duration_seconds)
    await load_member(ctx, user_id)
    await ratelimit.charge(ctx.services, "follow", viewer.id)
    keys = {"muter_id": viewer.id, "muted_id": user_id}
    try:
        async with in_transaction():
            if not await Mute.filter(**keys).update(expires_at=expires_at):
                await Mute.create(**keys, expires_at=expires_at)
    except IntegrityError:  # a concurrent mute created the row first: this one's end wins
        await Mute.filter(**keys).update(expires_at=expires_at)
    await _ties_changed(ctx, viewer.id)
    return await Mute.get(**keys)


async def unmute_user(ctx: Context, user_id: int) -> User:
    viewer = require_viewer(ctx)
    user = await load_member(ctx, user_id)
    if await remove_edge(Mute, {"muter_id": viewer.id, "muted_id": user_id}, []):
        await _ties_changed(ctx, viewer.id)
    return user


async def muted_users(ctx: Context, *, first: int | None, after: str | None) -> Page[Mute]:
    """The viewer's mutes still in force, newest first."""
    viewer = require_viewer(ctx)
    size = page_size(first)
    query = Mute.filter(muter_id=viewer.id).exclude(expires_at__lte=datetime.now(UTC))
    if after is not None:
        (last_id,) = decode_cursor("mute", after)
        query = query.filter(id__lt=last_id)
    rows = await by_index(query, ("-id",), size + 1)
    return paginate(rows, size, mute_cursor)


async def _ties_changed(ctx: Context, *user_ids: int) -> None:
    """Open subscriptions of these members read what the rules hide from them again."""
    for user_id in user_ids:
        await events.publish(ctx.services, channels.user_inbox(user_id), events.ties_changed())


async def update_settings(ctx: Context, *, show_sensitive: bool | None = None) -> User:
    """The viewer's safety settings (only those given change)."""
    viewer = require_viewer(ctx)
    if show_sensitive is not None:
        await User.filter(id=viewer.id).update(show_sensitive=show_sensitive)
        viewer.show_sensitive = show_sensitive
    return viewer
