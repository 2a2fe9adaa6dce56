"""What the GraphQL endpoint reads: which content types, and what JSON.

One rule for every reader of a request (the regular path, the compiled plans of ``schema.plans``,
multipart fields, query parameters and websocket messages), so no reader accepts what another
refuses:

* A POST body is ``application/json`` (with no charset, or UTF-8) or ``multipart/form-data``; a
  media type that merely contains "application/json" (``application/jsonp``,
  ``application/json-patch+json``, ``text/plain; charset=application/json``) is not JSON.
* JSON is UTF-8 text, and nests at most ``MAX_DEPTH`` arrays and objects: no GraphQL request
  needs more, and Python code that walks a value recursively (the JSON parser itself, variable
  coercion) fails on a few hundred levels. Anything else raises ``InvalidJSON``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

JSON = "application/json"
MULTIPART = "multipart/form-data"
MAX_DEPTH = 64
INVALID_JSON = "INVALID_JSON"
BAD_REQUEST = "BAD_REQUEST"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"


class InvalidJSON(json.JSONDecodeError):
    """Text that is not JSON this server reads. A ``JSONDecodeError``, so Strawberry's websocket
    handlers treat it as they treat any message that does not parse."""

    code = INVALID_JSON

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.reason = reason


class RequestRefused(Exception):
    """A request the GraphQL endpoint refuses before reading a document: answered with ``status``
    and a GraphQL-shaped error carrying ``code`` (see ``server.app``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def media_type(content_type: str | None) -> str | None:
    """``JSON`` or ``MULTIPART`` for a body the endpoint reads; None for any other."""
    media, _, parameters = (content_type or "").partition(";")
    media = media.strip().lower()
    if media == MULTIPART:
        return MULTIPART
    if media != JSON:
        return None
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return None
    return JSON


def unsupported(content_type: str | None) -> RequestRefused:
    shown = (content_type or "")[:100]
    return RequestRefused(
        415,
        UNSUPPORTED_MEDIA_TYPE,
        f"send {JSON} (UTF-8) or {MULTIPART}, not {shown!r}" if shown else f"send {JSON}",
    )


def decode(data: str | bytes) -> object:
    """The value of a JSON text; ``InvalidJSON`` for anything ``MAX_DEPTH`` does not allow,
    bytes that are not UTF-8, and text that does not parse."""
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError as error:
            raise InvalidJSON(f"not UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(data)
    except RecursionError:
        raise InvalidJSON(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise InvalidJSON(f"not JSON: {error}") from None
    if _deeper_than(value, MAX_DEPTH):
        raise InvalidJSON(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _deeper_than(value: object, limit: int) -> bool:
    """True when arrays and objects nest more than ``limit`` levels (walked without recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if type(container) is dict:
            children: Iterable[object] = container.values()
        elif type(container) is list:
            children = container
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if type(child) in _CONTAINERS)
    return False


_CONTAINERS = (dict, list)
