"""How many replies to a post the viewer may see.

``posts.reply_count`` counts every reply of a post and ``public_reply_count`` the public ones;
both change in the transaction that adds or removes a reply. Everyone sees the public replies.
The others (followers-only and private replies, by anyone) are counted for the viewer with the
visibility rule of ``resolvers.rules``: in one statement for a page of posts, and only for the
posts that have such replies. Most posts have none, and an anonymous viewer sees none, so most
pages cost no statement more than before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from tortoise.expressions import F
from tortoise.functions import Count

from resolvers.rules import VISIBLE
from storage.models import Post, Visibility

_NOT_PUBLIC = tuple(v for v in Visibility if v is not Visibility.PUBLIC)
_SOMEONE_ELSE = 0  # no account has id 0


def changes(visibility: Visibility, delta: int) -> dict[str, Any]:
    """``Post.filter(id=replied_to).update(**changes(...))``: ``delta`` replies of
    ``visibility`` more."""
    out: dict[str, Any] = {"reply_count": F("reply_count") + delta}
    if visibility is Visibility.PUBLIC:
        out["public_reply_count"] = F("public_reply_count") + delta
    return out


def beyond_public(total: int, public: int) -> bool:
    """Whether a post with these counters has replies that are not public: then how many of
    them a viewer may see depends on the viewer."""
    return total != public


def _sees_only_public(viewer_id: int | None) -> bool:
    """Whether the viewer may see nobody's non-public posts (an anonymous viewer writes none)."""
    return viewer_id is None and all(
        VISIBLE.decide(None, _SOMEONE_ELSE, v) is False for v in _NOT_PUBLIC
    )


async def seen_beyond_public(viewer_id: int | None, post_ids: Sequence[int]) -> list[int]:
    """For each post (in key order), how many of its non-public replies the viewer may see."""
    if not post_ids or _sees_only_public(viewer_id):
        return [0] * len(post_ids)
    seen = VISIBLE.to_q(viewer_id, owner="author_id", visibility="visibility")
    rows = await (
        Post.filter(seen, reply_to_id__in=list(post_ids), visibility__in=_NOT_PUBLIC)
        .annotate(replies=Count("id"))
        .group_by("reply_to_id")
        .values_list("reply_to_id", "replies")
    )
    found = {int(post_id): int(n) for post_id, n in cast("list[tuple[int, int]]", rows)}
    return [found.get(post_id, 0) for post_id in post_ids]
