"""Leaving: ``deleteAccount``, and the job that removes everything of an account.

At once, in the request: the password is checked (rate-limited like a sign-in), the deletion is
recorded (an ``AccountDeletion`` row, which is also the hold ``rules.DELETED``: from its commit
the account and all its things read as missing for everyone, on every path), every token is
revoked and its websockets closed, and a job is queued.

Then, in the background (``gesso worker``, or the API process itself by default), the job runs
``STEPS`` in order, each in batches of ``Services.deletion_batch`` rows. Each batch is one
transaction that removes rows and puts right the counters of what stays (the follower counts of
the accounts it followed, the like and comment counts of others' works, the reply counts of the
posts it replied to); a batch of images deletes their objects from the store first and their
rows after, so a crash between the two leaves rows naming missing objects, which the next run
deletes again (deleting a missing object is no error), never an object no row names. The row
records the step reached and what went; a job killed halfway is delivered again (the queue's
lease), and a deletion whose job was lost is handed over again by the sweep (``requeue``).

What is kept, and why:

* the ``AccountDeletion`` row: the id, the handle and the times, no personal data. The handle
  stays reserved (sign-up refuses it), as on Mastodon: links and mentions of ``@handle`` made
  while the account lived must never come to name someone else. The email address is free again.
* the moderation audit log (``ModerationAction``): what moderators did stays on record (a
  moderator who leaves is named no more, as before). The deletion adds one entry, naming the
  reports still open against the account. Reports filed by the account and reports against it
  are deleted: their subject is gone and their notes are about it.

``STEPS`` is a list others extend (``add_step``): anything new that an account owns (an export
archive, say) adds the step that removes it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.models import Model

from resolvers import (
    channels,
    events,
    exports,
    inbox,
    media,
    passwords,
    ratelimit,
    replies,
    tokens,
)
from resolvers.accounts import PASSWORD_MAX
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, InputError
from resolvers.media import keys_of
from resolvers.services import Services
from resolvers.surrogates import artist_key, asset_keys, purge
from storage.db import in_transaction
from storage.jobs import DELETE_ACCOUNT, QueueUnavailable
from storage.models import (
    AccountDeletion,
    AccountToken,
    Artwork,
    ArtworkLike,
    AuthToken,
    Block,
    Comment,
    DeletionState,
    Follow,
    MediaAsset,
    MediaStatus,
    ModerationAction,
    Mute,
    Notification,
    NotificationKind,
    Post,
    PostLike,
    Report,
    ReportStatus,
    SubjectType,
    User,
)

ClaimedT = TypeVar("ClaimedT", bound=Model)

log = logging.getLogger("gesso.leaving")

# The audit log's name for an account its owner deleted.
ACCOUNT_DELETED = "account_deleted"
DONE = "done"
# Posts of a deleted account whose tombstones reach live feeds (the newest): well under a live
# subscriber's inbox (``Services.subscriber_inbox``).
TOMBSTONES = 100


@dataclass(frozen=True, slots=True)
class Step:
    """One kind of thing an account deletion removes: ``run(services, account_id, batch)``
    removes at most ``batch`` of them (and whatever must change with them, in one transaction)
    and returns how many it removed; 0 when none is left. It must be safe to run again after a
    crash anywhere in it."""

    name: str
    run: Callable[[Services, int, int], Awaitable[int]]


async def _claim(model: type[ClaimedT], ids: list[int]) -> list[ClaimedT]:
    """Inside a batch's transaction: the rows of ``ids`` still there, read again and locked
    (PostgreSQL: ``FOR UPDATE``; SQLite runs one write transaction at a time), then deleted.
    A second run of the same deletion (a job delivered twice, run by two workers at once)
    waits for the first and finds them gone, so the counters it puts right change once."""
    claimed = list(await model.filter(id__in=ids).select_for_update())
    if claimed:
        await model.filter(id__in=[row.pk for row in claimed]).delete()
    return claimed


async def _ids(query: Any, batch: int) -> list[int]:
    return cast("list[int]", await query.order_by("id").limit(batch).values_list("id", flat=True))


# --- the steps ---------------------------------------------------------------------------------


async def _sessions(services: Services, account_id: int, batch: int) -> int:
    """Every token again (one signed in while the deletion was being recorded), and the mailed
    ones (password resets, verifications)."""
    held = await AuthToken.filter(user_id=account_id).count()
    await tokens.revoke_tokens(services, account_id)
    mailed = await AccountToken.filter(user_id=account_id).delete()
    return held + mailed


async def _follows(services: Services, account_id: int, batch: int) -> int:
    """Its follows both ways; the others' follower and following counts lose one each."""
    removed = 0
    for mine, theirs, counter in (
        ("follower_id", "followee_id", "follower_count"),
        ("followee_id", "follower_id", "following_count"),
    ):
        rows = (
            await Follow.filter(**{mine: account_id})
            .order_by("id")
            .limit(batch)
            .values("id", theirs)
        )
        if not rows:
            continue
        async with in_transaction():
            claimed = await _claim(Follow, [r["id"] for r in rows])
            # each other account appears once (the pair is unique): each loses one
            others = [getattr(row, theirs) for row in claimed]
            if others:
                await User.filter(id__in=others).update(**{counter: F(counter) - 1})
        removed += len(rows)
    return removed


async def _blocks_and_mutes(services: Services, account_id: int, batch: int) -> int:
    removed = 0
    pairs: tuple[tuple[type[Block] | type[Mute], str, str], ...] = (
        (Block, "blocker_id", "blocked_id"),
        (Mute, "muter_id", "muted_id"),
    )
    for model, one, other in pairs:
        mine: dict[str, Any] = {one: account_id}
        theirs: dict[str, Any] = {other: account_id}
        found = model.filter(Q(**mine) | Q(**theirs))
        ids = await _ids(found, batch)
        if ids:
            removed += await model.filter(id__in=ids).delete()
    return removed


async def _likes(services: Services, account_id: int, batch: int) -> int:
    """Its likes of others' posts and artworks: their like counts lose one, and the grouped
    notification of each ("Ada and 4 others liked your post") loses it as an actor."""
    removed = 0
    for model, subject, owner, kind, target in (
        (PostLike, "post_id", "post__author_id", NotificationKind.POST_LIKED, Post),
        (ArtworkLike, "artwork_id", "artwork__owner_id", NotificationKind.ARTWORK_LIKED, Artwork),
    ):
        rows = (
            await model.filter(user_id=account_id)
            .order_by("id")
            .limit(batch)
            .values("id", subject, owner)
        )
        if not rows:
            continue
        async with in_transaction():
            claimed = {like.pk for like in await _claim(model, [r["id"] for r in rows])}
            mine = [row for row in rows if row["id"] in claimed]
            # one like per work and account: each work loses exactly one
            liked = [r[subject] for r in mine]
            if liked:
                await target.filter(id__in=liked).update(like_count=F("like_count") - 1)
            for row in mine:
                await inbox.withdraw(row[owner], kind, actor_id=account_id, subject_id=row[subject])
        removed += len(rows)
    return removed


async def _comments(services: Services, account_id: int, batch: int) -> int:
    """Its comments (on anyone's works); each work's comment count loses as many. Notifications
    about a comment go with it (their foreign key)."""
    rows = (
        await Comment.filter(author_id=account_id)
        .order_by("id")
        .limit(batch)
        .values("id", "post_id", "artwork_id")
    )
    if not rows:
        return 0
    async with in_transaction():
        claimed = await _claim(Comment, [r["id"] for r in rows])
        for model, field in ((Post, "post_id"), (Artwork, "artwork_id")):
            per_work = Counter(getattr(c, field) for c in claimed if getattr(c, field) is not None)
            for work_id, count in per_work.items():
                await model.filter(id=work_id).update(comment_count=F("comment_count") - count)
    return len(rows)


async def _delete_objects(services: Services, account_id: int, rows: list[MediaAsset]) -> None:
    """The objects of ``rows`` (derivatives, a kept original, a staged upload), before the rows
    go. A kept original is content-addressed: one that another account's image names stays."""
    keys = keys_of(rows)
    originals = [row.original_key for row in rows if row.original_key]
    if originals:
        shared = await MediaAsset.filter(original_key__in=originals).exclude(owner_id=account_id)
        kept = {row.original_key for row in shared}
        keys = [key for key in keys if key not in kept]
    if keys:
        await media._media(services).store.delete_many(keys)
    purge(services.purger, asset_keys(rows))


async def _drop_rows(images: list[MediaAsset]) -> bool:
    """Delete the rows of ``images`` once their objects are gone. An image read while its
    protection job ran is deleted only if it is still PROCESSING: if the job published it in
    between, its row (now naming its derivatives) stays and False is returned, so the caller
    reads it again; if the job publishes after this, it finds no row and removes what it wrote
    (``resolvers.jobs``)."""
    waiting = [image.id for image in images if image.status is MediaStatus.PROCESSING]
    await MediaAsset.filter(id__in=[i.id for i in images if i.id not in waiting]).delete()
    if not waiting:
        return True
    await MediaAsset.filter(id__in=waiting, status=MediaStatus.PROCESSING).delete()
    return not await MediaAsset.filter(id__in=waiting).exists()


async def _posts(services: Services, account_id: int, batch: int) -> int:
    """Its posts, newest first, with their images (objects first), tags, attachments,
    revisions, and the others' likes, comments and notifications of them (their foreign keys);
    the posts it replied to lose a reply. Followers' live feeds get a tombstone of each of the
    ``TOMBSTONES`` newest: a live feed shows the newest posts, and a burst of thousands of
    events would overflow every follower's subscription (the older posts read as missing
    anyway)."""
    posts = await Post.filter(author_id=account_id).order_by("-id").limit(batch)
    if not posts:
        return 0
    progress = await AccountDeletion.get_or_none(id=account_id)
    done_before = progress.removed.get("posts", 0) if progress is not None else 0
    announced = posts[: max(0, TOMBSTONES - done_before)]
    ids = [post.id for post in posts]
    images = list(await MediaAsset.filter(post_id__in=ids))
    await _delete_objects(services, account_id, images)
    async with in_transaction():
        if not await _drop_rows(images):
            return len(images)  # an image was published meanwhile: read the batch again
        claimed = await _claim(Post, ids)
        replied = Counter(
            (post.reply_to_id, post.visibility)
            for post in claimed
            if post.reply_to_id is not None and post.reply_to_id not in ids
        )
        for (post_id, visibility), count in replied.items():
            await Post.filter(id=post_id).update(**replies.changes(visibility, -count))
    for post in announced:
        await events.publish(
            services,
            channels.author_posts(account_id),
            events.post_deleted(post.id, account_id, post.visibility),
        )
    return len(ids)


async def _artworks(services: Services, account_id: int, batch: int) -> int:
    """Its artworks with their images (objects first), and what names them (foreign keys)."""
    ids = await _ids(Artwork.filter(owner_id=account_id), batch)
    if not ids:
        return 0
    images = list(await MediaAsset.filter(artwork_id__in=ids))
    await _delete_objects(services, account_id, images)
    async with in_transaction():
        if not await _drop_rows(images):
            return len(images)  # an image was published meanwhile: read the batch again
        await Artwork.filter(id__in=ids).delete()
    return len(ids)


async def _other_images(services: Services, account_id: int, batch: int) -> int:
    """Every other image of the account: its avatars, uploads still staged or refused."""
    images = list(await MediaAsset.filter(owner_id=account_id).order_by("id").limit(batch))
    if not images:
        return 0
    await _delete_objects(services, account_id, images)
    await _drop_rows(images)  # (one published meanwhile is read again by the next batch)
    return len(images)


async def _notifications(services: Services, account_id: int, batch: int) -> int:
    """The notifications it received, and those it caused (a follow, a mention, a reply ...;
    its likes left their groups in ``_likes``)."""
    found = Notification.filter(Q(recipient_id=account_id) | Q(actor_id=account_id))
    ids = await _ids(found, batch)
    if not ids:
        return 0
    return await Notification.filter(id__in=ids).delete()


async def _reports(services: Services, account_id: int, batch: int) -> int:
    """The reports it filed and those filed against it (see the module's docstring)."""
    found = Report.filter(Q(reporter_id=account_id) | Q(subject_owner_id=account_id))
    ids = await _ids(found, batch)
    if not ids:
        return 0
    return await Report.filter(id__in=ids).delete()


async def _account(services: Services, account_id: int, batch: int) -> int:
    """The account's row, and whatever still names it (foreign keys); its cached images are
    purged from the media cache now that their objects are gone."""
    await tokens.revoke_tokens(services, account_id)
    if not await User.filter(id=account_id).delete():
        return 0
    purge(services.purger, [artist_key(account_id)])
    return 1


async def _mail(services: Services, account_id: int, batch: int) -> int:
    """The copies of mail to the account that this server keeps (the ``.eml`` files of the
    embedded default: reset and verification links, with the address). Mail handed to an SMTP
    server is beyond reach."""
    if services.mailer is None:
        return 0
    email = await User.filter(id=account_id).values_list("email", flat=True)
    if not email:
        return 0
    return await services.mailer.forget(str(email[0]), batch)


# The posts go before the follows: a follower's live feed still follows the account, so it
# takes each tombstone.
async def _exports(services: Services, account_id: int, batch: int) -> int:
    """The account's archives (``resolvers.exports``): their objects, then their rows. An
    account has a handful at most, so one run removes them all."""
    return await exports.delete_exports_of(services, account_id)


STEPS: list[Step] = [
    Step("sessions", _sessions),
    Step("posts", _posts),
    Step("artworks", _artworks),
    Step("images", _other_images),
    Step("likes", _likes),
    Step("comments", _comments),
    Step("follows", _follows),
    Step("blocks_mutes", _blocks_and_mutes),
    Step("notifications", _notifications),
    Step("reports", _reports),
    Step("exports", _exports),
    Step("mail", _mail),
    Step("account", _account),
]


def add_step(step: Step, *, before: str = "account") -> None:
    """Add what a feature stores for an account to what its deletion removes (before the
    account's own row by default: the row's foreign keys would take the rows, not the objects)."""
    if any(existing.name == step.name for existing in STEPS):
        raise ValueError(f"a deletion step named {step.name!r} exists")
    names = [existing.name for existing in STEPS]
    STEPS.insert(names.index(before), step)


def _index(name: str) -> int:
    names = [step.name for step in STEPS]
    return names.index(name) if name in names else 0


# --- the mutation ------------------------------------------------------------------------------


async def delete_account(ctx: Context, password: str) -> int:
    """Delete the viewer's account (see the module's docstring); returns its id. The password
    is checked first: a wrong one counts like a failed sign-in."""
    viewer = require_viewer(ctx)
    await ratelimit.check(ctx.services, "login_account", viewer.id)
    right = len(password) <= PASSWORD_MAX and await passwords.verify_password(
        viewer.password_hash, password
    )
    if not right:
        await ratelimit.charge(ctx.services, "login_account", viewer.id)
        raise InputError.single("password", "wrong password", ErrorCode.INVALID_CREDENTIALS)
    asked = True
    try:
        async with in_transaction():
            await AccountDeletion.create(
                id=viewer.id, handle_key=viewer.handle_key, step=STEPS[0].name
            )
            open_reports = cast(
                "list[int]",
                await Report.filter(subject_owner_id=viewer.id, status=ReportStatus.OPEN)
                .order_by("id")
                .values_list("id", flat=True),
            )
            await ModerationAction.create(
                moderator_id=None,
                action=ACCOUNT_DELETED,
                subject_type=SubjectType.USER,
                subject_id=viewer.id,
                subject_owner_id=viewer.id,
                note="deleted by its owner",
                reports=open_reports,
            )
    except IntegrityError:
        asked = False  # a second request raced this one: the first one's job runs it
    # From here the account reads as missing everywhere; its sign-ins end now.
    await tokens.revoke_tokens(ctx.services, viewer.id)
    if asked:
        await hand_over(ctx.services, [viewer.id])
    return int(viewer.id)


async def hand_over(services: Services, account_ids: list[int]) -> None:
    """Queue the deletion jobs of ``account_ids``; when the queue is down they wait for the
    sweep (``requeue``)."""
    queue = media._media(services).queue
    handed: list[int] = []
    for account_id in account_ids:
        try:
            await queue.enqueue(account_id, kind=DELETE_ACCOUNT)
        except QueueUnavailable as error:
            log.warning("deletion of account %d waits for the sweep: %s", account_id, error)
            break
        handed.append(account_id)
    if handed:
        await AccountDeletion.filter(id__in=handed).update(queued_at=datetime.now(UTC))


async def requeue(services: Services, *, everything: bool, stale_after: float) -> int:
    """Hand unfinished deletions to the queue again: those never queued, those whose job has
    shown no progress for ``stale_after`` seconds (lost with a Redis that kept nothing), or with
    ``everything`` all of them (the in-process queue after a restart). A duplicate job finds the
    deletion further on or done."""
    rows = AccountDeletion.filter(state=DeletionState.RUNNING)
    if not everything:
        before = datetime.now(UTC) - timedelta(seconds=stale_after)
        rows = rows.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=before))
    ids = await _ids(rows, 1000)
    await hand_over(services, ids)
    return len(ids)


# --- the job -----------------------------------------------------------------------------------


async def run(services: Services, account_id: int) -> str:
    """Run (or resume) the deletion of ``account_id`` to its end; returns the outcome: deleted,
    or skipped (no such deletion, or already done). Failures of the store or the database are
    raised (the job is retried)."""
    row = await AccountDeletion.get_or_none(id=account_id)
    if row is None or row.state is DeletionState.DONE:
        return "skipped"
    removed: dict[str, int] = dict(row.removed)
    batch = services.deletion_batch
    for step in STEPS[_index(row.step) :]:
        if row.step != step.name:
            row.step = step.name
            await AccountDeletion.filter(id=account_id).update(step=step.name)
        while True:
            count = await step.run(services, account_id, batch)
            if not count:
                break
            removed[step.name] = removed.get(step.name, 0) + count
            # the progress, and a sign of life the sweep reads (queued_at)
            await AccountDeletion.filter(id=account_id).update(
                removed=removed, queued_at=datetime.now(UTC)
            )
    await AccountDeletion.filter(id=account_id).update(
        state=DeletionState.DONE, step=DONE, removed=removed, finished_at=datetime.now(UTC)
    )
    log.info("account %d deleted: %s", account_id, removed)
    return "deleted"


async def deleting(account_id: int) -> bool:
    """Whether the account's deletion was asked (it can no longer sign in)."""
    return await AccountDeletion.exists(id=account_id)


async def handle_reserved(handle_key: str) -> bool:
    """Whether a deleted account had this handle (it stays reserved)."""
    return await AccountDeletion.exists(handle_key=handle_key)
