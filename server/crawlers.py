"""Known AI crawlers: the list (``ai_crawlers.txt``), matching a User-Agent, and refusing them.

The list feeds both ``/robots.txt`` (a polite request) and the refusal below (for crawlers that
announce themselves but do not ask robots.txt first). A crawler that lies about its User-Agent is
not stopped here; signed media URLs and rate limits are what slow it down.

A name matches where it stands as whole tokens of the User-Agent (RFC 9110 ``token``: a product's
name or version, or a word of a comment, where crawlers put it: ``(compatible; GPTBot/1.2;
+https://openai.com/gptbot)``), case-insensitively, never as part of a longer token:
``CCBotanics-App`` is not ``CCBot``. This runs on every request, so the User-Agent is cut into
tokens by one byte translation and looked up in a set; a name of several words is checked with
its own pattern only when its first word is present.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import NamedTuple

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

DATA_FILE = "ai_crawlers.txt"
TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters  # RFC 9110 token characters
_NAME = re.compile(f"[{re.escape(TCHAR)}]+(?: [{re.escape(TCHAR)}]+)*")
# RFC 9309 allows letters, "-" and "_" in a robots.txt product token; digits are kept, as the
# operators name their crawlers with them (AI2Bot, img2dataset).
_ROBOTS_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
# Each byte of a token character to its lower case, every other byte to a space.
_WORDS = bytes(ord(chr(b).lower()) if chr(b) in TCHAR else ord(" ") for b in range(256))


class Crawler(NamedTuple):
    name: str  # as the crawler sends it in its User-Agent
    robots_token: str  # its User-agent line in robots.txt


def parse_crawlers(text: str) -> tuple[Crawler, ...]:
    """The crawlers of a list: one a line, ``name`` or ``name = robots-token``; ``#`` comments
    and blank lines skipped, repeated names dropped.

    Raises ``ValueError`` for a name a User-Agent cannot carry as tokens, or a robots.txt token
    that is not one (a name that is not a robots.txt token must be given one).
    """
    crawlers: dict[str, Crawler] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        name, _, token = (part.strip() for part in entry.partition("="))
        name = " ".join(name.split())
        if not _NAME.fullmatch(name):
            raise ValueError(f"{DATA_FILE} line {number}: not a User-Agent token: {name!r}")
        token = token or name
        if not _ROBOTS_TOKEN.fullmatch(token):
            raise ValueError(
                f"{DATA_FILE} line {number}: {token!r} is not a robots.txt token "
                "(letters, digits, - and _): give one after ' = '"
            )
        crawlers.setdefault(name.lower(), Crawler(name, token))
    return tuple(crawlers.values())


@cache
def known_crawlers() -> tuple[Crawler, ...]:
    text = resources.files("server").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_crawlers(text)


def robots_tokens(crawlers: tuple[Crawler, ...]) -> tuple[str, ...]:
    """The User-agent tokens robots.txt names the crawlers by, each once."""
    return tuple(dict.fromkeys(crawler.robots_token for crawler in crawlers))


@dataclass(frozen=True, slots=True)
class CrawlerMatcher:
    """Finds which of some crawlers a User-Agent names (see the module docstring)."""

    words: dict[bytes, str]  # a one-word name, lower case -> the name
    first_words: frozenset[bytes]  # the first word of each name of several words
    phrases: re.Pattern[str] | None  # the names of several words, as whole tokens
    phrase_names: dict[str, str]  # such a name, lower case, single-spaced -> the name

    @classmethod
    def of(cls, crawlers: tuple[Crawler, ...]) -> CrawlerMatcher:
        names = [crawler.name for crawler in crawlers]
        phrases = [name for name in names if " " in name]
        edge = f"[{re.escape(TCHAR)}]"
        pattern = "|".join(re.escape(name).replace(r"\ ", r"[ \t]+") for name in phrases)
        return cls(
            words={name.lower().encode(): name for name in names if " " not in name},
            first_words=frozenset(name.split()[0].lower().encode() for name in phrases),
            phrases=re.compile(f"(?<!{edge})(?:{pattern})(?!{edge})", re.IGNORECASE)
            if phrases
            else None,
            phrase_names={name.lower(): name for name in phrases},
        )

    def match(self, user_agent: str | bytes) -> str | None:
        raw = (
            user_agent if isinstance(user_agent, bytes) else user_agent.encode("latin-1", "replace")
        )
        words = raw.translate(_WORDS).split()
        for word in words:
            name = self.words.get(word)
            if name is not None:
                return name
        if self.phrases is not None and not self.first_words.isdisjoint(words):
            found = self.phrases.search(raw.decode("latin-1"))
            if found is not None:
                return self.phrase_names[" ".join(found.group().lower().split())]
        return None


@cache
def _matcher() -> CrawlerMatcher:
    return CrawlerMatcher.of(known_crawlers())


def ai_crawler(user_agent: str | bytes | None) -> str | None:
    """The known AI crawler a User-Agent announces (its name in the list), or None."""
    if not user_agent:
        return None
    return _matcher().match(user_agent)


def _user_agent(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"user-agent":
            return bytes(value)
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
        crawler = ai_crawler(_user_agent(scope))
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
