"""Per-request DataLoaders: every field that reaches another object goes through one, so a page
costs a fixed number of queries whatever its size. Batch functions return results in key order
(None or an empty value for missing keys). Never share a Loaders instance between requests."""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from resolvers.consent import POLICY_COLUMNS, POLICY_JOINS, media_policies, policy_of
from resolvers.feedsql import FOLLOWS_SQL, LIKED_ARTWORKS_SQL
from resolvers.mentions import members
from resolvers.replies import seen_beyond_public
from resolvers.rules import SHOWN_MEDIA, VISIBLE
from storage import rawsql
from storage.models import (
    Artwork,
    Comment,
    MediaAsset,
    MediaKind,
    Post,
    TrainingPolicy,
    User,
)

K = TypeVar("K")
V = TypeVar("V")
ModelT = TypeVar("ModelT", User, Post, Artwork, Comment)

# The batch functions of every page read with hand-written SQL (``storage.rawsql``) and return
# the model instances the ORM would: building a statement with the ORM costs more than running
# it. The statements are made on first use (a foreign key's column is known once Tortoise is
# set up) and kept.


@functools.cache
def _by_id_sql(model: type[ModelT]) -> str:
    columns, table = rawsql.every_column(model, "t"), model._meta.db_table
    return f"SELECT {columns} FROM {table} t WHERE t.id = ANY($1::bigint[])"  # noqa: S608


async def by_id(model: type[ModelT], keys: Sequence[int]) -> list[ModelT | None]:
    """The rows of ``model`` whose ids are ``keys``, in key order (None: no such row)."""
    async with rawsql.reader(model) as reader:
        rows = await reader.fetch(_by_id_sql(model), list(keys))
    found = {row.id: row for row in rawsql.instances(model, rows)}
    return [found.get(key) for key in keys]


def _by_id(model: type[ModelT]) -> Callable[[Sequence[int]], Awaitable[list[ModelT | None]]]:
    return functools.partial(by_id, model)


@functools.cache
def _media_sql(where: str, order: str) -> str:
    """Images ``m`` shown (``rules.SHOWN_MEDIA``) where ``where`` holds, with the policy in
    force for each (``consent.policy_of``), in ``order``."""
    return (
        f"SELECT {rawsql.every_column(MediaAsset, 'm')}, {POLICY_COLUMNS}"  # noqa: S608
        f" FROM media_assets m {POLICY_JOINS}"
        f" WHERE {where} AND {SHOWN_MEDIA.to_sql('m.status')} ORDER BY {order}"
    )


_AVATARS = f"m.owner_id = ANY($1::bigint[]) AND m.kind = '{MediaKind.AVATAR.value}'"


@functools.cache
def _attachments_sql() -> str:
    """The artworks attached to the posts ``$1``, each with its post (``attached_to``), in each
    post's order."""
    return (
        f"SELECT {rawsql.every_column(Artwork, 'a')}, pa.post_id AS attached_to"  # noqa: S608
        " FROM post_artworks pa JOIN artworks a ON a.id = pa.artwork_id"
        " WHERE pa.post_id = ANY($1::bigint[]) ORDER BY pa.post_id, pa.position, pa.id"
    )


_LIKED_POSTS_SQL = (
    "SELECT post_id FROM post_likes WHERE user_id = $1 AND post_id = ANY($2::bigint[])"
)


async def _among(viewer_id: int, sql: str, keys: Sequence[int]) -> set[int]:
    """The ids of ``keys`` that the statement ``sql`` (of the viewer ``$1`` and the ids ``$2``)
    returns."""
    async with rawsql.reader(User) as reader:
        return {int(row[0]) for row in await reader.fetch(sql, viewer_id, list(keys))}


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
        self.artwork_images = DataLoader(load_fn=self._artwork_images)
        self.post_images = DataLoader(load_fn=self._post_images)
        self.avatar = DataLoader(load_fn=self._avatars)
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

    async def _images(self, sql: str, keys: Sequence[int]) -> list[tuple[Any, MediaAsset]]:
        """The images of ``sql`` (of the ids ``$1``), each with its row; the policy in force
        for each, which their URLs sign, is read in the same statement and primed in
        ``media_policy``."""
        async with rawsql.reader(MediaAsset) as reader:
            rows = await reader.fetch(sql, list(keys))
        images = list(zip(rows, rawsql.instances(MediaAsset, rows), strict=True))
        self.media_policy.prime_many({image.id: policy_of(row) for row, image in images})
        return images

    async def _images_of(self, column: str, keys: Sequence[int]) -> list[list[MediaAsset]]:
        """The images whose ``column`` is each key, in their order."""
        sql = _media_sql(f"m.{column} = ANY($1::bigint[])", "m.position, m.id")
        grouped: dict[int, list[MediaAsset]] = defaultdict(list)
        for row, image in await self._images(sql, keys):
            grouped[row[column]].append(image)
        return [grouped.get(key, []) for key in keys]

    async def _artwork_images(self, artwork_ids: Sequence[int]) -> list[list[MediaAsset]]:
        return await self._images_of("artwork_id", artwork_ids)

    async def _post_images(self, post_ids: Sequence[int]) -> list[list[MediaAsset]]:
        return await self._images_of("post_id", post_ids)

    async def _avatars(self, user_ids: Sequence[int]) -> list[MediaAsset | None]:
        images = await self._images(_media_sql(_AVATARS, "m.id"), user_ids)
        newest = {image.owner_id: image for _, image in images}  # the newest row of each wins
        return [newest.get(user_id) for user_id in user_ids]

    async def _attachments(self, post_ids: Sequence[int]) -> list[list[Artwork]]:
        async with rawsql.reader(Artwork) as reader:
            rows = await reader.fetch(_attachments_sql(), list(post_ids))
        grouped: dict[int, list[Artwork]] = defaultdict(list)
        for row, artwork in zip(rows, rawsql.instances(Artwork, rows), strict=True):
            grouped[int(row["attached_to"])].append(artwork)
        return [grouped.get(post_id, []) for post_id in post_ids]

    async def _likes_posts(self, post_ids: Sequence[int]) -> list[bool]:
        if self.viewer_id is None:
            return [False] * len(post_ids)
        liked = await _among(self.viewer_id, _LIKED_POSTS_SQL, post_ids)
        return [post_id in liked for post_id in post_ids]

    async def _replies(self, post_ids: Sequence[int]) -> list[int]:
        """Of each post's non-public replies, how many the viewer may see."""
        return await seen_beyond_public(self.viewer_id, post_ids)

    async def _likes_artworks(self, artwork_ids: Sequence[int]) -> list[bool]:
        if self.viewer_id is None:
            return [False] * len(artwork_ids)
        liked = await _among(self.viewer_id, LIKED_ARTWORKS_SQL, artwork_ids)
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
        followed = await _among(self.viewer_id, FOLLOWS_SQL, user_ids)
        return [user_id in followed for user_id in user_ids]
