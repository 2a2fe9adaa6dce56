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
    ("1,864 home-feed pages per second", r"\| GraphQL, dense, first page \| [\d,]+ \| 1,864 \|"),
    ("0.50 ms of CPU", r"\| GraphQL, dense, first page \|(?: [^|]+ \|){6} 0 \| 0\.50 \|"),
    (
        "0.33 ms of CPU per page",
        r"\| GraphQL, dense, first page \|(?: [^|]+ \|){7} 0\.50 \| 0\.33 \|",
    ),
    ("p99 22.6 ms", r"\| GraphQL, dense, first page \|(?: [^|]+ \|){4} 22\.6 \|"),
    ("37.7 KiB", r"\| 10,000 \|(?: [^|]+ \|){8} 37\.7 \|"),
    ("1,000 subscribers of a process with p99 84 ms", r"\| 1,000 \|(?: [^|]+ \|){4} 84 \|"),
    ("5,000 with p99 270 ms", r"\| 5,000 \|(?: [^|]+ \|){4} 270 \|"),
    ("10,000 within 506 ms", r"\| 10,000 \|(?: [^|]+ \|){5} 506 \|"),
    ("3.83 s of a worker's CPU", r"\| worker CPU per 12 MP upload \| 3\.83 s \|"),
    ("up to 527 MB", r"\| peak memory \(ru_maxrss\) \| 527 MB \|"),
    # the page view (bench/pageview.py): columns after the scenario are page views, page views/s,
    # images, KB, p50, p99, document p99, hit ratio, errors, then CPU ms of API, Varnish, floor,
    # nginx, PostgreSQL
    ("a page of 12 posts", r"`first: 12`"),
    ("with 19.9 images", r"\| cache: API \+ Varnish \|(?: [^|]+ \|){2} 19\.9 \|"),
    ("of 1,068 KB in all", r"\| cache: API \+ Varnish \|(?: [^|]+ \|){3} 1,068 \|"),
    ("1,068 KB per page view", r"\| cache: API \+ Varnish \|(?: [^|]+ \|){3} 1,068 \|"),
    ("API 1.46 ms", r"\| cache: API \+ Varnish \|(?: [^|]+ \|){9} 1\.46 \|"),
    ("Varnish 0.90 ms", r"\| cache: API \+ Varnish \|(?: [^|]+ \|){10} 0\.90 \|"),
    ("PostgreSQL 0.98 ms", r"\| cache: API \+ Varnish \|(?: [^|]+ \|){13} 0\.98 \|"),
    ("API 15.80 ms", r"\| no cache: API serves the images \|(?: [^|]+ \|){9} 15\.80 \|"),
    ("PostgreSQL 1.13 ms", r"\| no cache: API serves the images \|(?: [^|]+ \|){13} 1\.13 \|"),
    ("floor 0.63 ms", r"\| floor: floor feed \+ nginx \|(?: [^|]+ \|){11} 0\.63 \|"),
    ("nginx 0.28 ms", r"\| floor: floor feed \+ nginx \|(?: [^|]+ \|){12} 0\.28 \|"),
    ("PostgreSQL 0.79 ms", r"\| floor: floor feed \+ nginx \|(?: [^|]+ \|){13} 0\.79 \|"),
    ("the 1.21 ms of the document alone", r"\| document only: API \|(?: [^|]+ \|){9} 1\.21 \|"),
    ("now spends 0.01 ms", r"0\.01 ms of CPU per page view on images"),
    (
        "fewer than 0.1% of image requests miss",
        r"it answered 0\.01 misses per page view",
    ),
    ("p99 was 90.3 ms", r"\| cache: API \+ Varnish \|(?: [^|]+ \|){5} 90\.3 \|"),
    ("the floor's 64.5 ms", r"\| floor: floor feed \+ nginx \|(?: [^|]+ \|){5} 64\.5 \|"),
    (
        "at most 0.04 CPUs during its windows",
        r"\| cache: API \+ Varnish \|(?: [^|]+ \|){15} 0\.02 \|(?s:.*)"
        r"\| document only: API \|(?: [^|]+ \|){15} 0\.04 \|",
    ),
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


VCPU_HOUR = 0.085 / 2  # the instance price operations.md assumes, per vCPU
PLANNED_BUSY = 0.6


def test_the_cost_per_page_view_follows_from_the_cited_cpu_and_the_stated_price() -> None:
    operations = _read("operations.md")
    assert "at $0.085 an hour for 2 vCPUs" in " ".join(operations.split())
    rows = re.findall(
        r"^\| [^|]+ \| ((?:\w+ [\d.]+ ms(?: \+ )?)+) \| ([\d.]+) ms \| ([\d.]+) \| \$([\d.]+) \|$",
        operations,
        re.M,
    )
    assert len(rows) == 3
    for parts, total, hours, cost in rows:
        summed = sum(float(ms) for ms in re.findall(r"([\d.]+) ms", parts))
        assert f"{summed:.2f}" == total
        assert f"{summed * 1e6 / 3.6e6:.2f}" == hours
        assert f"{summed * 1e6 / 3.6e6 * VCPU_HOUR / PLANNED_BUSY:.2f}" == cost


def test_the_egress_figure_follows_from_the_cited_bytes() -> None:
    operations = " ".join(_read("operations.md").split())
    kb = int(re.search(r"([\d,]+) KB per page view", operations)[1].replace(",", ""))  # type: ignore[index]
    gb = kb * 1024 * 1_000_000 / 1e9
    assert f"{gb:,.0f} GB per 1M page views" in operations
    assert f"${gb * 0.09:,.0f} per 1M page views" in operations
