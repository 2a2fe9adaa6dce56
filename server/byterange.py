"""Single byte ranges of a media response (RFC 9110, 14): ``Range: bytes=a-b``, ``bytes=a-`` and
``bytes=-n``, honoured when ``If-Range`` (if sent) names the current ETag.

A malformed header, or one asking for several ranges, is ignored and the whole object is served
(as the RFC allows); a range that starts past the end is ``RangeNotSatisfiable`` (416).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_SINGLE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The range starts at or past the end of the object (or asks for the last 0 bytes)."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive, as Content-Range writes it

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def requested_range(
    header: str | None, size: int, *, if_range: str | None = None, etag: str | None = None
) -> ByteRange | None:
    """The one range of ``size`` bytes that ``header`` asks for, or None to serve them all."""
    if header is None or (if_range is not None and (etag is None or if_range != etag)):
        return None
    match = _SINGLE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last ``last`` bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored
    if start >= size:
        raise RangeNotSatisfiable
    end = int(last) if last else size - 1
    return ByteRange(start, min(end, size - 1))


async def sliced(chunks: AsyncIterable[bytes], wanted: ByteRange) -> AsyncIterator[bytes]:
    """The bytes ``wanted`` of a stream of chunks (those before it are read and dropped)."""
    position = 0
    async for chunk in chunks:
        chunk_end = position + len(chunk)
        if chunk_end > wanted.start and position <= wanted.end:
            yield chunk[max(0, wanted.start - position) : wanted.end + 1 - position]
        position = chunk_end
        if position > wanted.end:
            break
