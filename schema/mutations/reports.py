"""Reports."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import reports
from schema.base import Info, IsAuthenticated, UserError, parse_global_id
from schema.moderation import Report
from schema.mutations.common import attempt
from storage.models import ReportReason


@strawberry.input
class ReportInput:
    subject_id: strawberry.ID = strawberry.field(description="A User, Post, Artwork or Comment id.")
    reason: ReportReason
    note: str = strawberry.field(default="", description="Up to 1,000 characters.")


@strawberry.type
class ReportPayload:
    report: Report | None
    errors: list[UserError]


@strawberry.type
class ReportMutations:
    @strawberry.mutation(
        description=(
            "Report a user, post, artwork or comment to the moderators: one open report per "
            "subject, rate-limited (`report`)."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def report(self, info: Info, input: ReportInput) -> ReportPayload:
        async def run() -> Any:
            kind, pk = parse_global_id(input.subject_id, "subjectId", *reports.SUBJECT_TYPES)
            return await reports.report(
                info.context, reports.SUBJECT_TYPES[kind], pk, input.reason, input.note
            )

        row, errors = await attempt(run)
        return ReportPayload(report=Report.from_row(row) if row else None, errors=errors)
