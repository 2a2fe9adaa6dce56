"""An artist's post and artwork counters, by visibility, and what of them a viewer may see.

``users.post_count`` counts every post of the account, ``public_post_count`` and
``followers_post_count`` those of that visibility (the private ones are the rest); the same for
artworks. The counters change in the transaction that adds, removes or re-labels a work.
"""

from __future__ import annotations

from typing import Any, Literal

from tortoise.expressions import F

from resolvers.access import visible_unless_follows
from resolvers.rules import VISIBLE
from storage.models import User, Visibility

Kind = Literal["post", "artwork"]


def _column(kind: Kind, visibility: Visibility | None) -> str:
    return f"{kind}_count" if visibility is None else f"{visibility.value}_{kind}_count"


def changes(kind: Kind, visibility: Visibility, delta: int) -> dict[str, Any]:
    """``User.filter(...).update(**changes(...))``: ``delta`` works of ``visibility`` more."""
    columns = [_column(kind, None)]
    if visibility is not Visibility.PRIVATE:
        columns.append(_column(kind, visibility))
    return {column: F(column) + delta for column in columns}


def moved(kind: Kind, before: Visibility, after: Visibility) -> dict[str, Any]:
    """The changes for one work re-labelled from ``before`` to ``after`` (its total stays)."""
    out: dict[str, Any] = {}
    if before is not Visibility.PRIVATE:
        out[_column(kind, before)] = F(_column(kind, before)) - 1
    if after is not Visibility.PRIVATE:
        out[_column(kind, after)] = F(_column(kind, after)) + 1
    return out


def by_visibility(kind: Kind, row: Any) -> dict[Visibility, int]:
    """The counts of a user row (a model or a dict of its columns) by visibility."""

    def get(column: str) -> int:
        return int(row[column] if isinstance(row, dict) else getattr(row, column))

    public = get(_column(kind, Visibility.PUBLIC))
    followers = get(_column(kind, Visibility.FOLLOWERS))
    return {
        Visibility.PUBLIC: public,
        Visibility.FOLLOWERS: followers,
        Visibility.PRIVATE: get(_column(kind, None)) - public - followers,
    }


def columns(kind: Kind) -> tuple[str, ...]:
    """The user columns ``by_visibility`` reads."""
    return (
        _column(kind, None),
        _column(kind, Visibility.PUBLIC),
        _column(kind, Visibility.FOLLOWERS),
    )


def visible(
    viewer_id: int | None, owner_id: int, counts: dict[Visibility, int], follows: bool | None
) -> int | None:
    """How many of ``owner_id``'s ``counts`` the viewer may see; None when that depends on
    whether the viewer follows the owner and ``follows`` is None (not known yet). A member an
    exclusion hides is never shown (they read as missing), so the owner counts as not hidden."""
    total = 0
    for visibility, count in counts.items():
        if not count:
            continue
        seen = visible_unless_follows(viewer_id, owner_id, visibility)
        if seen is None:
            if follows is None and viewer_id is not None:
                return None
            # an anonymous viewer follows no one
            seen = VISIBLE.allows(
                viewer_id, owner_id, visibility, follows=bool(follows), hidden=False
            )
        total += count if seen else 0
    return total


def apply(user: User, kind: Kind, visibility: Visibility, delta: int) -> None:
    """``changes`` on a row already in memory."""
    for column in changes(kind, visibility, delta):
        setattr(user, column, getattr(user, column) + delta)
