"""Per-request DataLoaders: every field that reaches another object goes through one, so a page
costs a fixed number of queries whatever its size. Batch functions return results in key order
(None or an empty value for missing keys). Never share a Loaders instance between requests."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, cast

from strawberry.dataloader import DataLoader

from resolvers.consent import media_policies
from resolvers.mentions import members
from resolvers.replies import seen_beyond_public
from resolvers.rules import SHOWN_MEDIA, VISIBLE
from storage.models import (
    Artwork,
    ArtworkLike,
    Comment,
    Follow,
    MediaAsset,
    MediaKind,
    Post,
    PostArtwork,
    PostLike,
    TrainingPolicy,
    User,
)

K = TypeVar("K")
V = TypeVar("V")
ModelT = TypeVar("ModelT", User, Post, Artwork, Comment)


def _by_id(model: type[ModelT]) -> Callable[[Sequence[int]], Awaitable[list[ModelT | None]]]:
    async def load(keys: Sequence[int]) -> list[ModelT | None]:
        rows = {row.id: row for row in await model.filter(id__in=list(keys))}
        return [rows.get(key) for key in keys]

    return load


def _media_of(column: str) -> Callable[[Sequence[int]], Awaitable[list[list[MediaAsset]]]]:
    async def load(keys: Sequence[int]) -> list[list[MediaAsset]]:
        grouped: dict[int, list[MediaAsset]] = defaultdict(list)
        rows = await MediaAsset.filter(
            SHOWN_MEDIA.to_q(), **{f"{column}__in": list(keys)}
        ).order_by("position", "id")
        for row in rows:
            grouped[int(getattr(row, column))].append(row)
        return [grouped.get(key, []) for key in keys]

    return load


async def _avatars(user_ids: Sequence[int]) -> list[MediaAsset | None]:
    rows = await MediaAsset.filter(
        SHOWN_MEDIA.to_q(), owner_id__in=list(user_ids), kind=MediaKind.AVATAR
    ).order_by("id")
    newest = {row.owner_id: row for row in rows}  # the newest row of each account wins
    return [newest.get(user_id) for user_id in user_ids]


class NotLoaded:
    """What ``peek`` returns for a key its loader does not hold yet."""


NOT_LOADED = NotLoaded()


def peek(loader: DataLoader[K, V], key: K) -> V | NotLoaded:
    """The value of ``key`` when already loaded, so a field can answer without awaiting."""
    future = loader.cache_map.get(key)
    if future is None or not future.done() or future.cancelled() or future.exception():
        return NOT_LOADED
    return future.result()


async def _preload(
    loader: DataLoader[int, V],
    keys: list[int],
    batch: Callable[[Sequence[int]], Awaitable[list[V]]],
) -> None:
    missing = [key for key in keys if peek(loader, key) is NOT_LOADED]
    if missing:
        loader.prime_many(dict(zip(missing, await batch(missing), strict=True)))


class Loaders:
    # Annotated here rather than subscripted at each construction: a live subscription makes a
    # fresh set per event, and ``DataLoader[K, V](...)`` costs a typing round trip every time.
    user: DataLoader[int, User | None]
    post: DataLoader[int, Post | None]
    artwork: DataLoader[int, Artwork | None]
    comment: DataLoader[int, Comment | None]
    post_attachments: DataLoader[int, list[Artwork]]
    viewer_likes_post: DataLoader[int, bool]
    viewer_likes_artwork: DataLoader[int, bool]
    viewer_follows: DataLoader[int, bool]
    viewer_hidden: DataLoader[int, bool]
    viewer_replies: DataLoader[int, int]
    artwork_images: DataLoader[int, list[MediaAsset]]
    post_images: DataLoader[int, list[MediaAsset]]
    avatar: DataLoader[int, MediaAsset | None]
    media_policy: DataLoader[int, TrainingPolicy | None]
    mentioned: DataLoader[str, User | None]

    def __init__(self, viewer_id: int | None) -> None:
        self.viewer_id = viewer_id
        self.user = DataLoader(load_fn=_by_id(User))
        self.post = DataLoader(load_fn=_by_id(Post))
        self.artwork = DataLoader(load_fn=_by_id(Artwork))
        self.comment = DataLoader(load_fn=_by_id(Comment))
        self.post_attachments = DataLoader(load_fn=self._attachments)
        self.viewer_likes_post = DataLoader(load_fn=self._likes_posts)
        self.viewer_likes_artwork = DataLoader(load_fn=self._likes_artworks)
        self.viewer_follows = DataLoader(load_fn=self._follows)
        self.viewer_hidden = DataLoader(load_fn=self._hidden)
        self.viewer_replies = DataLoader(load_fn=self._replies)
        self.artwork_images = DataLoader(load_fn=_media_of("artwork_id"))
        self.post_images = DataLoader(load_fn=_media_of("post_id"))
        self.avatar = DataLoader(load_fn=_avatars)
        self.media_policy = DataLoader(load_fn=media_policies)
        self.mentioned = DataLoader(load_fn=self._mentioned)

    async def preload_posts(
        self,
        posts: Sequence[Post],
        *,
        authors: bool,
        attachments: bool,
        likes: bool,
        follows: bool,
        replies: bool = False,
    ) -> None:
        """Fetch what a page of posts will show, one batch per kind, all at once.

        The fields then read it synchronously from the loaders' caches (see ``peek``): a page of
        twenty posts costs four queries and no per-field futures or tasks. The replies the
        viewer may see are counted only for posts with non-public replies (see
        ``resolvers.replies``).
        """
        post_ids = [post.id for post in posts]
        author_ids = list(dict.fromkeys(post.author_id for post in posts))
        # Every page of posts was read through a rule that holds VISIBLE's exclusions
        # (resolvers.rules): no exclusion hides its authors from the viewer.
        self.viewer_hidden.prime_many(dict.fromkeys(author_ids, False))
        jobs: list[Awaitable[None]] = []
        if authors:
            jobs.append(_preload(self.user, author_ids, _by_id(User)))
        if attachments:
            jobs.append(_preload(self.post_attachments, post_ids, self._attachments))
        if likes and self.viewer_id is not None:
            jobs.append(_preload(self.viewer_likes_post, post_ids, self._likes_posts))
        if follows and self.viewer_id is not None:
            jobs.append(_preload(self.viewer_follows, author_ids, self._follows))
        if replies:
            from resolvers import replies as counters  # see _replies

            counted = [
                p.id for p in posts if counters.beyond_public(p.reply_count, p.public_reply_count)
            ]
            jobs.append(_preload(self.viewer_replies, counted, self._replies))
        await asyncio.gather(*jobs)

    async def _attachments(self, post_ids: Sequence[int]) -> list[list[Artwork]]:
        grouped: dict[int, list[Artwork]] = defaultdict(list)
        rows = (
            await PostArtwork.filter(post_id__in=list(post_ids))
            .select_related("artwork")
            .order_by("post_id", "position", "id")
        )
        for row in rows:
            grouped[row.post_id].append(row.artwork)
        return [grouped.get(post_id, []) for post_id in post_ids]

    async def _likes_posts(self, post_ids: Sequence[int]) -> list[bool]:
        if self.viewer_id is None:
            return [False] * len(post_ids)
        liked = set(
            cast(
                "list[int]",
                await PostLike.filter(
                    user_id=self.viewer_id, post_id__in=list(post_ids)
                ).values_list("post_id", flat=True),
            )
        )
        return [post_id in liked for post_id in post_ids]

    async def _replies(self, post_ids: Sequence[int]) -> list[int]:
        """Of each post's non-public replies, how many the viewer may see."""
        return await seen_beyond_public(self.viewer_id, post_ids)

    async def _likes_artworks(self, artwork_ids: Sequence[int]) -> list[bool]:
        if self.viewer_id is None:
            return [False] * len(artwork_ids)
        liked = set(
            cast(
                "list[int]",
                await ArtworkLike.filter(
                    user_id=self.viewer_id, artwork_id__in=list(artwork_ids)
                ).values_list("artwork_id", flat=True),
            )
        )
        return [artwork_id in liked for artwork_id in artwork_ids]

    async def _mentioned(self, keys: Sequence[str]) -> list[User | None]:
        """The members of these handle keys the viewer may see (``resolvers.mentions``): one
        statement for every mention of a page."""
        found = await members(self.viewer_id, keys)
        return [found.get(key) for key in keys]

    async def _hidden(self, user_ids: Sequence[int]) -> list[bool]:
        """Whether an exclusion of ``rules.VISIBLE`` (a block, either way) or a hold (a
        suspension) hides each member from the viewer: one statement for the batch."""
        hidden = await VISIBLE.hidden_among(self.viewer_id, list(user_ids))
        return [user_id in hidden for user_id in user_ids]

    async def _follows(self, user_ids: Sequence[int]) -> list[bool]:
        if self.viewer_id is None:
            return [False] * len(user_ids)
        followed = set(
            cast(
                "list[int]",
                await Follow.filter(
                    follower_id=self.viewer_id, followee_id__in=list(user_ids)
                ).values_list("followee_id", flat=True),
            )
        )
        return [user_id in followed for user_id in user_ids]
