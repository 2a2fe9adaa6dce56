"""Purging a media cache by surrogate key: ``PURGE`` with an ``xkey`` header, over HTTP.

Varnish with the xkey vmod (``deploy/varnish/default.vcl``) drops every object tagged with any of
the keys. The request is sent in the background, so the change that asked for it is not held up
by the cache; each purge is retried once, and its outcome (``ok`` or ``failed``) is reported to
``on_outcome`` (the server counts it in its metrics) and a failure is logged. A cache that misses
a purge still drops the object when its URL expires.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

log = logging.getLogger("gesso.purge")

TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2
# An HTTP header line is bounded by servers (Varnish: 8 KiB by default); keys go in batches.
KEYS_PER_REQUEST = 200


class PurgeFailed(Exception):
    """The cache did not confirm a purge."""


class HttpPurger:
    """Sends ``PURGE <path>`` with ``xkey: <keys>`` to the cache at ``url``."""

    def __init__(self, url: str, on_outcome: Callable[[str], None] = lambda outcome: None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a purge URL is http(s)://host[:port][/path], got {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.path = parts.path or "/"
        self.netloc = parts.netloc
        self.on_outcome = on_outcome
        self._running: set[asyncio.Task[None]] = set()

    def purge(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), KEYS_PER_REQUEST):
            batch = keys[start : start + KEYS_PER_REQUEST]
            task = asyncio.get_running_loop().create_task(self._purge(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def drain(self) -> None:
        """Wait for the purges under way (at shutdown)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _purge(self, keys: Sequence[str]) -> None:
        error: Exception | None = None
        for _ in range(ATTEMPTS):
            try:
                await asyncio.wait_for(self.send(keys), TIMEOUT_SECONDS)
            except (OSError, TimeoutError, PurgeFailed) as failure:
                error = failure
                continue
            self.on_outcome("ok")
            return
        log.warning("media cache purge of %s failed: %s", " ".join(keys), error)
        self.on_outcome("failed")

    async def send(self, keys: Sequence[str]) -> None:
        """One ``PURGE``; raises ``PurgeFailed`` unless the cache answers 2xx."""
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=ssl.create_default_context() if self.tls else None
        )
        try:
            request = (
                f"PURGE {self.path} HTTP/1.1\r\nHost: {self.netloc}\r\n"
                f"xkey: {' '.join(keys)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode("ascii"))
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
        parts = status_line.split(maxsplit=2)
        if len(parts) < 2 or not parts[1].startswith(b"2"):
            raise PurgeFailed(status_line.decode("latin-1").strip() or "no answer")
