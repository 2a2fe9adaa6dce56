"""``/readyz``: can this process serve? Each dependency is checked with a short timeout.

``/healthz`` (in ``server.app``) only says the process is alive; a load balancer or orchestrator
sends traffic to a process only while ``/readyz`` answers 200. The checks run concurrently, so the
route answers within ``CHECK_TIMEOUT`` even when every dependency hangs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import connections

from server.logging import redact
from storage.broker import Broker, RedisBroker
from storage.objects import ObjectStore

CHECK_TIMEOUT = 1.0
MAX_REASON = 200

Check = Callable[[], Awaitable[None]]


def readiness_checks(
    broker: Broker, store: ObjectStore, databases: tuple[str, ...] = ("default",)
) -> dict[str, Check]:
    """The checks of this app: each database connection, Redis when configured, the store."""
    checks: dict[str, Check] = {}
    for name in databases:
        checks["database" if name == "default" else f"database_{name}"] = _select_one(name)
    if isinstance(broker, RedisBroker):
        checks["redis"] = broker.ping
    checks["object_store"] = store.ping
    return checks


def _select_one(connection: str) -> Check:
    async def check() -> None:
        await connections.get(connection).execute_query("SELECT 1")

    return check


async def run_checks(checks: Mapping[str, Check], limit: float = CHECK_TIMEOUT) -> dict[str, str]:
    """``{name: "ok" | "failed: <reason>"}`` for every check, each given ``limit`` seconds."""

    async def one(check: Check) -> str:
        try:
            async with asyncio.timeout(limit):
                await check()
        except TimeoutError:
            return f"failed: no answer within {limit:g} s"
        except Exception as error:  # any failure of a dependency means "not ready"
            reason = str(error) or type(error).__name__
            return f"failed: {redact(reason)[:MAX_REASON]}"
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


def readiness_route(
    checks: Mapping[str, Check], limit: float = CHECK_TIMEOUT
) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(request: Request) -> Response:
        results = await run_checks(checks, limit)
        failed = sorted(name for name, result in results.items() if result != "ok")
        if failed:
            return JSONResponse(
                {"status": "unavailable", "failed": failed, "checks": results}, status_code=503
            )
        return JSONResponse({"status": "ready", "checks": results})

    return readyz
