"""Live subscriptions: the home feed, notifications and upload progress.

Each subscription holds one broker ``Listener`` (a bounded inbox). The home feed listens to the
channel of every artist the viewer follows plus the viewer's own inbox, and keeps that set current
as the viewer follows and unfollows.

Gapless resume: ``homeFeed(after: cursor)`` starts listening FIRST, then replays from the database
every post newer than the cursor, then delivers live events, skipping any the replay already sent.
After a Redis outage the feed waits for Redis, replays what it missed the same way and goes on.
``notifications(after: cursor)`` resumes the same way from the stored notifications.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from resolvers import channels, inbox
from resolvers.context import Context, require_viewer
from resolvers.errors import LiveUpdatesUnavailable
from resolvers.events import rows_from_post_event
from resolvers.feed import home_posts
from resolvers.loaders import Loaders
from resolvers.media import FRACTIONS
from resolvers.pagination import decode_cursor, encode_cursor
from resolvers.rules import FOLLOWS, HOME
from storage.broker import BrokerInterrupted, BrokerUnavailable, Listener, ListenerOverflow
from storage.ids import id_for_time
from storage.models import Artwork, MediaAsset, MediaStatus, Notification, Post, User, Visibility

REPLAY_BATCH = 100
# How long ids sent by a replay are remembered to drop their late live duplicates.
REPLAY_MEMORY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class FeedEvent:
    cursor: str
    post: Post | None = None
    deleted_post_id: int | None = None
    author: User | None = None
    artworks: list[Artwork] = field(default_factory=list)
    # True for an event from the broker: the same object goes to every local subscriber, so the
    # layers above may memoise what they derive from it in ``memo``.
    live: bool = False
    # The post's text changed (the post is sent again whole).
    edited: bool = False
    memo: dict[str, Any] = field(default_factory=dict, compare=False)


class _DecodedPayloads:
    """The event decoded from each recent payload, so each is decoded once, not per subscriber.

    Payloads are the very ``bytes`` objects the broker hands every listener; identity is the key.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: OrderedDict[int, tuple[bytes, dict[str, Any], FeedEvent | None]] = (
            OrderedDict()
        )

    def get(self, payload: bytes) -> tuple[dict[str, Any], FeedEvent | None]:
        entry = self._entries.get(id(payload))
        if entry is None or entry[0] is not payload:
            event = orjson.loads(payload)
            entry = (payload, event, _feed_event(event))
            self._entries[id(payload)] = entry
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry[1], entry[2]


def _feed_event(event: dict[str, Any]) -> FeedEvent | None:
    if event["t"] in ("post", "post_edited"):
        post, author, artworks = rows_from_post_event(event)
        return FeedEvent(
            cursor=encode_cursor("post", post.id),
            post=post,
            author=author,
            artworks=artworks,
            live=True,
            edited=event["t"] == "post_edited",
        )
    if event["t"] == "post_deleted":
        return FeedEvent(
            cursor=encode_cursor("post", event["id"]), deleted_post_id=event["id"], live=True
        )
    return None


_decoded = _DecodedPayloads()


@dataclass(frozen=True, slots=True)
class UploadEvent:
    upload_id: str | None
    asset_id: int
    stage: str
    progress: float
    done: bool
    error: str | None
    code: str | None = None  # an ErrorCode name, for a refusal

    @classmethod
    def of_row(cls, row: MediaAsset) -> UploadEvent:
        """Where the row says the upload is."""
        return cls(
            upload_id=row.upload_key,
            asset_id=row.id,
            stage=row.stage,
            progress=FRACTIONS.get(row.stage, 0.0),
            done=row.status is not MediaStatus.PROCESSING,
            error=row.refusal_message,
            code=row.refusal_code,
        )


@dataclass(slots=True)
class _Hidden:
    """The owners an exclusion of the feeds' rule (``rules.HOME``: blocks and mutes) hides from
    a live subscriber, read again when the viewer's ties change (an ``events.ties_changed``) and
    when a mute ends."""

    viewer_id: int
    owners: frozenset[int] = frozenset()
    until: float | None = None  # time.time() when a mute ends and the owners change

    @classmethod
    async def of(cls, viewer_id: int) -> _Hidden:
        hidden = cls(viewer_id)
        await hidden.read()
        return hidden

    async def read(self) -> None:
        self.owners = await HOME.hidden_owners(self.viewer_id)
        ends = await HOME.hidden_until(self.viewer_id)
        self.until = ends.timestamp() if ends is not None else None

    async def current(self) -> frozenset[int]:
        if self.until is not None and time.time() >= self.until:
            await self.read()
        return self.owners


@dataclass(slots=True)
class _Ties:
    """What the home feed's rule needs to know of the viewer's ties, kept current as the viewer
    follows and unfollows, blocks and mutes."""

    viewer_id: int
    followees: set[int]
    hidden: _Hidden

    @classmethod
    async def of(cls, viewer_id: int) -> _Ties:
        return cls(viewer_id, await FOLLOWS.owners(viewer_id), await _Hidden.of(viewer_id))


class _Replayed:
    """Ids a replay sent, remembered for a while so their live copies are dropped."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.until = 0.0

    def add(self, post_id: int) -> None:
        self.ids.add(post_id)
        self.until = time.monotonic() + REPLAY_MEMORY_SECONDS

    def seen(self, post_id: int) -> bool:
        if self.ids and time.monotonic() > self.until:
            self.ids.clear()
        return post_id in self.ids


async def _listen(listener: Listener, channels: list[str]) -> None:
    try:
        await listener.add(channels)
    except BrokerUnavailable as error:
        raise LiveUpdatesUnavailable(
            "live updates are unavailable right now; queries and mutations still work, "
            "subscribe again shortly"
        ) from error


async def _next(ctx: Context, listener: Listener) -> tuple[str, bytes]:
    """The listener's next message. A subscriber that fell too far behind is disconnected with
    the reason (and this waits for its handler to cancel the subscription)."""
    try:
        return await listener.get()
    except ListenerOverflow as error:
        if ctx.disconnect is None:
            raise
        await ctx.disconnect(f"too slow: {error}; reconnect and resume from your last cursor")
        await asyncio.Event().wait()
        raise


async def home_feed(ctx: Context, *, after: str | None) -> AsyncIterator[FeedEvent]:
    viewer = require_viewer(ctx)
    replay = after is not None
    # Without a cursor, "missed" means "created after this subscription started".
    last_id = decode_cursor("post", after)[0] if after is not None else id_for_time(time.time())
    ties = await _Ties.of(viewer.id)
    followees = ties.followees
    listener = ctx.services.broker.listener(ctx.services.subscriber_inbox)
    replayed = _Replayed()
    try:
        await _listen(
            listener,
            [channels.user_inbox(viewer.id), channels.author_posts(viewer.id)]
            + [channels.author_posts(a) for a in followees],
        )
        while True:
            if replay:
                async for event in _replay(ctx, viewer.id, last_id, replayed):
                    last_id = max(last_id, event.post.id if event.post is not None else 0)
                    yield event
            try:
                while True:
                    _channel, payload = await _next(ctx, listener)
                    message, decoded = _decoded.get(payload)
                    if message["t"] == "follow":
                        await _follow_changed(listener, followees, message)
                        continue
                    if message["t"] == "ties":
                        await ties.hidden.read()
                        continue
                    if decoded is None:
                        continue
                    hidden = await ties.hidden.current()
                    live_event = _accept(ctx, ties, hidden, replayed, message, decoded)
                    if live_event is None:
                        continue
                    if live_event.post is not None:
                        last_id = max(last_id, live_event.post.id)
                    yield live_event
            except BrokerInterrupted:
                await listener.resume()
                # Anything published while Redis was away comes from the database.
                replay = True
    finally:
        await listener.close()


async def _replay(
    ctx: Context, viewer_id: int, after_id: int, replayed: _Replayed
) -> AsyncIterator[FeedEvent]:
    """Every home-feed post newer than ``after_id``, oldest first."""
    while True:
        rows = (
            await home_posts(viewer_id).filter(id__gt=after_id).order_by("id").limit(REPLAY_BATCH)
        )
        for post in rows:
            replayed.add(post.id)
            ctx.fresh_loaders()
            yield FeedEvent(cursor=encode_cursor("post", post.id), post=post)
            after_id = post.id
        if len(rows) < REPLAY_BATCH:
            return


def _accept(
    ctx: Context,
    ties: _Ties,
    hidden: frozenset[int],
    replayed: _Replayed,
    event: dict[str, Any],
    feed_event: FeedEvent | None,
) -> FeedEvent | None:
    """The feed event this broker message is for this viewer, if any. Runs once per subscriber
    per event, so it stays synchronous."""
    if feed_event is None:
        return None
    if feed_event.post is not None and feed_event.author is not None:
        post = feed_event.post
        if not _in_feed(ties, hidden, post.author_id, post.visibility):
            return None
        if not feed_event.edited and replayed.seen(post.id):
            return None
        _prime(ctx, post, feed_event.author, feed_event.artworks)
        return feed_event
    # A tombstone without a visibility (published by an older release) reaches its author only.
    visibility = Visibility(event.get("visibility", Visibility.PRIVATE))
    if _in_feed(ties, hidden, int(event["author_id"]), visibility):
        return feed_event
    return None


def _in_feed(ties: _Ties, hidden: frozenset[int], author_id: int, visibility: Visibility) -> bool:
    """Whether a post (or its tombstone) belongs in the viewer's home feed (``rules.HOME``)."""
    return HOME.allows(
        ties.viewer_id,
        author_id,
        visibility,
        follows=author_id in ties.followees,
        hidden=author_id in hidden,
    )


async def _follow_changed(listener: Listener, followees: set[int], event: dict[str, Any]) -> None:
    followee = int(event["followee_id"])
    if event["following"] and followee not in followees:
        followees.add(followee)
        await listener.add([channels.author_posts(followee)])
    elif not event["following"] and followee in followees:
        followees.discard(followee)
        await listener.remove([channels.author_posts(followee)])


def _prime(ctx: Context, post: Post, author: User, artworks: list[Artwork]) -> None:
    """Fresh loaders filled from the event: rendering it needs no query for the usual fields."""
    ctx.fresh_loaders(functools.partial(_fill, post, author, artworks, ctx.viewer_id))


def _fill(
    post: Post, author: User, artworks: list[Artwork], viewer_id: int | None, loaders: Loaders
) -> None:
    loaders.user.prime(author.id, author)
    loaders.post_attachments.prime(post.id, artworks)
    loaders.viewer_likes_post.prime(post.id, False)
    # the author passed the feed's rule, which holds VISIBLE's exclusions
    loaders.viewer_hidden.prime(author.id, False)
    if author.id != viewer_id:
        loaders.viewer_follows.prime(author.id, True)


async def notifications(ctx: Context, *, after: str | None) -> AsyncIterator[Notification]:
    """The viewer's new notifications. With ``after`` (a notification's cursor), first every
    stored one newer than it, oldest first; after a Redis outage, what it missed the same way."""
    viewer = require_viewer(ctx)
    replay = after is not None
    last_id = (
        decode_cursor("notification", after)[0] if after is not None else id_for_time(time.time())
    )
    listener = ctx.services.broker.listener(ctx.services.subscriber_inbox)
    replayed = _Replayed()
    try:
        await _listen(listener, [channels.user_inbox(viewer.id)])
        while True:
            while replay:
                rows = await inbox.since(viewer.id, last_id)
                for row in rows:
                    replayed.add(row.id)
                    last_id = row.id
                    ctx.fresh_loaders()
                    yield row
                replay = len(rows) == inbox.REPLAY_BATCH
            try:
                while True:
                    _channel, payload = await _next(ctx, listener)
                    event, _ = _decoded.get(payload)
                    if event["t"] != "notification":
                        continue
                    row = inbox.from_event(viewer.id, event)
                    if replayed.seen(row.id):
                        continue
                    last_id = max(last_id, row.id)
                    ctx.fresh_loaders()
                    yield row
            except BrokerInterrupted:
                await listener.resume()
                replay = True
    finally:
        await listener.close()


async def upload_state(
    ctx: Context, *, upload_key: str | None = None, asset_id: int | None = None
) -> MediaAsset | None:
    """The viewer's image named by its upload id or its id; None when there is no such image of
    the viewer's."""
    viewer = require_viewer(ctx)
    if asset_id is not None:
        return await MediaAsset.get_or_none(id=asset_id, owner_id=viewer.id)
    return await MediaAsset.get_or_none(upload_key=upload_key, owner_id=viewer.id)


async def upload_progress(
    ctx: Context, *, upload_key: str | None = None, asset_id: int | None = None
) -> AsyncIterator[UploadEvent]:
    """Progress of one of the viewer's uploads, until it is ready or refused: first where its
    row says it is (when it exists), then each stage as a worker reaches it."""
    viewer = require_viewer(ctx)
    listener = ctx.services.broker.listener(ctx.services.subscriber_inbox)
    try:
        # Listening before the row is read, so that no stage falls in between.
        await _listen(listener, [channels.user_inbox(viewer.id)])
        row = await upload_state(ctx, upload_key=upload_key, asset_id=asset_id)
        if row is not None:
            first = UploadEvent.of_row(row)
            yield first
            if first.done:
                return
        while True:
            _channel, payload = await _next(ctx, listener)
            event, _ = _decoded.get(payload)
            if event["t"] != "upload":
                continue
            if (upload_key is not None and event["id"] != upload_key) or (
                asset_id is not None and event["asset_id"] != asset_id
            ):
                continue
            yield UploadEvent(
                upload_id=event["id"],
                asset_id=event["asset_id"],
                stage=event["stage"],
                progress=float(event["progress"]),
                done=bool(event["done"]),
                error=event.get("error"),
                code=event.get("code"),
            )
            if event["done"]:
                return
    finally:
        await listener.close()
