"""Consent to AI training: the policy in force for a stored image.

An artwork's own policy (when set) overrides its artist's default; images of posts and avatars
follow the artist's default. A media URL signs the policy in force when it was made
(``server.signing``), so the API reads it for every image it hands a URL out for, one batched
query a request (``media_policies``); a change makes new URLs from the next response and purges
the cached images (``resolvers.surrogates``).
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.models import MediaAsset, TrainingPolicy


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


async def media_policies(asset_ids: Sequence[int]) -> list[TrainingPolicy | None]:
    """The policy in force for each image, in order; None where there is no such image."""
    rows = await MediaAsset.filter(id__in=list(asset_ids)).values(
        "id", "artwork__ai_training_policy", "owner__ai_training_policy"
    )
    found = {
        row["id"]: effective_policy(
            row["artwork__ai_training_policy"], row["owner__ai_training_policy"]
        )
        for row in rows
    }
    return [found.get(asset_id) for asset_id in asset_ids]


async def media_policy(asset_id: int) -> TrainingPolicy | None:
    """The policy in force for the image ``asset_id``; None when there is no such image."""
    return (await media_policies([asset_id]))[0]
