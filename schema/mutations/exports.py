"""Leaving with one's work: an archive of the account (exportAccount)."""

from __future__ import annotations

import strawberry

from resolvers import exports
from schema.base import Info, IsAuthenticated, UserError
from schema.exports import AccountExport
from schema.mutations.common import attempt


@strawberry.type
class ExportAccountPayload:
    account_export: AccountExport | None
    errors: list[UserError]


@strawberry.type
class ExportMutations:
    @strawberry.mutation(
        description=(
            "Prepare an archive of the viewer's things in the background: profile, posts (with "
            "their earlier texts), artworks, own comments as JSON, the images and the originals "
            "if kept. An EXPORT_READY notification says when it is ready; then "
            "viewer.accountExport.url serves it once, for 24 hours. One at a time, one per 24 "
            "hours (EXPORT_IN_PROGRESS, EXPORT_TOO_SOON)."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def export_account(self, info: Info) -> ExportAccountPayload:
        row, errors = await attempt(lambda: exports.request_export(info.context))
        return ExportAccountPayload(
            account_export=AccountExport.from_row(row) if row is not None else None, errors=errors
        )
