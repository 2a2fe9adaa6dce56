"""Rate limits: the named limits, their defaults, and charging them.

Request limits (``ip``, ``account``, ``media``) are charged by the HTTP layer (``server.ratelimit``)
and refuse the whole request with 429. Write limits (per account and hour, in the spirit of
Mastodon's and Pixelfed's) and the sign-in throttles are charged by the resolvers: a write over
its limit is a top-level GraphQL error with ``extensions.code`` ``RATE_LIMITED`` and
``extensions.retryAfter`` (seconds); nothing of it was done. The ``apq`` limit is charged by
``schema.persisted`` when an automatic persisted query would be stored: over it, the document still
runs, unstored.

If the shared store (Redis) is down or hangs, limits are not enforced and the API stays up: a
warning is logged when that starts and another when limits are enforced again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resolvers.errors import GessoError
from storage.ratelimit import Decision, RateLimitStore, RateLimitUnavailable, seconds

if TYPE_CHECKING:
    from resolvers.context import Context
    from resolvers.services import Services

log = logging.getLogger("gesso.ratelimit")


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    window: int  # seconds

    def __str__(self) -> str:
        return f"{self.count}/{self.window}s"


# name -> (default, what is counted); the names are what GESSO_RATE_LIMITS overrides.
DEFAULT_LIMITS: dict[str, tuple[Limit, str]] = {
    "ip": (Limit(600, 300), "API requests per client IP"),
    "account": (Limit(300, 300), "API requests per signed-in account"),
    "media": (Limit(1800, 300), "media responses per client IP"),
    "websocket": (Limit(120, 300), "websocket connections opened per client IP"),
    "login_ip": (Limit(25, 300), "logIn attempts per client IP"),
    "login_account": (Limit(10, 900), "failed logIn attempts per account"),
    "signup": (Limit(10, 1800), "signUp attempts per client IP"),
    "password_reset_ip": (
        Limit(20, 3600),
        "password reset requests, resets and email verifications per client IP",
    ),
    "password_reset_email": (Limit(5, 3600), "password reset requests per email address"),
    "verification": (Limit(5, 3600), "verification mails asked for per account"),
    "post": (Limit(30, 3600), "posts per account"),
    "artwork": (Limit(30, 3600), "artworks per account"),
    "comment": (Limit(120, 3600), "comments per account"),
    "like": (Limit(300, 3600), "likes per account"),
    "follow": (Limit(150, 3600), "follows per account"),
    "report": (Limit(20, 3600), "reports per account"),
    "upload": (Limit(60, 3600), "images uploaded per account"),
    "identify": (
        Limit(60, 3600),
        "identifyImage reads per client IP (each may cost a second of CPU)",
    ),
    "apq": (Limit(100, 3600), "automatic persisted queries stored per client IP"),
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SPEC = re.compile(r"(?P<name>[a-z_]+)=(?P<count>\d{1,9})/(?P<amount>\d{0,6})(?P<unit>[smhd])")


def parse_limits(text: str) -> dict[str, Limit]:
    """``"post=60/1h, login_ip=50/5m"`` -> the limits it sets; ``ValueError`` saying what is
    wrong otherwise (an unknown name, a zero count, a malformed item)."""
    limits: dict[str, Limit] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _SPEC.fullmatch(item.replace(" ", ""))
        if match is None:
            raise ValueError(f"{item!r} is not name=count/duration (e.g. post=30/1h)")
        name = match["name"]
        if name not in DEFAULT_LIMITS:
            raise ValueError(f"unknown limit {name!r}; known: {', '.join(DEFAULT_LIMITS)}")
        count, window = int(match["count"]), int(match["amount"] or 1) * _UNITS[match["unit"]]
        if count < 1 or not 1 <= window <= 7 * 86400:
            raise ValueError(f"{item!r}: the count must be >= 1 and the duration 1s..7d")
        limits[name] = Limit(count, window)
    return limits


class RateLimited(GessoError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.extensions = {"retryAfter": retry_after}


@dataclass
class Limiter:
    store: RateLimitStore
    overrides: Mapping[str, Limit] = field(default_factory=dict)
    enabled: bool = True
    _unavailable: bool = field(default=False, init=False)

    def limit(self, name: str) -> Limit:
        return self.overrides.get(name) or DEFAULT_LIMITS[name][0]

    async def hit(self, name: str, subject: str | int, cost: int = 1) -> Decision | None:
        """Count ``cost`` hits of limit ``name`` for ``subject``; None when limits are off or
        their store is unreachable."""
        if not self.enabled:
            return None
        limit = self.limit(name)
        try:
            decision = await self.store.hit(
                f"{name}:{subject}", limit=limit.count, window=limit.window, cost=cost
            )
        except RateLimitUnavailable as error:
            if not self._unavailable:
                self._unavailable = True
                log.warning("rate limits not enforced, their store is unavailable: %s", error)
            return None
        if self._unavailable:
            self._unavailable = False
            log.warning("rate limits enforced again, their store answers")
        return decision

    async def charge(self, name: str, subject: str | int, cost: int = 1) -> None:
        """Count the hits, or raise ``RateLimited`` (and count nothing) if they do not fit;
        ``cost=0`` only checks that one more would fit."""
        decision = await self.hit(name, subject, cost)
        if decision is not None and not decision.allowed:
            wait = seconds(decision.retry_after)
            what = DEFAULT_LIMITS[name][1]
            raise RateLimited(
                f"too many {what} (at most {self.limit(name)}); try again in {wait} s", wait
            )

    async def forget(self, name: str, subject: str | int) -> None:
        if self.enabled:
            try:
                await self.store.reset(f"{name}:{subject}")
            except RateLimitUnavailable as error:
                log.warning("could not reset a rate limit: %s", error)


async def charge(services: Services, name: str, subject: str | int, cost: int = 1) -> None:
    """Charge a limit if the server has a limiter (tests and tools may run without one)."""
    if services.limiter is not None and cost > 0:
        await services.limiter.charge(name, subject, cost)


async def check(services: Services, name: str, subject: str | int) -> None:
    """Raise ``RateLimited`` if one more hit of ``name`` would not fit; count nothing."""
    if services.limiter is not None:
        await services.limiter.charge(name, subject, cost=0)


def client_ip(ctx: Context) -> str:
    """The address the request came from (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    request: Any = ctx.request
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "unknown")
