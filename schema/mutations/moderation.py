"""Moderation: resolving reports, suspensions, the AI-generated label. Moderators only (anyone
else gets FORBIDDEN); every action lands in the audit log."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import moderation, reports
from resolvers.moderation import Action
from schema.base import Info, IsAuthenticated, Node, UserError, decode_id, parse_global_id
from schema.moderation import Report, subject_node
from schema.mutations.common import attempt, user_or_none
from schema.types import User


@strawberry.type
class ResolveReportPayload:
    report: Report | None
    errors: list[UserError]


@strawberry.type
class UnsuspendPayload:
    user: User | None
    errors: list[UserError]


@strawberry.type
class SetAiGeneratedPayload:
    subject: Node | None = strawberry.field(description="The Post or Artwork.")
    errors: list[UserError]


@strawberry.type
class ModerationMutations:
    @strawberry.mutation(
        description=(
            "Moderators: act on the subject of an open report (DISMISS, REMOVE_CONTENT, "
            "LABEL_AI_GENERATED, MARK_SENSITIVE, SUSPEND_ACCOUNT); every open report of that "
            "subject is resolved with it and each reporter is notified."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def resolve_report(
        self, info: Info, id: strawberry.ID, action: Action, note: str = ""
    ) -> ResolveReportPayload:
        moderation.require_moderator(info.context)
        row, errors = await attempt(
            lambda: moderation.resolve(info.context, decode_id(id, "id", "Report"), action, note)
        )
        return ResolveReportPayload(report=Report.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Moderators: lift a suspension (the account's things show again).",
        permission_classes=[IsAuthenticated],
    )
    async def unsuspend_user(
        self, info: Info, user_id: strawberry.ID, note: str = ""
    ) -> UnsuspendPayload:
        moderation.require_moderator(info.context)
        row, errors = await attempt(
            lambda: moderation.unsuspend_user(
                info.context, decode_id(user_id, "userId", "User"), note
            )
        )
        return UnsuspendPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(
        description="Moderators: set or clear the AI-generated label of a post or an artwork.",
        permission_classes=[IsAuthenticated],
    )
    async def set_ai_generated(
        self, info: Info, subject_id: strawberry.ID, ai_generated: bool, note: str = ""
    ) -> SetAiGeneratedPayload:
        moderation.require_moderator(info.context)

        async def run() -> Any:
            kind, pk = parse_global_id(subject_id, "subjectId", "Post", "Artwork")
            subject_type = reports.SUBJECT_TYPES[kind]
            row = await moderation.set_ai_generated(
                info.context, subject_type, pk, ai_generated, note
            )
            return subject_node(subject_type, row)

        node, errors = await attempt(run)
        return SetAiGeneratedPayload(subject=node, errors=errors)
