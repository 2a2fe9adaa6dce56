"""The per-request context every resolver receives (``info.context``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resolvers.errors import InvalidToken
from resolvers.loaders import Loaders
from resolvers.observer import NullObserver, Observer
from storage.broker import Broker, InProcessBroker
from storage.models import User
from storage.persisted import PersistedQueries
from storage.replica import RecentWrites

if TYPE_CHECKING:
    from resolvers.media import MediaService
    from resolvers.ratelimit import Limiter


def _no_media_urls(key: str, asset_id: int) -> str:
    raise RuntimeError("media URLs are not set up (Services.media_url)")


@dataclass(frozen=True, slots=True)
class Services:
    """Process-wide configuration and services the resolvers need; built once at start-up."""

    token_ttl_seconds: int
    broker: Broker = field(default_factory=InProcessBroker)
    # Events a live subscriber may fall behind before it is disconnected.
    subscriber_inbox: int = 256
    # Protected uploads (object store, keys, worker pool); None where uploads are not set up.
    media: MediaService | None = None
    # The URL a client fetches a stored object from: (object key, media asset id) -> a signed,
    # expiring URL (server.signing); the server sets it up, so without it no URL can be made.
    media_url: Callable[[str, int], str] = field(default=_no_media_urls)
    upload_max_bytes: int = 30 * 1024 * 1024
    # Where operations and pipeline runs are measured (server.metrics in the app).
    observer: Observer = field(default_factory=NullObserver)
    # With a read replica: who wrote recently, so their reads stay on the primary (else None).
    recent_writes: RecentWrites | None = None
    # Rate limits (write limits and sign-in throttles are charged by resolvers); None: no limits.
    limiter: Limiter | None = None
    # Automatic persisted queries and the allowlist (schema.persisted); None: not offered.
    persisted: PersistedQueries | None = None


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
