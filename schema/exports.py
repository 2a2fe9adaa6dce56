"""Account exports: the archive of the viewer's things (exportAccount, viewer.accountExport)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import exports
from schema.base import Info, Node, to_global_id
from storage import models
from storage.models import ExportStatus

strawberry.enum(
    ExportStatus,
    description=(
        "Where an archive is: PENDING (being prepared), READY (downloadable once, until "
        "expiresAt), DOWNLOADED, EXPIRED (not downloaded in time) or FAILED (request it again)."
    ),
)


@strawberry.type(
    description=(
        "An archive of the viewer's own things (a zip: profile, posts, artworks, comments as JSON, "
        "the images, the originals if kept). It is downloadable once, from `url`, for 24 hours."
    )
)
class AccountExport(Node):
    pk: strawberry.Private[int]
    status: ExportStatus
    created_at: datetime = strawberry.field(description="When it was requested.")
    ready_at: datetime | None = strawberry.field(description="When it was ready.")
    expires_at: datetime | None = strawberry.field(
        description="Until when it can be downloaded (24 hours after it was ready)."
    )
    downloaded_at: datetime | None
    byte_size: int | None = strawberry.field(description="The archive's size in bytes, once ready.")
    row: strawberry.Private[models.AccountExport]

    @classmethod
    def from_row(cls, row: models.AccountExport) -> AccountExport:
        return cls(
            id=to_global_id("AccountExport", row.id),
            pk=row.id,
            status=row.status,
            created_at=row.created_at,
            ready_at=row.ready_at,
            expires_at=row.expires_at,
            downloaded_at=row.downloaded_at,
            byte_size=row.byte_size,
            row=row,
        )

    @strawberry.field(
        description=(
            "The signed download URL, while READY and not expired: it serves the archive once "
            "(a second download, an expired or altered URL are refused with 410 or 403)."
        )
    )
    def url(self, info: Info) -> str | None:
        return exports.download_url(info.context.services, self.row)


async def viewer_export(info: Info) -> AccountExport | None:
    row = await exports.latest_export(info.context)
    return AccountExport.from_row(row) if row is not None else None
