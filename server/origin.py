"""The origin the site files and the media headers name: ``GESSO_PUBLIC_URL``.

``/.well-known/tdmrep.json``, ``/tdm-policy.json`` and the ``tdm-policy`` header of media
responses hold absolute URLs, and shared caches keep the site files for an hour, so a Host header
written into them would let anyone who can send one plant their own origin there. Production
therefore requires ``GESSO_PUBLIC_URL`` (``server.settings``). Without it (development, tests), a
request's Host is used only when it is a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``,
any port) or the host of an origin in ``GESSO_ALLOWED_ORIGINS`` (that origin is used, scheme
included); any other Host gets ``http://127.0.0.1:<the port the server listens on>``. Falling back
rather than refusing keeps every response well-formed for a developer who reaches the server by
another name, and what it names is still this server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request

from server.settings import Settings

Origin = Callable[[Request], str]

LOOPBACK_HOST = re.compile(r"(?:localhost|127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?", re.IGNORECASE)
FALLBACK_HOST = "127.0.0.1"


def origin_of(settings: Settings) -> Origin:
    """The function giving the origin (``scheme://host[:port]``) links name for a request."""
    public = settings.public_url
    if public is not None:
        return lambda request: public
    configured = {
        urlsplit(origin).netloc.lower(): origin.rstrip("/")
        for origin in settings.allowed_origins
        if urlsplit(origin).scheme in ("http", "https") and urlsplit(origin).netloc
    }

    def origin(request: Request) -> str:
        host = request.headers.get("host", "").lower()
        if host in configured:
            return configured[host]
        loopback = LOOPBACK_HOST.fullmatch(host)
        if loopback is not None and int(loopback.group(1) or 0) <= 65535:
            scheme = "https" if request.url.scheme == "https" else "http"
            return f"{scheme}://{host}"
        server = request.scope.get("server")
        port = server[1] if server and server[1] else settings.port
        return f"http://{FALLBACK_HOST}" if port == 80 else f"http://{FALLBACK_HOST}:{port}"

    return origin
