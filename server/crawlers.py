"""Known AI crawlers: the list (``ai_crawlers.txt``), matching a User-Agent, and refusing them.

The list feeds both ``/robots.txt`` (a polite request) and the refusal below (for crawlers that
announce themselves but do not ask robots.txt first). A crawler that lies about its User-Agent is
not stopped here; signed media URLs and rate limits are what slow it down.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

DATA_FILE = "ai_crawlers.txt"


def parse_crawlers(text: str) -> tuple[str, ...]:
    """The tokens of a crawler list: one a line, ``#`` comments and blank lines skipped.

    Raises ``ValueError`` for a token with characters a User-Agent product token cannot hold.
    """
    tokens: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if not token.isascii() or not token.isprintable() or ":" in token:
            raise ValueError(f"{DATA_FILE} line {number}: not a User-Agent token: {token!r}")
        tokens.append(token)
    return tuple(dict.fromkeys(tokens))


@cache
def known_crawlers() -> tuple[str, ...]:
    text = resources.files("server").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_crawlers(text)


@cache
def _lowered() -> tuple[tuple[str, str], ...]:
    return tuple((token.lower(), token) for token in known_crawlers())


def ai_crawler(user_agent: str | None) -> str | None:
    """The known AI crawler a User-Agent announces (its token), or None."""
    if not user_agent:
        return None
    lowered = user_agent.lower()
    for needle, token in _lowered():
        if needle in lowered:
            return token
    return None


def refusal_body(crawler: str) -> bytes:
    message = f"{crawler} is an AI crawler; this site does not consent to AI training"
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": "AI_CRAWLER"}}]})


class RefuseAICrawlers:
    """ASGI middleware: HTTP requests from a known AI crawler get 403 (websockets are closed)."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        crawler = ai_crawler(Headers(scope=scope).get("user-agent"))
        if crawler is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": "AI crawler"})
            return
        body = refusal_body(crawler)
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
