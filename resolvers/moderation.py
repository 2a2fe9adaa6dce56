"""Moderation: the queue of reports, the actions moderators take, the audit log, suspensions.

Roles: a ``MEMBER`` reports; a ``MODERATOR`` reads the queue and resolves reports; an ``ADMIN``
does what a moderator does and reads the audit log. Roles are granted from the command line
(``gesso admin grant HANDLE moderator``), never through the API. Every action lands in the audit
log (``ModerationAction``), and every reporter of a resolved subject is told the outcome
(``report_outcome``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.functions import Min

from resolvers import inbox, sensitive, tokens
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, InputError, PermissionDenied
from resolvers.pagination import CursorFn, Page, decode_cursor, page_size, paginate
from resolvers.portfolio import remove_artwork
from resolvers.posts import remove_post
from resolvers.services import Services
from resolvers.social import remove_comment
from resolvers.validation import check_length, clean_text, raise_if_any
from storage.db import in_transaction
from storage.models import (
    Artwork,
    Comment,
    ModerationAction,
    NotificationKind,
    Post,
    Report,
    ReportReason,
    ReportStatus,
    Role,
    SubjectType,
    User,
)

NOTE_MAX = 1000
MODERATORS = frozenset({Role.MODERATOR, Role.ADMIN})


class Action(enum.StrEnum):
    """What a moderator does about a subject (``resolveReport``), and the other entries of the
    audit log."""

    DISMISS = "dismiss"
    REMOVE_CONTENT = "remove_content"
    LABEL_AI_GENERATED = "label_ai_generated"
    MARK_SENSITIVE = "mark_sensitive"
    SUSPEND_ACCOUNT = "suspend_account"
    # not resolutions of a report
    UNSUSPEND_ACCOUNT = "unsuspend_account"
    CLEAR_AI_LABEL = "clear_ai_label"
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"


RESOLUTIONS = (
    Action.DISMISS,
    Action.REMOVE_CONTENT,
    Action.LABEL_AI_GENERATED,
    Action.MARK_SENSITIVE,
    Action.SUSPEND_ACCOUNT,
)

case_cursor: CursorFn[Any] = CursorFn("case", "first_id")
log_cursor: CursorFn[ModerationAction] = CursorFn("log", "id")


def require_moderator(ctx: Context) -> User:
    viewer = require_viewer(ctx)
    if viewer.role not in MODERATORS:
        raise PermissionDenied("only moderators may do this")
    return viewer


def require_admin(ctx: Context) -> User:
    viewer = require_viewer(ctx)
    if viewer.role is not Role.ADMIN:
        raise PermissionDenied("only admins may do this")
    return viewer


# --- the queue -------------------------------------------------------------------------------


@dataclass(slots=True)
class Case:
    """The reports of one subject, oldest first."""

    subject_type: SubjectType
    subject_id: int
    first_id: int
    reports: list[Report] = field(default_factory=list)


async def queue(
    ctx: Context,
    *,
    status: ReportStatus,
    reason: ReportReason | None,
    first: int | None,
    after: str | None,
) -> Page[Case]:
    """Reports of ``status`` (and ``reason``) grouped by subject, the subject first reported
    first."""
    require_moderator(ctx)
    size = page_size(first)
    reports = Report.filter(status=status)
    if reason is not None:
        reports = reports.filter(reason=reason)
    grouped = (
        reports.annotate(first_id=Min("id"))
        .group_by("subject_type", "subject_id")
        .order_by("first_id")
    )
    if after is not None:
        (last_id,) = decode_cursor("case", after)
        grouped = grouped.filter(first_id__gt=last_id)
    rows = await grouped.limit(size + 1).values("subject_type", "subject_id", "first_id")
    cases = [
        Case(SubjectType(row["subject_type"]), int(row["subject_id"]), int(row["first_id"]))
        for row in rows
    ]
    if cases:
        by_subject = {(case.subject_type, case.subject_id): case for case in cases}
        found = await reports.filter(subject_id__in=[c.subject_id for c in cases]).order_by("id")
        for report in found:
            case = by_subject.get((report.subject_type, report.subject_id))
            if case is not None:
                case.reports.append(report)
    return paginate(cases, size, case_cursor)


async def subject_row(subject_type: SubjectType, subject_id: int) -> Any:
    """The subject's row as moderators see it (whatever its visibility), None when gone."""
    model: Any = {
        SubjectType.USER: User,
        SubjectType.POST: Post,
        SubjectType.ARTWORK: Artwork,
        SubjectType.COMMENT: Comment,
    }[subject_type]
    return await model.get_or_none(id=subject_id)


# --- resolving -------------------------------------------------------------------------------


def _note(note: str) -> str:
    note = clean_text(note)
    raise_if_any([check_length("note", note, high=NOTE_MAX)])
    return note


async def resolve(ctx: Context, report_id: int, action: Action, note: str) -> Report:
    """Take ``action`` on the subject of an open report and resolve every open report of that
    subject with it; the audit log keeps the action and each reporter is told the outcome."""
    moderator = require_moderator(ctx)
    note = _note(note)
    if action not in RESOLUTIONS:
        raise InputError.single("action", "not a resolution of a report", ErrorCode.INVALID)
    report = await Report.get_or_none(id=report_id)
    if report is None:
        raise InputError.single("id", "no such report", ErrorCode.NOT_FOUND)
    if report.status is not ReportStatus.OPEN:
        raise InputError.single("id", "this report is resolved already", ErrorCode.INVALID)
    subject = await subject_row(report.subject_type, report.subject_id)
    if subject is None and action is not Action.DISMISS:
        raise InputError.single("id", "its subject is gone: dismiss it", ErrorCode.INVALID)
    await _act(ctx.services, subject, report.subject_type, action)
    now = datetime.now(UTC)
    async with in_transaction():
        resolved = await Report.filter(
            subject_type=report.subject_type,
            subject_id=report.subject_id,
            status=ReportStatus.OPEN,
        ).order_by("id")
        await Report.filter(id__in=[r.id for r in resolved]).update(
            status=ReportStatus.RESOLVED, open_key=None, action=action.value, resolved_at=now
        )
        await audit(
            moderator.id,
            action,
            report.subject_type,
            report.subject_id,
            report.subject_owner_id,
            note,
            [r.id for r in resolved],
        )
    for row in resolved:
        await report_outcome(ctx.services, row, action)
    return await Report.get(id=report_id)


async def _act(services: Services, subject: Any, kind: SubjectType, action: Action) -> None:
    if action is Action.DISMISS:
        return
    if action is Action.SUSPEND_ACCOUNT:
        owner = subject.id if kind is SubjectType.USER else _owner_of(subject)
        await suspend(services, owner)
        return
    if kind is SubjectType.USER:
        raise InputError.single(
            "action", "an account is suspended, not removed or labelled", ErrorCode.INVALID
        )
    if action is Action.REMOVE_CONTENT:
        if isinstance(subject, Post):
            await remove_post(services, subject)
        elif isinstance(subject, Artwork):
            await remove_artwork(services, subject)
        else:
            await remove_comment(subject)
        return
    if isinstance(subject, Comment):
        raise InputError.single(
            "action", "a comment has no images to label: remove it", ErrorCode.INVALID
        )
    if action is Action.LABEL_AI_GENERATED:
        await set_ai_label(subject, labelled=True)
    elif action is Action.MARK_SENSITIVE:
        async with in_transaction():
            await type(subject).filter(id=subject.id).update(sensitive=True)
            await sensitive.set_sensitive(subject, True)


def _owner_of(subject: Any) -> int:
    if isinstance(subject, Artwork):
        return subject.owner_id
    return int(subject.author_id)


async def set_ai_label(subject: Post | Artwork, *, labelled: bool) -> None:
    await type(subject).filter(id=subject.id).update(ai_generated=labelled)


async def audit(
    moderator_id: int | None,
    action: Action,
    subject_type: SubjectType,
    subject_id: int,
    subject_owner_id: int | None,
    note: str,
    reports: list[int] | None = None,
) -> ModerationAction:
    """One entry of the audit log."""
    return await ModerationAction.create(
        moderator_id=moderator_id,
        action=action.value,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_owner_id=subject_owner_id,
        note=note,
        reports=reports or [],
    )


# What a reporter is told, by the action that resolved their report (never who did it).
_OUTCOMES = {
    Action.DISMISS: "Your report was reviewed; no action was taken.",
    Action.REMOVE_CONTENT: "Your report was reviewed; the content was removed.",
    Action.LABEL_AI_GENERATED: "Your report was reviewed; the work is now labelled AI-generated.",
    Action.MARK_SENSITIVE: "Your report was reviewed; the work is now marked sensitive.",
    Action.SUSPEND_ACCOUNT: "Your report was reviewed; the account was suspended.",
}


async def report_outcome(services: Services, report: Report, action: Action) -> None:
    """Tell the reporter how their report was resolved: a notification of their inbox with the
    report and the action, from the platform (never the moderator)."""
    await inbox.notify(
        services,
        report.reporter_id,
        NotificationKind.REPORT_RESOLVED,
        message=_OUTCOMES.get(action, "Your report was reviewed."),
        report_id=report.id,
        outcome=action.value,
    )


# --- suspensions -----------------------------------------------------------------------------


async def suspend(services: Services, user_id: int) -> None:
    """The account cannot sign in, its sockets close (its tokens are revoked) and its things
    are hidden from everyone (``rules.SUSPENDED``) until it is unsuspended."""
    await User.filter(id=user_id, suspended_at__isnull=True).update(suspended_at=datetime.now(UTC))
    await tokens.revoke_tokens(services, user_id)


async def unsuspend_user(ctx: Context, user_id: int, note: str) -> User:
    moderator = require_moderator(ctx)
    note = _note(note)
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise InputError.single("userId", "no such user", ErrorCode.NOT_FOUND)
    if user.suspended_at is None:
        raise InputError.single("userId", "this account is not suspended", ErrorCode.INVALID)
    async with in_transaction():
        await User.filter(id=user_id).update(suspended_at=None)
        await audit(
            moderator.id, Action.UNSUSPEND_ACCOUNT, SubjectType.USER, user_id, user_id, note
        )
    user.suspended_at = None
    return user


async def set_ai_generated(
    ctx: Context, subject_type: SubjectType, subject_id: int, labelled: bool, note: str
) -> Post | Artwork:
    """A moderator sets or clears the AI-generated label of a post or an artwork."""
    moderator = require_moderator(ctx)
    note = _note(note)
    subject = await subject_row(subject_type, subject_id)
    if not isinstance(subject, Post | Artwork):
        raise InputError.single("subjectId", "no such post or artwork", ErrorCode.NOT_FOUND)
    action = Action.LABEL_AI_GENERATED if labelled else Action.CLEAR_AI_LABEL
    async with in_transaction():
        await set_ai_label(subject, labelled=labelled)
        await audit(moderator.id, action, subject_type, subject_id, _owner_of(subject), note)
    subject.ai_generated = labelled
    return subject


# --- roles and the log -----------------------------------------------------------------------


async def set_role(handle: str, role: Role, *, granted: bool) -> User:
    """``gesso admin grant|revoke``: give ``role`` to the account, or take it back (it becomes
    a member). Audited without a moderator."""
    user = await User.get_or_none(handle_key=handle.strip().lower())
    if user is None:
        raise InputError.single("handle", f"no account @{handle}", ErrorCode.NOT_FOUND)
    if not granted and user.role is not role:
        raise InputError.single("role", f"@{user.handle} is not a {role.value}", ErrorCode.INVALID)
    new = role if granted else Role.MEMBER
    async with in_transaction():
        await User.filter(id=user.id).update(role=new)
        await audit(
            None,
            Action.GRANT_ROLE if granted else Action.REVOKE_ROLE,
            SubjectType.USER,
            user.id,
            user.id,
            role.value,
        )
    user.role = new
    return user


async def log(ctx: Context, *, first: int | None, after: str | None) -> Page[ModerationAction]:
    """The audit log, newest first (admins only)."""
    require_admin(ctx)
    size = page_size(first)
    query = ModerationAction.all()
    if after is not None:
        (last_id,) = decode_cursor("log", after)
        query = query.filter(id__lt=last_id)
    rows = await query.order_by("-id").limit(size + 1)
    return paginate(rows, size, log_cursor)
