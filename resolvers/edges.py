"""Idempotent edges (follow, like) with the counters they keep, changed in one transaction."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.models import Model

from storage.db import in_transaction

Counter = tuple[type[Model], int, str]


async def _bump(counters: list[Counter], delta: int) -> None:
    for model, row_id, field in counters:
        await model.filter(id=row_id).update(**{field: F(field) + delta})


async def add_edge(edge: type[Model], keys: dict[str, Any], counters: list[Counter]) -> bool:
    """Create the edge unless it exists; True when this call created it."""
    if await edge.filter(**keys).exists():
        return False
    try:
        async with in_transaction():
            await edge.create(**keys)
            await _bump(counters, +1)
    except IntegrityError:
        return False  # a concurrent request created it first; its counters were bumped there
    return True


async def remove_edge(edge: type[Model], keys: dict[str, Any], counters: list[Counter]) -> bool:
    """Delete the edge if it exists; True when this call deleted it."""
    async with in_transaction():
        deleted: int = await edge.filter(**keys).delete()
        if deleted:
            await _bump(counters, -deleted)
    return bool(deleted)
