"""Writing a benchmark's results into docs/benchmarks.md, between its own pair of markers."""

from __future__ import annotations

from pathlib import Path


def replace_marked(
    path: Path, start: str, end: str, block: str, *, new: str = "# Benchmarks\n"
) -> None:
    """Put ``block`` (which begins with ``start`` and ends with ``end``) where the text between
    those markers stands in ``path``, or append it; ``path`` starts as ``new`` if missing."""
    text = path.read_text(encoding="utf-8") if path.exists() else new
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
