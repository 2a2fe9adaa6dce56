"""Consent to AI training: the policy in force for a stored image.

An artwork's own policy (when set) overrides its artist's default; images of posts and avatars
follow the artist's default. A media URL signs the policy in force when it was made
(``server.signing``), so the API reads it for every image it hands a URL out for, one batched
query a request (``media_policies``); a change makes new URLs from the next response and purges
the cached images (``resolvers.surrogates``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from storage import rawsql
from storage.models import MediaAsset, TrainingPolicy

# What decides the policy of the images ``m`` (media_assets) of a statement: these columns, read
# through these joins, then ``policy_of`` the row.
POLICY_COLUMNS = "a.ai_training_policy AS artwork_policy, u.ai_training_policy AS owner_policy"
POLICY_JOINS = "LEFT JOIN users u ON u.id = m.owner_id LEFT JOIN artworks a ON a.id = m.artwork_id"
_POLICIES_SQL = (
    f"SELECT m.id, {POLICY_COLUMNS} FROM media_assets m {POLICY_JOINS}"  # noqa: S608
    " WHERE m.id = ANY($1::bigint[])"
)


def policy_without_artist(artwork: str | None) -> TrainingPolicy | None:
    """The policy in force when the artwork's own policy decides it; None when it is the
    artist's default that does."""
    return None if artwork is None else _policy(artwork)


def effective_policy(artwork: str | None, artist: str | None) -> TrainingPolicy:
    """The policy in force given an artwork override and an artist default (either may be
    missing); anything unknown counts as DISALLOWED, never the other way round."""
    found = policy_without_artist(artwork)
    if found is None:
        found = TrainingPolicy.DISALLOWED if artist is None else _policy(artist)
    return found


def _policy(value: str) -> TrainingPolicy:
    try:
        return TrainingPolicy(value)
    except ValueError:
        return TrainingPolicy.DISALLOWED


def policy_of(row: Mapping[str, Any]) -> TrainingPolicy:
    """The policy in force for an image read with ``POLICY_COLUMNS``."""
    return effective_policy(row["artwork_policy"], row["owner_policy"])


async def media_policies(asset_ids: Sequence[int]) -> list[TrainingPolicy | None]:
    """The policy in force for each image, in order; None where there is no such image."""
    async with rawsql.reader(MediaAsset) as reader:
        rows = await reader.fetch(_POLICIES_SQL, list(asset_ids))
    found = {row["id"]: policy_of(row) for row in rows}
    return [found.get(asset_id) for asset_id in asset_ids]


async def media_policy(asset_id: int) -> TrainingPolicy | None:
    """The policy in force for the image ``asset_id``; None when there is no such image."""
    return (await media_policies([asset_id]))[0]
