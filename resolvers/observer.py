"""What the API reports about its own work (the server turns it into metrics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Observer(Protocol):
    """Receives one measurement per GraphQL operation and per protected image."""

    def operation_started(self, name: str | None) -> None:
        """A query or mutation parsed and is about to run (logs written meanwhile carry the
        name)."""

    def operation(
        self, name: str | None, kind: str, seconds: float, error_codes: Sequence[str]
    ) -> None:
        """A query or mutation finished: its name as the client gave it, ``query`` or
        ``mutation`` (``unknown`` when it did not parse), its duration and its errors' codes."""

    def imaging(self, timings: Mapping[str, float]) -> None:
        """An image went through the protection pipeline: seconds spent in each stage."""

    def compiled_fallback(self, reason: str) -> None:
        """A query a compiled plan might answer went to the regular path instead, and why:
        ``not_covered`` (its document has no plan), ``input``, ``anonymous`` or ``vanished``
        (this request needs the regular path), ``error`` (the plan raised)."""


class NullObserver:
    """Measures nothing: the default where no metrics are collected."""

    def operation_started(self, name: str | None) -> None:
        return None

    def operation(
        self, name: str | None, kind: str, seconds: float, error_codes: Sequence[str]
    ) -> None:
        return None

    def imaging(self, timings: Mapping[str, float]) -> None:
        return None

    def compiled_fallback(self, reason: str) -> None:
        return None
