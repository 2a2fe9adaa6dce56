"""Log lines: JSON with the request's id and operation, and secrets masked."""

from __future__ import annotations

import json
import logging

from server.logging import JsonFormatter, RequestInfo, _current, redact, set_operation


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("gesso.test", logging.WARNING, __file__, 1, message, args, None)


def test_a_line_carries_the_request_id_and_operation() -> None:
    token = _current.set(RequestInfo("req-12345678"))
    try:
        set_operation("HomeFeed")
        line = json.loads(JsonFormatter().format(_record("slow page: %d ms", 250)))
    finally:
        _current.reset(token)
    assert line["message"] == "slow page: 250 ms"
    assert (line["level"], line["logger"]) == ("warning", "gesso.test")
    assert (line["request_id"], line["operation"]) == ("req-12345678", "HomeFeed")


def test_outside_a_request_the_ids_are_null_and_bad_names_are_not_logged() -> None:
    assert json.loads(JsonFormatter().format(_record("idle")))["request_id"] is None
    token = _current.set(RequestInfo("req-12345678"))
    try:
        set_operation('x"}\n{"forged": 1')
        line = json.loads(JsonFormatter().format(_record("named")))
    finally:
        _current.reset(token)
    assert line["operation"] == "invalid"


def test_secrets_are_masked() -> None:
    assert redact("Authorization: Bearer abc.DEF-123_x") == "Authorization: Bearer [redacted]"
    assert redact('{"password": "hunter2", "handle": "ada"}') == (
        '{"password": "[redacted]", "handle": "ada"}'
    )
    assert redact("{'newPassword': 'p\\'w'}") == "{'newPassword': '[redacted]'}"
    assert redact("/reset?token=abc123&next=/") == "/reset?token=[redacted]&next=/"
    assert redact("redis://:s3cret@cache:6379/0") == "redis://:[redacted]@cache:6379/0"
    assert redact("postgres://gesso:pw@db/gesso") == "postgres://gesso:[redacted]@db/gesso"
    assert redact("S3_SECRET_ACCESS_KEY=abcd1234") == "S3_SECRET_ACCESS_KEY=[redacted]"
    assert redact("nothing to hide") == "nothing to hide"
