"""Structured logs: one JSON object a line, each carrying the request id and operation name.

``RequestLog`` (ASGI middleware) gives every HTTP request and websocket a request id (a sane
incoming ``X-Request-ID`` or a new one, echoed in the response) and writes one access line when
the request ends; the GraphQL layer adds the operation name (``set_operation``). Both reach every
log line written meanwhile through a context variable. Secrets never reach a log: bearer tokens,
passwords, tokens, keys and credentials in URLs are masked in every message and traceback.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOG_FORMATS = ("json", "text")
REQUEST_ID_HEADER = b"x-request-id"
# What we accept from a client or proxy as a request id: short, and safe in a log and a header.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MASK = "[redacted]"
_SECRETS = (
    # Authorization: Bearer <token>, Basic <credentials>
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    # "password": "...", 'token': '...', in JSON or a repr
    (
        re.compile(
            r"""(?ix)(["']?[a-z0-9_]*(?:password|passwd|token|secret|authorization|api_?key|"""
            r"""access_?key)[a-z0-9_]*["']?\s*[:=]\s*)(["'])(?:\\.|(?!\2).)*\2"""
        ),
        rf"\1\2{MASK}\2",
    ),
    # password=..., token=... in a query string or key=value text
    (
        re.compile(
            r"(?i)\b([a-z0-9_]*(?:password|token|secret|api_?key|access_?key)[a-z0-9_]*=)"
            r"[^\s&,;]+"
        ),
        rf"\1{MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), rf"\1:{MASK}@"),
)


# Every pattern above needs one of these (lower-cased) in the text; most lines have none, and the
# check costs a microsecond where the patterns cost fifteen.
_TRIGGERS = ("bearer", "basic", "pass", "token", "secret", "auth", "key", "@")


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    operation: str | None = None


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "gesso_request", default=None
)


def current() -> RequestInfo | None:
    return _current.get()


def set_operation(name: str | None) -> None:
    """Name the GraphQL operation of the current request in its log lines (a malformed name
    from a client is logged as ``invalid``)."""
    info = _current.get()
    if info is None:
        return
    if name is None or OPERATION_NAME.fullmatch(name):
        info.operation = name
    else:
        info.operation = "invalid"


def redact(text: str) -> str:
    """``text`` with bearer tokens, passwords, secrets and URL credentials masked."""
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, operation (+ error)."""

    def format(self, record: logging.LogRecord) -> str:
        info = _current.get()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": info.request_id if info is not None else None,
            "operation": info.operation if info is not None else None,
        }
        extra = getattr(record, "http", None)
        if isinstance(extra, dict):
            entry["http"] = extra
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for development, with the same masking."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        info = _current.get()
        record.request = f"{info.request_id} {info.operation or '-'}" if info is not None else "-"
        return redact(super().format(record))


def logging_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the app and uvicorn (``uvicorn.run(log_config=)``)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gesso": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "gesso",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


access_log = logging.getLogger("gesso.access")


class RequestLog:
    """ASGI middleware: a request id for each request and one access line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        info = RequestInfo(request_id)
        token = _current.set(info)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s",
                scope.get("method", "WS"),
                scope["path"],
                status,
                extra={
                    "http": {
                        "method": scope.get("method", "WS"),
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )
            _current.reset(token)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            return text if REQUEST_ID.fullmatch(text) else None
    return None
