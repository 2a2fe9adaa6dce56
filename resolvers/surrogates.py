"""What a shared cache of images knows an image by, and telling it when an image changed.

Every media response names the image's surrogate keys (``asset-<id>``, ``artwork-<id>``,
``artist-<id>``), so a cache in front of ``/media/`` (Varnish's xkey, a CDN's surrogate keys or
cache tags) can drop every object of an image, an artwork or an artist at once. A change that
alters what an image's URL may serve (its training policy, its visibility) or deletes it purges
those keys after the database commit, never inside the transaction: a purge is a message to
another system, and a rolled-back change must not have sent one. A purge that fails is logged and
counted (``Purger``), never failing the change: the URL then still expires on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.models import MediaAsset, TrainingPolicy


def asset_key(asset_id: int) -> str:
    return f"asset-{asset_id}"


def artwork_key(artwork_id: int) -> str:
    return f"artwork-{artwork_id}"


def artist_key(artist_id: int) -> str:
    return f"artist-{artist_id}"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """What a media URL binds besides its object: the image, whose it is, and the training
    policy in force when the URL was made (which decides the response's signals)."""

    asset: int
    artist: int
    artwork: int | None
    policy: TrainingPolicy

    @classmethod
    def of(cls, row: MediaAsset, policy: TrainingPolicy) -> ImageRef:
        return cls(asset=row.id, artist=row.owner_id, artwork=row.artwork_id, policy=policy)

    def surrogate_keys(self) -> tuple[str, ...]:
        keys = [asset_key(self.asset)]
        if self.artwork is not None:
            keys.append(artwork_key(self.artwork))
        keys.append(artist_key(self.artist))
        return tuple(keys)


class Purger(Protocol):
    """Tells the media cache to drop the objects tagged with some surrogate keys."""

    def purge(self, keys: Sequence[str]) -> None:
        """Start purging ``keys``; returns at once (the purge runs in the background)."""


class NoPurger:
    """The embedded default: the process serves every image itself, there is nothing to purge."""

    def purge(self, keys: Sequence[str]) -> None:
        return None


def purge(purger: Purger, keys: Iterable[str]) -> None:
    """Purge ``keys`` (each once) from the media cache; call after the change is committed."""
    unique = tuple(dict.fromkeys(keys))
    if unique:
        purger.purge(unique)


def asset_keys(rows: Iterable[MediaAsset]) -> list[str]:
    return [asset_key(row.id) for row in rows]
