"""The per-request context every resolver receives (``info.context``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from resolvers.errors import AuthenticationRequired, InvalidToken
from resolvers.loaders import Loaders
from resolvers.services import Services
from storage.models import User


@dataclass(slots=True)
class Context:
    services: Services
    viewer: User | None = None
    # sha256 of the bearer token that authenticated this request (so logOut can revoke it).
    token_hash: str | None = None
    # The Starlette request or websocket (websocket subscriptions close it on a slow consumer).
    request: Any = None
    # The payload of a websocket's connection_init message.
    connection_params: dict[str, Any] | None = None
    # Closes the websocket of a subscriber that fell too far behind (None over HTTP).
    disconnect: Callable[[str], Awaitable[None]] | None = None
    # Closes the websocket when its token is revoked or expires (resolvers.tokens; None over HTTP).
    end_session: Callable[[InvalidToken], Awaitable[None]] | None = None
    _loaders: Loaders | None = field(default=None, init=False, repr=False)
    _primer: Callable[[Loaders], None] | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """This request's loaders, made on first use (and primed, when a primer is pending)."""
        if self._loaders is None:
            self._loaders = Loaders(self.viewer_id)
            if self._primer is not None:
                self._primer(self._loaders)
                self._primer = None
        return self._loaders

    @property
    def viewer_id(self) -> int | None:
        return self.viewer.id if self.viewer is not None else None

    def sign_in(self, viewer: User, token_hash: str) -> None:
        """Authenticate a websocket connection after its connection_init."""
        self.viewer, self.token_hash = viewer, token_hash
        self.fresh_loaders()

    def fresh_loaders(self, primer: Callable[[Loaders], None] | None = None) -> None:
        """Forget cached rows (a long-lived subscription must not serve stale ones). ``primer``
        fills the next loaders with what an event already carries; it runs only if a resolver
        needs the loaders at all, which a shared execution (``schema.sharing``) does not."""
        self._loaders, self._primer = None, primer


def require_viewer(ctx: Context) -> User:
    if ctx.viewer is None:
        raise AuthenticationRequired()
    return ctx.viewer
