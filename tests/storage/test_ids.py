from __future__ import annotations

import pytest

from storage.ids import EPOCH_MS, IdGenerator, id_for_time


def test_ids_are_unique_and_increasing_within_a_burst() -> None:
    generator = IdGenerator(worker=5)
    ids = [generator.next_id() for _ in range(20_000)]  # more than 4096 per millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all((i >> 12) & 0x3FF == 5 for i in ids)


def test_id_for_time_orders_with_generated_ids() -> None:
    generator = IdGenerator(worker=0)
    assert id_for_time(EPOCH_MS / 1000 + 1) == 1000 << 22
    assert id_for_time(0) == 0
    assert generator.next_id() > id_for_time(EPOCH_MS / 1000 + 1)


@pytest.mark.parametrize("worker", [-1, 1024])
def test_worker_out_of_range_is_refused(worker: int) -> None:
    with pytest.raises(ValueError, match=r"worker id must be in 0\.\.1023"):
        IdGenerator(worker)
