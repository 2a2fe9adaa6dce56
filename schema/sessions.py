"""Sessions: the viewer's sign-ins."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import sessions
from schema.base import Info, Node, to_global_id
from storage import models


@strawberry.type(description="One sign-in of the viewer's account (a bearer token).")
class Session(Node):
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(
        description="When it was last used, to within five minutes."
    )
    expires_at: datetime
    user_agent: str = strawberry.field(description="What signed in (its User-Agent), or empty.")
    current: bool = strawberry.field(description="Whether this request uses it.")

    @classmethod
    def from_row(cls, row: models.AuthToken, token_hash: str | None) -> Session:
        return cls(
            id=to_global_id("Session", row.id),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            current=row.token_hash == token_hash,
        )


async def viewer_sessions(info: Info) -> list[Session]:
    rows = await sessions.sessions(info.context)
    return [Session.from_row(row, info.context.token_hash) for row in rows]
