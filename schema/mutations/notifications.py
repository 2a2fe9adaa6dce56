"""The notifications inbox."""

from __future__ import annotations

import strawberry

from resolvers import inbox
from schema.base import Info, IsAuthenticated, UserError, decode_id
from schema.mutations.common import attempt
from schema.types import User


@strawberry.type
class MarkNotificationsReadPayload:
    viewer: User | None
    unread_notification_count: int | None
    errors: list[UserError]


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        description=(
            "Mark the viewer's notifications read up to and including `upTo` (one of theirs), "
            "or every one so far when it is omitted or null. Never marks anything unread again."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def mark_notifications_read(
        self, info: Info, up_to: strawberry.ID | None = None
    ) -> MarkNotificationsReadPayload:
        async def run() -> int:
            pk = None if up_to is None else decode_id(up_to, "upTo", "Notification")
            return await inbox.mark_read(info.context, pk)

        mark, errors = await attempt(run)
        viewer = info.context.viewer
        if mark is None or viewer is None:
            return MarkNotificationsReadPayload(
                viewer=None, unread_notification_count=None, errors=errors
            )
        return MarkNotificationsReadPayload(
            viewer=User.from_row(viewer),
            unread_notification_count=await inbox.unread_count(viewer),
            errors=errors,
        )
