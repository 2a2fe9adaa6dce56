"""Root subscriptions (graphql-transport-ws and legacy graphql-ws on /graphql).

Authenticate in the connection_init payload: ``{"authorization": "Bearer <token>"}`` (or
``{"token": "<token>"}``).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from resolvers import live
from resolvers.context import Context
from resolvers.errors import ErrorCode, InputError
from schema.base import Info, IsAuthenticated, decode_id, to_global_id
from schema.notifications import Notification
from schema.types import Post


@strawberry.enum(description="What happened to the home feed.")
class FeedEventKind(enum.Enum):
    ADDED = "added"
    DELETED = "deleted"
    EDITED = "edited"


@strawberry.type(description="A post added to, edited in or deleted from the viewer's home feed.")
class HomeFeedEvent:
    kind: FeedEventKind
    cursor: str = strawberry.field(
        description="Pass as `after` when resubscribing to resume without gaps."
    )
    post: Post | None = strawberry.field(description="The post (ADDED, or EDITED: its new text).")
    deleted_post_id: strawberry.ID | None = strawberry.field(description="A tombstone (DELETED).")
    # Set on events from the broker, which every local subscriber receives as this same object:
    # see schema.sharing.
    shared_results: strawberry.Private[dict[Any, Any] | None] = None
    author_pk: strawberry.Private[int | None] = None

    def share_class(self, context: Context) -> str | None:
        """Viewers of one class see this event identically: its author, or anyone else."""
        if self.shared_results is None:
            return None
        return "author" if context.viewer_id == self.author_pk else "reader"

    @classmethod
    def of(cls, event: live.FeedEvent) -> HomeFeedEvent:
        """The GraphQL object of a feed event, built once per broker event."""
        built = event.memo.get("graphql")
        if isinstance(built, HomeFeedEvent):
            return built
        shared: dict[Any, Any] | None = {} if event.live else None
        if event.post is not None:
            built = cls(
                kind=FeedEventKind.EDITED if event.edited else FeedEventKind.ADDED,
                cursor=event.cursor,
                post=Post.from_row(event.post),
                deleted_post_id=None,
                shared_results=shared,
                author_pk=event.post.author_id,
            )
        else:
            built = cls(
                kind=FeedEventKind.DELETED,
                cursor=event.cursor,
                post=None,
                deleted_post_id=to_global_id("Post", event.deleted_post_id or 0),
                shared_results=shared,
            )
        if event.live:
            event.memo["graphql"] = built
        return built


@strawberry.type(
    description=(
        "Where an upload is: stage queued, then ingest, cloak, watermark, derivatives, stored as "
        "a worker reaches them, then ready (done) or refused (done, with error and code)."
    )
)
class UploadProgress:
    id: strawberry.ID = strawberry.field(description="The id the subscription was given.")
    stage: str
    progress: float = strawberry.field(description="0.0 to 1.0.")
    done: bool = strawberry.field(description="Ready or refused: no further stage will come.")
    error: str | None = strawberry.field(description="Why the image was refused.")
    code: ErrorCode | None = strawberry.field(description="Why the image was refused, typed.")
    image_id: strawberry.ID = strawberry.field(description="The MediaAsset's id.")

    @classmethod
    def of(cls, id: strawberry.ID, event: live.UploadEvent) -> UploadProgress:
        return cls(
            id=id,
            stage=event.stage,
            progress=event.progress,
            done=event.done,
            error=event.error,
            code=ErrorCode.__members__.get(event.code) if event.code else None,
            image_id=to_global_id("MediaAsset", event.asset_id),
        )


def upload_named(id: strawberry.ID) -> dict[str, Any]:
    """An upload is named by the uploadId its client chose, or by its image's id."""
    try:
        return {"asset_id": decode_id(str(id), "id", "MediaAsset")}
    except InputError:
        return {"upload_key": str(id)}


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "New posts by the artists the viewer follows and by the viewer, and deletions as "
            "tombstones. With `after`, first replays every post newer than that cursor."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def home_feed(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[HomeFeedEvent, None]:
        async for event in live.home_feed(info.context, after=after):
            yield HomeFeedEvent.of(event)

    @strawberry.subscription(
        description=(
            "The viewer's new notifications. With `after` (a notification's `cursor`), first "
            "replays every one newer than it, oldest first."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def notifications(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[Notification, None]:
        async for row in live.notifications(info.context, after=after):
            yield Notification.from_row(row)

    @strawberry.subscription(
        description=(
            "Progress of one of the viewer's uploads (its uploadId, or its image's id): where it "
            "is now, then each stage, until ready or refused."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def upload_progress(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[UploadProgress, None]:
        async for event in live.upload_progress(info.context, **upload_named(id)):
            yield UploadProgress.of(id, event)
