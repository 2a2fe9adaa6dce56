"""GraphQL over HTTP: the ``application/graphql-response+json`` media type and its status codes.

A client that accepts ``application/graphql-response+json`` gets that media type, and a request
error (the document does not parse or validate, or its variables do not coerce: no execution
happened) is answered 400 without a ``data`` entry, as the GraphQL-over-HTTP specification asks.
Clients that accept only ``application/json`` keep the traditional 200 for every GraphQL result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
TIMEOUT_CODE = "OPERATION_TIMEOUT"


def accepts_graphql_response(headers: Headers) -> bool:
    """True when the client prefers ``application/graphql-response+json`` over plain JSON."""
    best: tuple[float, str] | None = None
    for part in headers.get("accept", "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        if media not in (GRAPHQL_RESPONSE, JSON, "*/*", "application/*"):
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        # Prefer the specific media type at equal quality, as the specification recommends.
        rank = quality + (0.001 if media == GRAPHQL_RESPONSE else 0.0)
        if best is None or rank > best[0]:
            best = (rank, media)
    return best is not None and best[1] == GRAPHQL_RESPONSE


def is_request_error(body: Mapping[str, Any]) -> bool:
    """True for a result of a request that never executed: no data, and no error has a path."""
    errors = body.get("errors")
    if body.get("data") is not None or not errors:
        return False
    return all(isinstance(e, dict) and e.get("path") is None for e in errors)


def status_for(body: Mapping[str, Any]) -> int:
    """The status of a ``application/graphql-response+json`` answer carrying ``body``."""
    errors = body.get("errors") or []
    codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
    if body.get("data") is None and TIMEOUT_CODE in codes:
        return 504
    return 400 if is_request_error(body) else 200


def shaped(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The status and body of a ``application/graphql-response+json`` answer."""
    status = status_for(body)
    if status != 200 and body.get("data") is None:
        body = {k: v for k, v in body.items() if k != "data"}
    return status, body
