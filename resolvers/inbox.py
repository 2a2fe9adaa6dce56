"""The notifications inbox: what happened for an account, stored, grouped, read and pruned.

``notify`` is the one way anything tells a member something: a like, a follow, a comment, a reply,
a mention, a moderation outcome or a notice of the platform. It stores the notification (the
database is the source of truth), then rings the member's live inbox. Whose doings reach an inbox
is ``rules.INBOX`` (the exclusions: blocks and mutes), applied when a notification is made and
again when the inbox is read; what a notification names (a post, an artwork, a comment) is shown
only while the member may see it (``resolvers.access``).

Likes of one work are one notification ("Ada and 4 others liked your post"): a new like replaces
the group's row by a newer one, so the group is unread again and sorts first. An account's read
mark (``User.notifications_read_id``) is the newest notification it has read: every row above it
is unread, so marking read is one update however many rows it covers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from resolvers import channels, events
from resolvers.access import visible_to
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, InputError
from resolvers.keyset import by_index
from resolvers.pagination import CursorFn, Page, decode_cursor, page_size, paginate
from resolvers.rules import INBOX
from resolvers.services import Services
from resolvers.validation import MENTIONS_MAX, mentions
from storage.db import in_transaction
from storage.models import (
    ArtworkLike,
    Notification,
    NotificationKind,
    PostLike,
    User,
    Visibility,
    public_columns,
)

# The newest actors a group keeps by name ("Ada, Bea and 3 others").
ACTORS_KEPT = 3
MESSAGE_MAX = 2000
# A replay of the live inbox reads this many rows per query.
REPLAY_BATCH = 100
PRUNE_BATCH = 1000

# The kinds whose notifications of one subject group into one, by the subject's field, and the
# table of what they count.
_GROUPED: dict[NotificationKind, tuple[str, type[PostLike] | type[ArtworkLike]]] = {
    NotificationKind.POST_LIKED: ("post_id", PostLike),
    NotificationKind.ARTWORK_LIKED: ("artwork_id", ArtworkLike),
}

notification_cursor: CursorFn[Notification] = CursorFn("notification", "id")

EVENT_FIELDS = public_columns(Notification)


async def notify(
    services: Services,
    recipient_id: int,
    kind: NotificationKind,
    *,
    actor_id: int | None = None,
    post_id: int | None = None,
    artwork_id: int | None = None,
    comment_id: int | None = None,
    message: str = "",
    report_id: int | None = None,
    outcome: str | None = None,
) -> Notification | None:
    """Tell ``recipient_id`` that ``kind`` happened, by ``actor_id`` (None: the platform itself,
    then ``message`` says what). Nothing is stored when the actor is the recipient or an
    exclusion hides the actor from the recipient; the stored row is returned."""
    if actor_id is not None and (
        actor_id == recipient_id or await INBOX.hides(recipient_id, actor_id)
    ):
        return None
    if actor_id is None and not message:
        raise ValueError("a notification of the platform says what happened (message)")
    fields: dict[str, Any] = {
        "recipient_id": recipient_id,
        "kind": kind,
        "actor_id": actor_id,
        "actor_ids": [] if actor_id is None else [actor_id],
        "post_id": post_id,
        "artwork_id": artwork_id,
        "comment_id": comment_id,
        "message": message[:MESSAGE_MAX],
        "report_id": report_id,
        "outcome": outcome,
    }
    grouped = _GROUPED.get(kind)
    if grouped is None or actor_id is None:
        row = await Notification.create(**fields)
    else:
        row = await _grouped(fields, f"{kind.value}:{fields[grouped[0]]}", actor_id)
    await events.publish(services, channels.user_inbox(recipient_id), notification_event(row))
    return row


async def _grouped(fields: dict[str, Any], group_key: str, actor_id: int) -> Notification:
    """The group's row with one more actor, as a new row (a new id: unread, newest)."""
    for attempt in range(3):
        try:
            async with in_transaction():
                old = await Notification.filter(
                    recipient_id=fields["recipient_id"], group_key=group_key
                ).first()
                actors, count = [actor_id], 1
                if old is not None:
                    again = actor_id in old.actor_ids
                    actors += [a for a in old.actor_ids if a != actor_id]
                    count = old.actor_count + (0 if again else 1)
                    await old.delete()
                return await Notification.create(
                    **{**fields, "actor_ids": actors[:ACTORS_KEPT]},
                    actor_count=count,
                    group_key=group_key,
                )
        except IntegrityError:  # another like of the same work made the group's row first
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def retract(
    recipient_id: int,
    kind: NotificationKind,
    *,
    actor_id: int,
    post_id: int | None = None,
    artwork_id: int | None = None,
) -> None:
    """Take back what ``actor_id`` did and undid (a follow, a like): it is no news any more. A
    group loses one actor, and goes when none is left; it keeps its place."""
    grouped = _GROUPED.get(kind)
    if grouped is None:
        await Notification.filter(recipient_id=recipient_id, kind=kind, actor_id=actor_id).delete()
        return
    field, _counted = grouped
    subject = post_id if field == "post_id" else artwork_id
    if subject is None:
        raise ValueError(f"a {kind.value} notification names its {field}")
    async with in_transaction():
        await withdraw(recipient_id, kind, actor_id=actor_id, subject_id=subject)


async def withdraw(
    recipient_id: int, kind: NotificationKind, *, actor_id: int, subject_id: int
) -> None:
    """``retract`` of a grouped kind, inside the caller's transaction (after the like it counted
    is gone): the group of ``subject_id`` loses one actor, and goes when none is left."""
    field, counted = _GROUPED[kind]
    row = await Notification.filter(
        recipient_id=recipient_id, group_key=f"{kind.value}:{subject_id}"
    ).first()
    if row is None:
        return
    if row.actor_count <= 1:
        await row.delete()
        return
    actors = [a for a in row.actor_ids if a != actor_id]
    if not actors:  # the few kept by name all took it back: the newest who still stand
        newest = counted.filter(**{field: subject_id}).exclude(user_id=recipient_id)
        actors = cast(
            "list[int]",
            await newest.order_by("-id").limit(ACTORS_KEPT).values_list("user_id", flat=True),
        )
    if not actors:
        await row.delete()
        return
    await Notification.filter(id=row.id).update(
        actor_id=actors[0], actor_ids=actors, actor_count=row.actor_count - 1
    )


async def notify_mentions(
    services: Services,
    text: str,
    *,
    actor_id: int,
    owner_id: int,
    visibility: Visibility,
    post_id: int | None = None,
    artwork_id: int | None = None,
    comment_id: int | None = None,
    told: frozenset[int] = frozenset(),
) -> list[int]:
    """Tell each member an ``@handle`` of ``text`` names, who may see the text (a thing of
    ``owner_id`` with ``visibility``), that they were mentioned; ``told`` are already told of
    this text (the artist of a commented work). Returns who was told."""
    handles = [handle.lower() for handle in mentions(text)[:MENTIONS_MAX]]
    if not handles:
        return []
    found = User.filter(handle_key__in=handles).values_list("id", flat=True)
    named = cast("list[int]", await found)
    mentioned: list[int] = []
    for user_id in sorted(set(named) - told - {actor_id}):
        if not await visible_to(user_id, owner_id, visibility):
            continue
        row = await notify(
            services,
            user_id,
            NotificationKind.MENTION,
            actor_id=actor_id,
            post_id=post_id,
            artwork_id=artwork_id,
            comment_id=comment_id,
        )
        if row is not None:
            mentioned.append(user_id)
    return mentioned


def notification_event(row: Notification) -> dict[str, Any]:
    """The live event of a stored notification: the row itself, so rendering it costs no read."""
    event: dict[str, Any] = {name: getattr(row, name) for name in EVENT_FIELDS}
    return {**event, "t": "notification"}


def from_event(recipient_id: int, event: dict[str, Any]) -> Notification:
    """The notification a live event carries (read-only, never saved)."""
    values = {name: event[name] for name in EVENT_FIELDS if name in event}
    values["recipient_id"] = recipient_id
    values["kind"] = NotificationKind(event["kind"])
    if isinstance(values.get("created_at"), str):
        values["created_at"] = dt.datetime.fromisoformat(values["created_at"])
    values.setdefault("actor_ids", [] if event.get("actor_id") is None else [event["actor_id"]])
    return Notification(**values)


def _inbox_of(recipient_id: int) -> QuerySet[Notification]:
    """The recipient's notifications that ``rules.INBOX`` lets through."""
    query = Notification.filter(recipient_id=recipient_id)
    return query.filter(INBOX.unhidden_q(recipient_id, owner="actor_id", nullable=True))


async def notifications(
    ctx: Context, *, first: int | None, after: str | None
) -> Page[Notification]:
    """The viewer's notifications, newest first."""
    viewer = require_viewer(ctx)
    size = page_size(first)
    query = _inbox_of(viewer.id)
    if after is not None:
        (last_id,) = decode_cursor("notification", after)
        query = query.filter(id__lt=last_id)
    rows = await by_index(query, ("-id",), size + 1)
    return paginate(rows, size, notification_cursor)


async def since(recipient_id: int, after_id: int) -> list[Notification]:
    """Up to ``REPLAY_BATCH`` of the recipient's notifications newer than ``after_id``, oldest
    first (a live inbox catching up)."""
    query = _inbox_of(recipient_id).filter(id__gt=after_id)
    return list(await by_index(query, ("id",), REPLAY_BATCH))


async def unread_count(user: User) -> int:
    return await _inbox_of(user.id).filter(id__gt=user.notifications_read_id).count()


async def mark_read(ctx: Context, up_to: int | None) -> int:
    """Mark the viewer's notifications read up to the notification ``up_to`` (its own; None:
    every one so far). The mark never moves back. Returns the new mark."""
    viewer = require_viewer(ctx)
    if up_to is None:
        newest = await Notification.filter(recipient_id=viewer.id).order_by("-id").first()
        mark = newest.id if newest is not None else 0
    else:
        if not await Notification.filter(id=up_to, recipient_id=viewer.id).exists():
            raise InputError.single("upTo", "no such notification", ErrorCode.NOT_FOUND)
        mark = up_to
    if mark > viewer.notifications_read_id:
        await User.filter(id=viewer.id, notifications_read_id__lt=mark).update(
            notifications_read_id=mark
        )
        viewer.notifications_read_id = mark
    return max(mark, int(viewer.notifications_read_id))


def is_read(viewer: User | None, row: Notification) -> bool:
    return viewer is not None and row.id <= viewer.notifications_read_id


async def get_notification(ctx: Context, notification_id: int) -> Notification | None:
    """The viewer's own notification (None for anyone else's, or one hidden from the inbox)."""
    if ctx.viewer_id is None:
        return None
    return await _inbox_of(ctx.viewer_id).filter(id=notification_id).first()


async def prune(keep_days: int, *, now: dt.datetime | None = None) -> int:
    """Delete the notifications older than ``keep_days``, a batch at a time; how many went."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_days)
    removed = 0
    while True:
        ids = (
            await Notification.filter(created_at__lt=cutoff)
            .limit(PRUNE_BATCH)
            .values_list("id", flat=True)
        )
        if not ids:
            return removed
        removed += await Notification.filter(id__in=list(ids)).delete()
