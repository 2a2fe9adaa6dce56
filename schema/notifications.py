"""The notifications inbox: the Notification type, read by the ``notifications`` query and the
``notifications`` subscription alike."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import inbox
from resolvers.pagination import encode_cursor
from resolvers.portfolio import get_artwork
from resolvers.posts import get_post
from resolvers.social import get_comment
from schema.base import Info, Node, to_global_id
from schema.moderation import Report
from schema.types import Artwork, Comment, Post, User
from storage import models
from storage.models import NotificationKind

strawberry.enum(NotificationKind, description="What a notification is about.")

# What happened, by kind, after the actors' names.
_DID = {
    NotificationKind.NEW_FOLLOWER: "started following you",
    NotificationKind.POST_LIKED: "liked your post",
    NotificationKind.ARTWORK_LIKED: "liked your artwork",
    NotificationKind.REPLY: "replied to your post",
    NotificationKind.MENTION: "mentioned you",
}


@strawberry.type(
    description=(
        "Something that happened for the viewer: a follower, a like (likes of one work are one "
        "notification), a comment, a reply, a mention, or a word from the platform (a "
        "moderation outcome, a notice)."
    )
)
class Notification(Node):
    pk: strawberry.Private[int]
    kind: NotificationKind
    actor_count: int = strawberry.field(
        description="How many members did it (likes of one work add up); 0 for the platform."
    )
    message: str = strawberry.field(
        description="What the platform says (a moderation outcome, a notice); empty otherwise."
    )
    created_at: datetime = strawberry.field(description="When it last happened.")
    cursor: str = strawberry.field(
        description="Pass as `after` to the notifications subscription to resume without gaps."
    )
    actor_pk: strawberry.Private[int | None]
    actor_pks: strawberry.Private[list[int]]
    post_pk: strawberry.Private[int | None]
    artwork_pk: strawberry.Private[int | None]
    comment_pk: strawberry.Private[int | None]
    comment_on_artwork: strawberry.Private[bool]
    report_pk: strawberry.Private[int | None]
    outcome: str | None = strawberry.field(
        description="REPORT_RESOLVED: how a moderator resolved your report (a ModerationAction)."
    )

    @classmethod
    def from_row(cls, row: models.Notification) -> Notification:
        return cls(
            id=to_global_id("Notification", row.id),
            pk=row.id,
            kind=row.kind,
            actor_count=row.actor_count if row.actor_id is not None else 0,
            message=row.message,
            created_at=row.created_at,
            cursor=encode_cursor("notification", row.id),
            actor_pk=row.actor_id,
            actor_pks=list(row.actor_ids),
            post_pk=row.post_id,
            artwork_pk=row.artwork_id,
            comment_pk=row.comment_id,
            comment_on_artwork=row.artwork_id is not None,
            report_pk=row.report_id,
            outcome=row.outcome.upper() if row.outcome else None,
        )

    @strawberry.field(description="REPORT_RESOLVED: your report.")
    async def report(self, info: Info) -> Report | None:
        if self.report_pk is None or info.context.viewer_id is None:
            return None
        row = await models.Report.get_or_none(id=self.report_pk, reporter_id=info.context.viewer_id)
        return Report.from_row(row) if row is not None else None

    @strawberry.field(description="Whether the viewer has marked it read.")
    def read(self, info: Info) -> bool:
        viewer = info.context.viewer
        return viewer is not None and self.pk <= viewer.notifications_read_id

    @strawberry.field(description="Who did it most recently; null for the platform.")
    async def actor(self, info: Info) -> User | None:
        if self.actor_pk is None:
            return None
        row = await info.context.loaders.user.load(self.actor_pk)
        return User.from_row(row) if row is not None else None

    @strawberry.field(description="The latest few who did it, newest first.")
    async def actors(self, info: Info) -> list[User]:
        rows = await info.context.loaders.user.load_many(self.actor_pks)
        return [User.from_row(row) for row in rows if row is not None]

    @strawberry.field(
        description='What happened, as a sentence: "Ada and 4 others liked your post".'
    )
    async def text(self, info: Info) -> str:
        if self.actor_pk is None:
            return self.message
        row = await info.context.loaders.user.load(self.actor_pk)
        name = (row.display_name or row.handle) if row is not None else "Someone"
        others = self.actor_count - 1
        who = name if others <= 0 else f"{name} and {others} other{'s' if others > 1 else ''}"
        if self.kind is NotificationKind.COMMENT:
            return f"{who} commented on your {'artwork' if self.comment_on_artwork else 'post'}"
        return f"{who} {_DID.get(self.kind, 'did something')}"

    @strawberry.field(description="The post, while it exists and is visible.")
    async def post(self, info: Info) -> Post | None:
        if self.post_pk is None:
            return None
        row = await get_post(info.context, self.post_pk)
        return Post.from_row(row) if row is not None else None

    @strawberry.field(description="The artwork, while it exists and is visible.")
    async def artwork(self, info: Info) -> Artwork | None:
        if self.artwork_pk is None:
            return None
        row = await get_artwork(info.context, self.artwork_pk)
        return Artwork.from_row(row) if row is not None else None

    @strawberry.field(description="The comment, while it exists and its work is visible.")
    async def comment(self, info: Info) -> Comment | None:
        if self.comment_pk is None:
            return None
        row = await get_comment(info.context, self.comment_pk)
        return Comment.from_row(row) if row is not None else None


async def notification_by_pk(info: Info, pk: int) -> Notification | None:
    row = await inbox.get_notification(info.context, pk)
    return Notification.from_row(row) if row is not None else None


__all__ = ["Notification", "NotificationKind", "notification_by_pk"]
