"""Reports and moderation: the types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from resolvers import moderation
from resolvers.moderation import Action
from schema.base import Info, Node, to_global_id
from schema.types import User
from storage import models
from storage.models import ReportReason, ReportStatus, SubjectType

strawberry.enum(ReportReason, description="Why a member reports something.")
strawberry.enum(ReportStatus, description="OPEN until a moderator resolves it.")


@strawberry.type(description="A member's report; the reporter and moderators read it.")
class Report(Node):
    pk: strawberry.Private[int]
    reporter_pk: strawberry.Private[int]
    reason: ReportReason
    note: str
    status: ReportStatus
    created_at: datetime
    action: str | None = strawberry.field(
        description="How a moderator resolved it (a ModerationActionKind), once resolved."
    )

    @classmethod
    def from_row(cls, row: models.Report) -> Report:
        return cls(
            id=to_global_id("Report", row.id),
            pk=row.id,
            reporter_pk=row.reporter_id,
            reason=row.reason,
            note=row.note,
            status=row.status,
            created_at=row.created_at,
            action=row.action.upper() if row.action else None,
        )

    @strawberry.field(description="Who reported it: moderators and the reporter see it.")
    async def reporter(self, info: Info) -> User | None:
        ctx = info.context
        if ctx.viewer is None or not (ctx.viewer_id == self.reporter_pk or is_moderator(ctx)):
            return None
        row = await ctx.loaders.user.load(self.reporter_pk)
        return User.from_row(row) if row is not None else None


def is_moderator(ctx: object) -> bool:
    viewer = getattr(ctx, "viewer", None)
    return viewer is not None and viewer.role in moderation.MODERATORS


strawberry.enum(Action, name="ModerationActionKind", description="What a moderator did.")


@strawberry.type(description="The reports of one subject, the first reported first.")
class ModerationCase:
    subject_type: str = strawberry.field(description="USER, POST, ARTWORK or COMMENT.")
    subject_pk: strawberry.Private[int]
    kind: strawberry.Private[SubjectType]
    reports: list[Report] = strawberry.field(description="Oldest first, with their reporters.")
    first_reported_at: datetime

    @classmethod
    def of(cls, case: moderation.Case) -> ModerationCase:
        return cls(
            subject_type=case.subject_type.name,
            subject_pk=case.subject_id,
            kind=case.subject_type,
            reports=[Report.from_row(r) for r in case.reports],
            first_reported_at=case.reports[0].created_at,
        )

    @strawberry.field(description="Every reason given, once each.")
    def reasons(self) -> list[ReportReason]:
        return list(dict.fromkeys(r.reason for r in self.reports))

    @strawberry.field(
        description="The subject as it is now, whatever its visibility; null when gone."
    )
    async def subject(self, info: Info) -> Node | None:
        row = await moderation.subject_row(self.kind, self.subject_pk)
        if row is None:
            return None
        return subject_node(self.kind, row)


def subject_node(kind: SubjectType, row: Any) -> Node:
    from schema import types

    build: dict[SubjectType, Any] = {
        SubjectType.USER: types.User.from_row,
        SubjectType.POST: types.Post.from_row,
        SubjectType.ARTWORK: types.Artwork.from_row,
        SubjectType.COMMENT: types.Comment.from_row,
    }
    node: Node = build[kind](row)
    return node


@strawberry.type(description="One entry of the audit log.")
class ModerationLogEntry(Node):
    moderator_pk: strawberry.Private[int | None]
    action: Action
    subject_type: str
    subject_id: strawberry.ID
    note: str
    created_at: datetime
    report_ids: list[strawberry.ID]

    @classmethod
    def from_row(cls, row: models.ModerationAction) -> ModerationLogEntry:
        type_name = row.subject_type.name.title()
        return cls(
            id=to_global_id("ModerationLogEntry", row.id),
            moderator_pk=row.moderator_id,
            action=Action(row.action),
            subject_type=row.subject_type.name,
            subject_id=to_global_id(type_name, row.subject_id),
            note=row.note,
            created_at=row.created_at,
            report_ids=[to_global_id("Report", r) for r in row.reports],
        )

    @strawberry.field(description="Null for what was done from the command line.")
    async def moderator(self, info: Info) -> User | None:
        if self.moderator_pk is None:
            return None
        row = await info.context.loaders.user.load(self.moderator_pk)
        return User.from_row(row) if row is not None else None
