"""The ``@handle`` mentions of a text that a client may show as links.

A text's mentions are parsed as ``resolvers.inbox.notify_mentions`` parses them
(``resolvers.validation.MENTION_RE``): the first ``MENTIONS_MAX`` different handles (any letter
case) are the ones that notify, and the same ones link; every occurrence of them is a span.
Only members who exist and whom the viewer may see (``rules.VISIBLE``'s holds and exclusions:
suspended, leaving, blocked either way) are linked; the mention of anyone else is left out, so
its text stays plain.

Offsets count UTF-16 code units, the unit of JavaScript strings: ``text.slice(start, end)`` in
a browser is the ``@handle`` (an emoji before it counts two).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resolvers.rules import VISIBLE
from resolvers.validation import MENTION_RE, MENTIONS_MAX
from storage import rawsql
from storage.models import User


@dataclass(frozen=True, slots=True)
class Span:
    handle: str  # as written in the text, without the @
    key: str  # the handle's key (lower case): ``users.handle_key``
    start: int  # of the @, in UTF-16 code units
    end: int  # just past the handle, in UTF-16 code units


# The spans of the texts with an @ read lately: a page's texts are read again by the next pages
# that show them. Bounded (texts are at most a few thousand characters), cleared whole when full.
_SPANS_KEPT = 4096
_spans: dict[str, tuple[Span, ...]] = {}


def spans(text: str) -> tuple[Span, ...]:
    """Every occurrence, in order, of the first ``MENTIONS_MAX`` different handles of ``text``."""
    if "@" not in text:  # most texts: no regular expression run at all
        return ()
    found = _spans.get(text)
    if found is None:
        if len(_spans) >= _SPANS_KEPT:
            _spans.clear()
        found = _spans[text] = tuple(_parse(text))
    return found


def _parse(text: str) -> list[Span]:
    # Offsets in UTF-16 code units equal character offsets unless a character lies beyond the
    # BMP (an emoji); only then are the units before each match counted.
    wide = not text.isascii() and _units(text) != len(text)
    keys: set[str] = set()
    found: list[Span] = []
    units = 0  # UTF-16 code units before ``at``
    at = 0
    for match in MENTION_RE.finditer(text):
        handle = match.group(1)
        key = handle.lower()
        if key not in keys:
            if len(keys) >= MENTIONS_MAX:
                continue
            keys.add(key)
        start, stop = match.span()
        if wide:
            units += _units(text[at:start])
            end = units + _units(text[start:stop])
        else:
            units, end = start, stop
        found.append(Span(handle, key, units, end))
        units, at = end, stop
    return found


def _units(part: str) -> int:
    """UTF-16 code units of ``part``: one per character, two beyond the BMP."""
    return len(part.encode("utf-16-le")) // 2


def keys_of(texts: Sequence[str]) -> list[str]:
    """The handle keys the texts may link, once each."""
    return list(dict.fromkeys(span.key for text in texts for span in spans(text)))


async def members(viewer_id: int | None, keys: Sequence[str]) -> dict[str, User]:
    """The members of ``keys`` the viewer may see, by handle key: one statement."""
    if not keys:
        return {}
    signed_in = viewer_id is not None
    args: list[Any] = [viewer_id, list(keys)] if signed_in else [list(keys)]
    async with rawsql.reader(User) as reader:
        rows = await reader.fetch(_members_sql(signed_in), *args)
    return {row.handle_key: row for row in rawsql.instances(User, rows)}


@functools.cache
def _members_sql(signed_in: bool) -> str:
    return members_sql(rawsql.table_columns(User), signed_in=signed_in)


def members_sql(columns: Sequence[str], *, signed_in: bool) -> str:
    """The members among the handle keys (a text array: ``$2`` after the viewer ``$1``, or
    ``$1`` for an anonymous viewer) the viewer may see, with ``handle_key`` and ``columns``."""
    keys = "$2" if signed_in else "$1"
    hidden = VISIBLE.unhidden_sql("$1" if signed_in else None, owner="u.id")
    selected = ", ".join(f"u.{column}" for column in dict.fromkeys(("handle_key", *columns)))
    # columns of the users table (resolvers.feedsql checks them) and the rule's own SQL
    return (
        f"SELECT {selected} FROM users u"  # noqa: S608
        f" WHERE u.handle_key = ANY({keys}::text[]) AND {hidden}"
    )


def linked(text: str, found: dict[str, Any]) -> list[tuple[Span, Any]]:
    """The spans of ``text`` whose member was found, each with what was found for it."""
    return [(span, found[span.key]) for span in spans(text) if span.key in found]
