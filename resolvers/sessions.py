"""Sessions: an account's sign-ins (its bearer tokens) as its owner sees and ends them.

A token remembers when it was last used to the few minutes (``TOUCH_EVERY``): recording every
request would be a write per request, so a token is touched when its mark is older than that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from resolvers import tokens
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, InputError
from resolvers.validation import clean_text
from storage.models import AuthToken

TOUCH_EVERY = timedelta(minutes=5)
SESSIONS_MAX = 100  # the newest sign-ins listed
USER_AGENT_MAX = 255  # auth_tokens.user_agent


def stale(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= TOUCH_EVERY


async def touch(token_hash: str, now: datetime) -> None:
    await AuthToken.filter(token_hash=token_hash).update(last_used_at=now)


def user_agent(ctx: Context) -> str:
    """What signed in, as its ``User-Agent`` header says (empty when unknown)."""
    headers = getattr(ctx.request, "headers", None)
    raw = headers.get("user-agent", "") if headers is not None else ""
    return clean_text(str(raw))[:USER_AGENT_MAX]


async def sessions(ctx: Context) -> list[AuthToken]:
    """The viewer's sign-ins, newest first."""
    viewer = require_viewer(ctx)
    query = AuthToken.filter(user_id=viewer.id).order_by("-id").limit(SESSIONS_MAX)
    return list(await query)


async def revoke_session(ctx: Context, session_id: int) -> int:
    """End one of the viewer's sign-ins (this one too, like logOut); its sockets close."""
    viewer = require_viewer(ctx)
    row = await AuthToken.get_or_none(id=session_id, user_id=viewer.id)
    if row is None:
        raise InputError.single("id", "no such session", ErrorCode.NOT_FOUND)
    await tokens.revoke_tokens(ctx.services, viewer.id, [row.token_hash])
    return session_id
