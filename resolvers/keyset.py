"""Keyset reads whose cost follows the page, not the table.

Ids rise with time, so the primary key is perfectly correlated with the table's order, and
PostgreSQL prices a backward walk of it, filtering each row, below a walk of the index made for
the read whenever most rows seem to pass. For a read that few rows pass (an artist's public
posts when nearly all are private, the followers of an account whose rows are old), that walk
reads the whole table. So a page is read in two steps (``by_index``): the keys of the page from
a covering index (an index-only scan: ``(author_id, visibility, id)`` holds every column the
conditions and the order name), then the rows by primary key. A visibility rule that lets
several visibilities through is read once per visibility and merged (``merged``): one ordered
index range each, so each statement reads at most a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tortoise.expressions import Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from storage.models import Visibility

M = TypeVar("M", bound=Model)


def by_index(query: QuerySet[M], ordering: Sequence[str], limit: int) -> QuerySet[M]:
    """The rows of ``query`` in ``ordering``, at most ``limit``: their ids first, then the rows."""
    ids = query.order_by(*ordering).limit(limit).values("id")
    return query.model.filter(id__in=Subquery(ids)).order_by(*ordering)


def per_visibility(visible: Sequence[Visibility]) -> list[Visibility | None]:
    """The visibilities to read apart (from a rule: ``access.visible_to_viewer``); one read with
    no filter (None) when every visibility passes, none when none does."""
    if set(visible) == set(Visibility):
        return [None]
    return [visibility for visibility in Visibility if visibility in visible]


def by_visibility(
    query: QuerySet[M], visible: Sequence[Visibility], ordering: Sequence[str], limit: int
) -> list[QuerySet[M]]:
    """``by_index`` once per visibility of ``visible`` (a rule's: ``access.visible_to_viewer``)
    that ``query``'s rows may have (their ``visibility`` field), to be ``merged``."""
    return [
        by_index(
            query if visibility is None else query.filter(visibility=visibility), ordering, limit
        )
        for visibility in per_visibility(visible)
    ]


async def merged(
    queries: Sequence[QuerySet[M]], key: Callable[[M], Any], limit: int, *, descending: bool
) -> list[M]:
    """The first ``limit`` rows, in ``key`` order, of ``queries`` (each already in that order
    and limited to ``limit``)."""
    if len(queries) <= 1:
        return list(await queries[0]) if queries else []
    rows: list[M] = []
    for query in queries:
        rows.extend(await query)
    rows.sort(key=key, reverse=descending)
    return rows[:limit]
