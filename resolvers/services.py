"""The process-wide services every resolver is given (``Context.services``), built once at
start-up; ``resolvers.context`` holds what belongs to one request.

Nearly a leaf: of the resolvers it imports only ``observer`` and ``surrogates``, so any resolver
module may name these types without importing itself back (``tests/test_layers.py``)."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from resolvers.observer import NullObserver, Observer
from resolvers.surrogates import ImageRef, NoPurger, Purger
from storage.broker import Broker, InProcessBroker
from storage.jobs import InProcessJobQueue, JobQueue
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


# Set in each pool process by ``MediaService.pool``: where a job reports its stages.
_stage_queue: Any = None


def _set_stage_queue(queue: Any) -> None:
    global _stage_queue
    _stage_queue = queue


def report_stage(token: int, stage: str, fraction: float) -> None:
    """Called inside a pool process: tell the parent which stage the job ``token`` reached."""
    if _stage_queue is not None:
        _stage_queue.put((token, stage, fraction))


StageListener = Callable[[str, float], None]


@dataclass
class MediaService:
    """What uploads need: the store, the keys, the job queue and the worker pool (made on first
    use). Jobs running in the pool report their stages through one queue read by one thread,
    which hands each report to the listener registered for its job (``listen``)."""

    store: ObjectStore
    watermark_key: bytes
    cloak_keys: Callable[[int], bytes]  # the cloak key of an artist
    intensity: str = "default"
    workers: int = 1
    keep_originals: bool = False
    # C2PA content credentials for the JPEG derivatives (None: not signed).
    c2pa: SigningCredentials | None = None
    # Where protection jobs go: in this process by default, Redis Streams with REDIS_URL.
    queue: JobQueue = field(default_factory=InProcessJobQueue)
    # The upload mutations answer only once their images are protected or refused
    # (GESSO_UPLOADS_WAIT: for tests and scripts; the images are still protected as jobs).
    wait: bool = False
    # Signs the download URLs of account exports (resolvers.exports), derived from the secret.
    exports_key: bytes = b""
    _pool: Executor | None = field(default=None, init=False, repr=False)
    _stages: Any = field(default=None, init=False, repr=False)
    _listeners: dict[int, tuple[asyncio.AbstractEventLoop, StageListener]] = field(
        default_factory=dict, init=False, repr=False
    )

    def pool(self) -> Executor:
        if self._pool is None:
            # spawn: the server process holds threads (database driver) that fork would copy
            context = multiprocessing.get_context("spawn")
            self._stages = context.SimpleQueue()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_set_stage_queue,
                initargs=(self._stages,),
            )
            threading.Thread(
                target=self._forward_stages, args=(self._stages,), daemon=True, name="stages"
            ).start()
        return self._pool

    def _forward_stages(self, stages: Any) -> None:
        while (report := stages.get()) is not None:
            token, stage, fraction = report
            found = self._listeners.get(token)
            if found is not None:
                loop, listener = found
                loop.call_soon_threadsafe(listener, stage, fraction)

    def listen(self, token: int, listener: StageListener | None) -> None:
        """Hand the stages job ``token`` reports in the pool to ``listener`` (None: stop)."""
        if listener is None:
            self._listeners.pop(token, None)
        else:
            self._listeners[token] = (asyncio.get_running_loop(), listener)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._stages.put(None)


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
    # GESSO_AI_IMAGES: "refuse" or "label" for every generated upload; None: by kind
    # (resolvers.generated)
    ai_images: str | None = None
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
    # Rows an account deletion removes per transaction (resolvers.leaving).
    deletion_batch: int = 200
