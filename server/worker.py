"""``gesso worker``: a process that runs jobs from the shared queue (protecting uploads, deleting
accounts).

One job at a time by default (the pipeline runs in a thread of this process, so a worker process
is one core); scale by running more processes (``docker compose up --scale worker=N``). SIGTERM
and SIGINT finish the job in hand and stop; a worker killed outright loses nothing: its job is
handed to another worker after GESSO_JOB_VISIBILITY_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from resolvers import jobs
from resolvers.services import Services
from server.media import create_media_service, create_purger, create_store
from server.settings import Settings, SettingsError
from storage import db, ids
from storage.broker import RedisBroker
from storage.jobs import RedisJobQueue
from storage.purge import HttpPurger

log = logging.getLogger("gesso.worker")


async def run_worker(settings: Settings, *, concurrency: int = 1) -> None:
    """Take jobs until SIGTERM or SIGINT."""
    if settings.redis_url is None or settings.jobs != "redis":
        raise SettingsError(
            "gesso worker takes jobs from Redis: set REDIS_URL (and leave GESSO_JOBS unset or"
            " 'redis'); without it, gesso serve runs the jobs itself"
        )
    ids.configure(settings.worker_id)
    store = create_store(settings)
    media = create_media_service(settings, store)
    assert isinstance(media.queue, RedisJobQueue)
    broker = RedisBroker(
        settings.redis_url, sharded=settings.redis_sharded, cluster=settings.redis_cluster
    )
    # An account deletion purges the cached images of the account (resolvers.leaving).
    purger = create_purger(settings, lambda outcome: None)
    services = Services(
        token_ttl_seconds=settings.token_ttl_seconds,
        broker=broker,
        media=media,
        purger=purger,
        deletion_batch=settings.deletion_batch,
    )
    await db.connect(settings.database_url)
    await broker.start()
    await store.start()
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    worker = jobs.Worker(services, jobs.in_thread, consumer=consumer, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    log.info("worker %s taking jobs from %s", consumer, media.queue.stream)
    try:
        await worker.run()
    finally:
        if isinstance(purger, HttpPurger):
            await purger.drain()
        await media.queue.close()
        await store.close()
        await broker.close()
        await db.close()
