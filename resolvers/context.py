"""The per-request context every resolver receives (``info.context``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from resolvers.loaders import Loaders
from storage.models import User


@dataclass(frozen=True, slots=True)
class Services:
    """Process-wide configuration and services the resolvers need; built once at start-up."""

    token_ttl_seconds: int


@dataclass(slots=True)
class Context:
    services: Services
    viewer: User | None = None
    # sha256 of the bearer token that authenticated this request (so logOut can revoke it).
    token_hash: str | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.viewer.id if self.viewer is not None else None)

    @property
    def viewer_id(self) -> int | None:
        return self.viewer.id if self.viewer is not None else None
