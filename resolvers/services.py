"""The process-wide services every resolver is given (``Context.services``), built once at
start-up; ``resolvers.context`` holds what belongs to one request.

Nearly a leaf: of the resolvers it imports only ``observer`` and ``surrogates``, so any resolver
module may name these types without importing itself back (``tests/test_layers.py``)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from resolvers.observer import NullObserver, Observer
from resolvers.surrogates import ImageRef, NoPurger, Purger
from storage.broker import Broker, InProcessBroker
from storage.mail import Mailer
from storage.persisted import PersistedQueries
from storage.replica import RecentWrites

if TYPE_CHECKING:
    from imaging.provenance import SigningCredentials
    from storage.objects import ObjectStore


class RateLimiter(Protocol):
    """What the resolvers ask of the rate limiter (``resolvers.ratelimit.Limiter``), named here
    so that Services needs nothing from the module that charges limits through it."""

    async def charge(self, name: str, subject: str | int, cost: int = 1) -> None: ...


@dataclass
class MediaService:
    """What uploads need: the store, the keys and the worker pool (made on first use)."""

    store: ObjectStore
    watermark_key: bytes
    cloak_keys: Callable[[int], bytes]  # the cloak key of an artist
    intensity: str = "default"
    workers: int = 1
    keep_originals: bool = False
    # C2PA content credentials for the JPEG derivatives (None: not signed).
    c2pa: SigningCredentials | None = None
    _pool: Executor | None = field(default=None, init=False, repr=False)

    def pool(self) -> Executor:
        if self._pool is None:
            # spawn: the server process holds threads (database driver) that fork would copy
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _no_media_urls(key: str, image: ImageRef) -> str:
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
    # The URL a client fetches a stored object from: (object key, the image and its policy) ->
    # a signed, expiring URL (server.signing); the server sets it up, so without it no URL can
    # be made.
    media_url: Callable[[str, ImageRef], str] = field(default=_no_media_urls)
    # Drops an image's objects from the media cache after a change (server.purge); by default
    # there is no cache to tell.
    purger: Purger = field(default_factory=NoPurger)
    upload_max_bytes: int = 30 * 1024 * 1024
    # Where operations and pipeline runs are measured (server.metrics in the app).
    observer: Observer = field(default_factory=NullObserver)
    # With a read replica: who wrote recently, so their reads stay on the primary (else None).
    recent_writes: RecentWrites | None = None
    # Rate limits (write limits and sign-in throttles are charged by resolvers); None: no limits.
    limiter: RateLimiter | None = None
    # Automatic persisted queries and the allowlist (schema.persisted); None: not offered.
    persisted: PersistedQueries | None = None
    # Outgoing mail (storage.mail); None: mail is not set up, and nothing is sent.
    mailer: Mailer | None = None
    mail_from: str = "Gesso <no-reply@gesso.invalid>"
    # The origin members reach the site at, for links in mails (None: the mails give codes).
    public_url: str | None = None
