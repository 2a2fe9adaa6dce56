"""Time-ordered 64-bit ids (Snowflake layout).

An id is ``milliseconds since EPOCH << 22 | worker << 12 | sequence``: ids sort by creation time,
so "newest first" is "largest id first" and keyset pagination needs no second column.
"""

from __future__ import annotations

import threading
import time

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


class IdGenerator:
    """Generates unique, increasing ids for one worker (process)."""

    def __init__(self, worker: int) -> None:
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker id must be in 0..{MAX_WORKER}, got {worker}")
        self._worker = worker
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        with self._lock:
            now = max(int(time.time() * 1000) - EPOCH_MS, self._last_ms)
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    # 4096 ids in this millisecond already: borrow the next one. Ids stay unique
                    # and increasing; the clock catches up as soon as the burst ends.
                    now += 1
            else:
                self._sequence = 0
            self._last_ms = now
            return (
                (now << (WORKER_BITS + SEQUENCE_BITS))
                | (self._worker << SEQUENCE_BITS)
                | (self._sequence)
            )


def id_for_time(epoch_seconds: float) -> int:
    """The smallest id that could have been made at ``epoch_seconds`` (for seeding back-dated rows
    and for range queries by time)."""
    ms = int(epoch_seconds * 1000) - EPOCH_MS
    return max(ms, 0) << (WORKER_BITS + SEQUENCE_BITS)


_generator = IdGenerator(0)


def configure(worker: int) -> None:
    """Set this process's worker id (0..1023); processes writing one database need distinct ids."""
    global _generator
    _generator = IdGenerator(worker)


def new_id() -> int:
    return _generator.next_id()
