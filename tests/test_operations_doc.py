"""docs/operations.md sizes the platform from measured numbers: each one it cites must be the one
docs/benchmarks.md records, so a new benchmark run that changes them fails here until the
operations guide is redone."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _read(name: str) -> str:
    return (REPO / "docs" / name).read_text()


# (as cited in operations.md, where benchmarks.md records it)
CITED = [
    ("1,190 home-feed pages per second", r"\| GraphQL, dense, first page \| [\d,]+ \| 1,190 \|"),
    ("0.79 ms of CPU", r"\| GraphQL, dense, first page \|(?: [^|]+ \|){6} 0 \| 0\.79 \|"),
    (
        "0.44 ms of CPU per page",
        r"\| GraphQL, dense, first page \|(?: [^|]+ \|){7} 0\.79 \| 0\.44 \|",
    ),
    ("p99 38.0 ms", r"\| GraphQL, dense, first page \|(?: [^|]+ \|){4} 38\.0 \|"),
    ("37.7 KiB", r"\| 10,000 \|(?: [^|]+ \|){8} 37\.7 \|"),
    ("1,000 subscribers of a process with p99 84 ms", r"\| 1,000 \|(?: [^|]+ \|){4} 84 \|"),
    ("5,000 with p99 270 ms", r"\| 5,000 \|(?: [^|]+ \|){4} 270 \|"),
    ("10,000 within 506 ms", r"\| 10,000 \|(?: [^|]+ \|){5} 506 \|"),
    ("3.43 s of one core", r"\| wall time, median of 3 \| 3\.43 s \|"),
    ("up to 526 MB", r"\| peak memory \(ru_maxrss\) \| 526 MB \|"),
]


def test_every_cited_measurement_is_the_recorded_one() -> None:
    operations = " ".join(_read("operations.md").split())  # lines wrap anywhere
    benchmarks = _read("benchmarks.md")
    for cited, recorded in CITED:
        assert cited in operations, cited
        assert re.search(recorded, benchmarks), recorded


def test_the_derivative_bytes_are_the_sum_of_the_recorded_files() -> None:
    sizes = re.findall(
        r"\| (?:display|medium|thumbnail)\.(?:webp|jpg) \d+x\d+ \| ([\d,]+) bytes",
        _read("benchmarks.md"),
    )
    assert len(sizes) == 6
    total = sum(int(size.replace(",", "")) for size in sizes)
    assert f"take {total:,} bytes" in " ".join(_read("operations.md").split())
