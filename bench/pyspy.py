"""Sampling the server under load with py-spy (``bench.feed --profile DIR``), and summarising the
collapsed stacks it writes: self time by package and by function, and time inside chosen frames.

py-spy is not a dependency of the project: ``.venv/bin/pip install py-spy`` to use this. It reads
the server's memory from outside the process, but its own CPU use on a 2-CPU machine lowers the
numbers of a profiled run, so a profiled run's table is for comparison only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
# Frames whose inclusive share tells where a request's time goes (a sample counts for every
# label one of whose needles is in its stack).
INCLUSIVE = (
    ("GraphQL parsing", ("parse_document (",)),
    ("GraphQL validation", ("validate_document (",)),
    ("GraphQL execution (graphql-core executor, resolvers)", ("/graphql/execution/",)),
    ("loaders: batched queries for a page (resolvers/loaders.py)", ("resolvers/loaders.py",)),
    ("token authentication (resolvers/accounts.py)", ("resolvers/accounts.py",)),
    ("Tortoise ORM (building, running, models)", ("/tortoise/",)),
    ("pypika (SQL text building, inside Tortoise)", ("/pypika_tortoise/",)),
    ("asyncpg (driver and pool)", ("/asyncpg/",)),
    ("asyncpg pool reset on release", ("Connection.reset (",)),
    ("JSON encoding (json stdlib)", ("/json/encoder.py",)),
)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


def start(pid: int, seconds: float, output: Path, rate: int = 100) -> subprocess.Popen[bytes]:
    command = [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        "--full-filenames",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _package(path: str) -> str:
    """A short name for where a frame's code lives."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in path:
        return "stdlib " + path.rsplit("/lib/", 1)[1].split("/", 2)[1].removesuffix(".py")
    if path.startswith("<"):
        return path
    parts = Path(path).parts
    for anchor in ("server", "schema", "resolvers", "storage", "bench"):
        if anchor in parts:
            return anchor + "/"
    return path


def summarise(raw: Path, top: int = 15) -> str:
    """A markdown summary of a py-spy ``--format raw`` file."""
    self_by_package: Counter[str] = Counter()
    self_by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        match = _FRAME.match(frames[-1])
        func, path = (match["func"], match["file"]) if match else (frames[-1], "?")
        self_by_package[_package(path)] += count
        self_by_function[f"{func} ({_package(path)}: {Path(path).name})"] += count
        for label, needles in INCLUSIVE:
            if any(needle in stack for needle in needles):
                inclusive[label] += count
    if not total:
        return "no samples"

    def share(count: int) -> str:
        return f"{100 * count / total:.1f}%"

    lines = [f"{total:,} samples", "", "| self time by package | share |", "|---|---:|"]
    lines += [f"| {name} | {share(n)} |" for name, n in self_by_package.most_common(top)]
    lines += ["", "| self time by function | share |", "|---|---:|"]
    lines += [f"| `{name}` | {share(n)} |" for name, n in self_by_function.most_common(top)]
    lines += ["", "| inclusive time in | share |", "|---|---:|"]
    lines += [f"| {label} | {share(inclusive[label])} |" for label, _ in INCLUSIVE]
    return "\n".join(lines)
