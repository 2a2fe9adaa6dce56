"""Search: members by name, artworks and posts by their words, ranked, as the viewer may see them.

The engines find; this module ranks, so both backends give the same answers:

- PostgreSQL finds posts and artworks through their ``search_vector`` columns (generated
  ``tsvector``, GIN-indexed, the ``simple`` configuration) matched with ``websearch_to_tsquery``
  (and a phrase through a GIN index of the pairs of adjacent words, ``search_word_pairs``),
  and members through trigram indexes (``pg_trgm``) on the handle and the display name;
- SQLite finds them through FTS5 tables kept by triggers (``posts_fts``, ``artworks_fts``, and the
  trigram table ``users_fts``).

A query is read once (``parse``) into what both engines are asked: words, "quoted phrases",
``-excluded`` words and ``or``, as web search engines read them. A search ranks the newest
``WINDOW`` matches the viewer may see (``rules.VISIBLE``, blocks included), so its cost follows
that window and not the number of matches (on PostgreSQL, read in two bounded steps: see
``_newest_matches``); ranking is a saturating count of the query's words in
each field, weighted (an artwork's title above its tags, above its description), with a phrase
found whole counting extra, then newer first. Members are ranked by how their handle and display
name meet the query: the handle itself, a handle or a name word that starts with it, else their
trigram similarity (pg_trgm's measure, computed here the same way), with followers breaking ties;
PostgreSQL ranks them itself by the same measure (``users_sql``) and returns only the page.
"""

from __future__ import annotations

import enum
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from resolvers.errors import BadRequest
from resolvers.pagination import Page, decode_cursor, encode_cursor, page_size
from resolvers.rules import VISIBLE
from storage import rawsql
from storage.models import Artwork, Post, User


class SearchKind(enum.Enum):
    USERS = "users"
    ARTWORKS = "artworks"
    POSTS = "posts"


QUERY_MAX = 200  # characters of a query
ITEMS_MAX = 16  # words and phrases of a query that count
WINDOW = 200  # the newest matches (posts, artworks) that are ranked
SCAN = 8192  # the newest rows PostgreSQL reads first for them (see _newest_matches)
USERS_NEAREST = 64  # the nearest handles, and the nearest names, that are ranked (PostgreSQL)
SIMILAR = 0.3  # pg_trgm's default similarity threshold
_SCALE = 1_000_000  # a score in a cursor: an integer of millionths

_TOKEN = re.compile(r"[^\W_]+")
_ITEM = re.compile(r'(-?)"([^"]*)"?|(\S+)')


@dataclass(frozen=True, slots=True)
class Item:
    """A word or a phrase of a query (its words, in order), maybe excluded."""

    words: tuple[str, ...]
    excluded: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """Groups that must all match; each group matches when one of its items does."""

    groups: tuple[tuple[Item, ...], ...]
    excluded: tuple[Item, ...]

    @property
    def words(self) -> list[str]:
        return [word for group in self.groups for item in group for word in item.words]

    @property
    def phrases(self) -> list[tuple[str, ...]]:
        return [item.words for group in self.groups for item in group if len(item.words) > 1]

    def websearch(self) -> str:
        """The query as ``websearch_to_tsquery`` reads it."""
        groups = [" or ".join(_websearch_item(item) for item in group) for group in self.groups]
        return " ".join(groups + [_websearch_item(item) for item in self.excluded])

    def fts5(self) -> str:
        """The query in FTS5's syntax (every word quoted: only letters and digits remain)."""
        groups = [
            "(" + " OR ".join(f'"{" ".join(item.words)}"' for item in group) + ")"
            for group in self.groups
        ]
        text = " AND ".join(groups)
        return text + "".join(f' NOT "{" ".join(item.words)}"' for item in self.excluded)


def _websearch_item(item: Item) -> str:
    text = item.words[0] if len(item.words) == 1 else '"' + " ".join(item.words) + '"'
    return "-" + text if item.excluded else text


def words_of(text: str) -> list[str]:
    return [word.lower() for word in _TOKEN.findall(text)]


def parse(text: str) -> Query:
    """Read a query: words, "phrases", -excluded, ``or`` between two items. A word written with
    punctuation inside (``still-life``) is the phrase of its parts, as both engines index it."""
    if len(text) > QUERY_MAX:
        raise BadRequest(f"a search query is at most {QUERY_MAX} characters (got {len(text)})")
    groups: list[list[Item]] = []
    excluded: list[Item] = []
    joining = False
    count = 0
    for match in _ITEM.finditer(text):
        minus, phrase, bare = match.groups()
        if bare is not None and bare.lower() == "or":
            joining = bool(groups)
            continue
        if bare is not None:
            minus, phrase = ("-", bare[1:]) if bare.startswith("-") else ("", bare)
        words = tuple(words_of(phrase))
        if not words or count >= ITEMS_MAX:
            joining = False
            continue
        count += 1
        if minus:
            excluded.append(Item(words, excluded=True))
        elif joining:
            groups[-1].append(Item(words))
        else:
            groups.append([Item(words)])
        joining = False
    return Query(tuple(tuple(group) for group in groups), tuple(excluded))


# --- ranking (the same on both engines) --------------------------------------------------------

_AVERAGE_LENGTH = 12.0  # words of a typical field, for the length normalisation


def text_score(query: Query, fields: list[tuple[str, float]]) -> float:
    """How well ``fields`` (text, weight) meet ``query``: for each word, its count in a field
    saturating (BM25's shape), weighted by the field; a phrase found whole adds its weight."""
    return TextScorer(query)(fields)


# ASCII bytes with every byte that is not a letter or a digit made a space: the words of ASCII
# text (``_TOKEN``'s) are what ``bytes.split`` then finds, at a fraction of the regex's cost.
_ASCII_WORDS = bytes(byte if chr(byte).isalnum() and byte < 128 else 0x20 for byte in range(256))


class TextScorer:
    """``text_score`` for one query, its words and phrases read once for the rows it ranks."""

    __slots__ = ("ascii_phrases", "ascii_terms", "phrases", "terms")

    def __init__(self, query: Query) -> None:
        self.terms = tuple(dict.fromkeys(query.words))
        self.phrases = tuple(" " + " ".join(phrase) + " " for phrase in query.phrases)
        # for ASCII text, in the same order: a word or a phrase that is not ASCII is in none
        self.ascii_terms = tuple(term.encode() for term in self.terms if term.isascii())
        self.ascii_phrases = tuple(phrase.encode() for phrase in self.phrases if phrase.isascii())

    def __call__(self, fields: list[tuple[str, float]]) -> float:
        score = 0.0
        for text, weight in fields:
            if text.isascii():
                score = self._ascii(text, weight, score)
                continue
            words = words_of(text)
            if not words:
                continue
            norm = 1.2 * (0.25 + 0.75 * len(words) / _AVERAGE_LENGTH)
            for term in self.terms:
                count = words.count(term)
                if count:
                    score += weight * count * 2.2 / (count + norm)
            if self.phrases:
                joined = " " + " ".join(words) + " "
                for phrase in self.phrases:
                    if phrase in joined:
                        score += weight
        return score

    def one(self, text: str) -> float:
        """The score of a single field of weight 1 (a post's text)."""
        return self._ascii(text, 1.0, 0.0) if text.isascii() else self([(text, 1.0)])

    def _ascii(self, text: str, weight: float, score: float) -> float:
        """``score`` with one ASCII field's added, as ``__call__`` adds any text's."""
        words = text.encode().lower().translate(_ASCII_WORDS).split()
        if not words:
            return score
        norm = 1.2 * (0.25 + 0.75 * len(words) / _AVERAGE_LENGTH)
        for term in self.ascii_terms:
            count = words.count(term)
            if count:
                score += weight * count * 2.2 / (count + norm)
        if self.ascii_phrases:
            joined = b" " + b" ".join(words) + b" "
            for phrase in self.ascii_phrases:
                if phrase in joined:
                    score += weight
        return score


def trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams of ``text``: of each word (letters and digits), lower-cased and padded
    with two spaces before and one after."""
    found: set[str] = set()
    for word in re.findall(r"[^\W_]+", text.lower()):
        padded = f"  {word} "
        found.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return found


def similarity(a: str, b: str) -> float:
    """pg_trgm's ``similarity``: shared trigrams over all trigrams of both."""
    first, second = trigrams(a), trigrams(b)
    if not first or not second:
        return 0.0
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)


def name_score(query: str, handle_key: str, display_name: str, followers: int) -> float:
    """How well a member's names meet ``query`` (lower-cased); 0 when they do not."""
    name = display_name.lower()
    if handle_key == query:
        base = 4.0
    elif handle_key.startswith(query):
        base = 2.0 + len(query) / len(handle_key)
    elif name.startswith(query) or f" {query}" in name:
        base = 1.5
    else:
        base = max(similarity(handle_key, query), similarity(name, query))
        if base < SIMILAR:
            return 0.0
    # Among equals, the more followed first (a fraction below any difference of the above).
    return base + min(followers, 999_999) / 1e8


# --- reading -----------------------------------------------------------------------------------


class Hit(NamedTuple):
    id: int
    score: int  # millionths


_BEST_FIRST = operator.itemgetter(1, 0)  # (score, id): sorted in reverse, best then newest first


def _page(hits: list[Hit], size: int, after: str | None) -> Page[int]:
    hits.sort(key=_BEST_FIRST, reverse=True)
    if after is not None:
        score, last_id = decode_cursor("search", after)
        hits = [h for h in hits if h.score < score or (h.score == score and h.id < last_id)]
    items = hits[:size]
    return Page(
        items=[hit.id for hit in items],
        cursors=[encode_cursor("search", hit.score, hit.id) for hit in items],
        has_next=len(hits) > size,
    )


def _scaled(score: float) -> int:
    return min(math.floor(score * _SCALE), (1 << 62) - 1)


async def search(
    viewer_id: int | None, text: str, kind: SearchKind, *, first: int | None, after: str | None
) -> Page[int]:
    """The ids of a page of what ``text`` finds of ``kind``, best first."""
    size = page_size(first)
    if kind is SearchKind.USERS:
        if len(text) > QUERY_MAX:
            raise BadRequest(f"a search query is at most {QUERY_MAX} characters (got {len(text)})")
        query = " ".join(text.lower().split()).removeprefix("@")
        if not query:
            return _page([], size, after)
        return await _users(viewer_id, query, size, after)
    parsed = parse(text)
    if not parsed.groups:
        return _page([], size, after)
    found = await (
        _posts(viewer_id, parsed) if kind is SearchKind.POSTS else _artworks(viewer_id, parsed)
    )
    return _page(found, size, after)


def _visible(viewer_id: int | None, alias: str, owner: str, params: list[Any]) -> str:
    viewer = None
    if viewer_id is not None:
        params.append(viewer_id)
        viewer = f"${len(params)}"
    return VISIBLE.to_sql(viewer, owner=f"{alias}.{owner}", visibility=f"{alias}.visibility")


def pairs_sql(query: Query, params: list[Any]) -> str | None:
    """For a query of phrases alone (exclusions aside), the condition that a row (alias m) holds
    the pairs of adjacent words of its phrases, which the ``search_word_pairs`` GIN indexes
    answer (a superset of the phrases' rows: the phrases themselves are checked on the rows it
    finds); the phrases go to ``params``. None for a query with a word of its own: the words'
    index finds those rows."""
    terms = []
    phrases: list[str] = []
    for group in query.groups:
        alternatives = []
        for item in group:
            if len(item.words) == 1:
                return None
            phrases.append(" ".join(item.words))
            alternatives.append(
                "search_word_pairs(m.search_vector) @> search_word_pairs(to_tsvector('simple',"
                f" ${len(params) + len(phrases)}))"
            )
        terms.append(alternatives[0] if len(group) == 1 else f"({' OR '.join(alternatives)})")
    params += phrases
    return " AND ".join(terms)


def newest_sql(
    table: str, columns: str, visible: str, *, older: bool, pairs: str | None = None
) -> str:
    """PostgreSQL's statement of the newest ``WINDOW`` matches ($1 the query) of ``table``
    (alias t) that ``visible`` lets the viewer see: among the newest ``SCAN`` rows, read newest
    first (``older=False``), or older than those, read through a GIN index alone: the words'
    index, or for a query of phrases alone the index of pairs of words (``pairs``, see
    ``pairs_sql``)."""
    found = "t.search_vector @@ websearch_to_tsquery('simple', $1)"
    if not older:
        # the rule as one condition (IS TRUE: its look-ups stay per row, not joins), so the
        # newest rows stream through it and reading stops at a window of matches
        return (
            f"SELECT t.id, {columns} FROM (SELECT * FROM {table} ORDER BY id DESC"  # noqa: S608
            f" LIMIT {SCAN}) t WHERE {found} AND ({visible}) IS TRUE ORDER BY t.id DESC"
            f" LIMIT {WINDOW}"
        )
    # The matches alone first (``OFFSET 0`` keeps the rule out, and ``id + 0`` keeps the id out
    # of the index conditions): the GIN index, not a walk of the older rows by id.
    floor = f"(SELECT min(s.id) FROM (SELECT id FROM {table} ORDER BY id DESC LIMIT {SCAN}) s)"  # noqa: S608
    if pairs is None:
        indexed, rest = "m.search_vector @@ websearch_to_tsquery('simple', $1)", visible
    else:
        # the pairs alone in the index scan: with the words' index beside them, PostgreSQL
        # would also read every row that holds the words, and compute each row's pairs again
        indexed, rest = pairs, f"{found} AND {visible}"
    matches = f"(SELECT * FROM {table} m WHERE {indexed} AND m.id + 0 < {floor} OFFSET 0) t"  # noqa: S608
    return (
        f"SELECT t.id, {columns} FROM {matches} WHERE {rest}"  # noqa: S608
        f" ORDER BY t.id DESC LIMIT {WINDOW}"
    )


async def _newest_matches(
    viewer_id: int | None, query: Query, model: type[Post] | type[Artwork], owner: str, columns: str
) -> list[Any]:
    """The newest ``WINDOW`` rows of ``model``'s table (alias t) that match ``query`` and the
    viewer may see: ``id`` and ``columns``.

    PostgreSQL reads them in two steps, so that a word in most rows costs a window of rows, not
    all of them, and a rare word the newest ``SCAN`` rows and its matches: those rows first;
    only when they hold fewer than a window of matches (a word in fewer than one row in forty),
    the older matches through the GIN index (their number, fewer than one in forty of the older
    rows, bounds the cost; for a query of phrases alone, the rows that hold their pairs of
    adjacent words, not all those that hold their words). Left to itself, the planner reads every
    match of a word found in nearly every row, or walks the whole table for a phrase it believes
    common."""
    table = model._meta.db_table
    async with rawsql.reader(model) as db:
        params: list[Any] = [query.fts5() if db.sqlite else query.websearch()]
        visible = _visible(viewer_id, "t", owner, params)
        if not db.sqlite:
            rows = await db.fetch(newest_sql(table, columns, visible, older=False), *params)
            if len(rows) < WINDOW:
                pairs = pairs_sql(query, params)
                older = newest_sql(table, columns, visible, older=True, pairs=pairs)
                rows += (await db.fetch(older, *params))[: WINDOW - len(rows)]
            return rows
        found = f"t.id IN (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH $1)"  # noqa: S608
        return await db.fetch(
            f"SELECT t.id, {columns} FROM {table} t WHERE {found} AND {visible}"  # noqa: S608
            f" ORDER BY t.id DESC LIMIT {WINDOW}",
            *params,
        )


# A row's score is a function of the query and the row's text alone, and a query searched again
# (a popular word, the next page, another member typing the same) ranks mostly the rows it ranked
# before: each query keeps its rows' scores, with the hash of the text they were computed from (an
# edited row is scored again; a stale score needs an edit whose 64-bit hash equals the old
# text's). At most QUERIES_KEPT queries of ROWS_KEPT rows each, about 100 bytes a row whatever
# the texts' length: some 10 MB.
QUERIES_KEPT = 128
ROWS_KEPT = 4 * WINDOW
_scored: dict[tuple[str, Query], dict[int, tuple[int, int]]] = {}


def _scores_of(kind: str, query: Query) -> dict[int, tuple[int, int]]:
    """The scores kept for ``query`` on ``kind``'s rows: row id -> (text's hash, scaled score)."""
    key = (kind, query)
    kept = _scored.pop(key, None)
    if kept is None or len(kept) > ROWS_KEPT:
        kept = {}
    _scored[key] = kept  # the most recently used last
    if len(_scored) > QUERIES_KEPT:
        del _scored[next(iter(_scored))]
    return kept


def _ranked(
    kind: str,
    query: Query,
    rows: list[Any],
    fields: Callable[[Any], list[tuple[str, float]]],
) -> list[Hit]:
    """A hit of each row (its id first, then its text columns), scored on ``fields`` of the row,
    or as kept for the same text (`_scores_of`)."""
    kept = _scores_of(kind, query)
    scorer: TextScorer | None = None
    hits = []
    for row in rows:
        row_id = int(row[0])
        fingerprint = hash(tuple(row[1:]))
        known = kept.get(row_id)
        if known is not None and known[0] == fingerprint:
            score = known[1]
        else:
            scorer = scorer or TextScorer(query)
            score = _scaled(scorer(fields(row)))
            kept[row_id] = (fingerprint, score)
        hits.append(Hit(row_id, score))
    return hits


async def _posts(viewer_id: int | None, query: Query) -> list[Hit]:
    rows = await _newest_matches(viewer_id, query, Post, "author_id", "t.text")
    return _ranked("posts", query, rows, lambda row: [(row[1], 1.0)])


def _artwork_fields(row: Any) -> list[tuple[str, float]]:
    tags = orjson.loads(row[2]) if isinstance(row[2], str | bytes) else row[2]
    return [(row[1], 3.0), (" ".join(tags), 2.0), (f"{row[3]} {row[4]}", 1.0)]


async def _artworks(viewer_id: int | None, query: Query) -> list[Hit]:
    columns = "t.title, t.tags, t.medium, t.description"
    rows = await _newest_matches(viewer_id, query, Artwork, "owner_id", columns)
    return _ranked("artworks", query, rows, _artwork_fields)


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# PostgreSQL ranks the candidates itself, as ``name_score`` does (pg_trgm's ``similarity`` is
# the one ``similarity`` above computes), and returns only the page: $1 is the query, then the
# viewer when the rule needs one; the cursor's score and id follow when a cursor is given.
_NAME = "lower(c.display_name)"
# ``name_score``'s base, which is at least ``SIMILAR`` exactly when the names meet the query: the
# handle or a name word starts with it (a base of 1.5 or more), or they are that similar
_NAME_BASE = (
    "CASE WHEN c.handle_key = $1 THEN 4.0::float8"
    " WHEN starts_with(c.handle_key, $1)"
    " THEN 2.0::float8 + length($1)::float8 / length(c.handle_key)::float8"
    f" WHEN starts_with({_NAME}, $1) OR strpos({_NAME}, ' ' || $1) > 0 THEN 1.5::float8"
    f" ELSE greatest(similarity(c.handle_key, $1), similarity({_NAME}, $1))::float8 END"
)
_NAME_SCORE = (
    "floor((b.base + least(b.follower_count, 999999)::float8 / 1e8::float8)"
    f" * {_SCALE}::float8)::bigint"
)


def users_sql(hidden: str, *, after: int | None, limit: int) -> str:
    """The page of members of ``hidden``'s rule (PostgreSQL): the nearest handles and the
    nearest names (GiST trigram indexes, read in order), ranked; ``after``: the parameter
    number of the cursor's score (its id follows)."""
    candidates = " UNION ".join(
        f"(SELECT u.id, u.handle_key, u.display_name, u.follower_count FROM users u"  # noqa: S608
        f" WHERE {hidden} ORDER BY {name} <-> $1 LIMIT {USERS_NEAREST})"
        for name in ("u.handle_key", "lower(u.display_name)")
    )
    # each candidate's base once (OFFSET 0: the filter and the score do not compute it again)
    bases = (
        f"(SELECT c.id, c.follower_count, {_NAME_BASE} AS base FROM ({candidates}) c"  # noqa: S608
        " OFFSET 0) b"
    )
    keyset = "" if after is None else f" WHERE (r.score, r.id) < (${after}, ${after + 1})"
    return (
        f"SELECT r.id, r.score FROM (SELECT b.id, {_NAME_SCORE} AS score"  # noqa: S608
        f" FROM {bases} WHERE b.base >= {SIMILAR}) r{keyset}"
        f" ORDER BY r.score DESC, r.id DESC LIMIT {limit}"
    )


async def _users(viewer_id: int | None, query: str, size: int, after: str | None) -> Page[int]:
    cursor = decode_cursor("search", after) if after is not None else None
    async with rawsql.reader(User) as db:
        params: list[Any] = [query]
        viewer = None
        if viewer_id is not None and VISIBLE.exclusions:
            params.append(viewer_id)
            viewer = f"${len(params)}"
        # suspended accounts (a hold) for everyone, and blocks for a signed-in viewer
        hidden = VISIBLE.unhidden_sql(viewer, owner="u.id")
        if not db.sqlite:
            keyset = None
            if cursor is not None:
                keyset = len(params) + 1
                params += list(cursor)
            rows = await db.fetch(users_sql(hidden, after=keyset, limit=size + 1), *params)
            found = [Hit(int(row[0]), int(row[1])) for row in rows]
            return Page(
                items=[hit.id for hit in found[:size]],
                cursors=[encode_cursor("search", hit.score, hit.id) for hit in found[:size]],
                has_next=len(found) > size,
            )
        columns = "u.id, u.handle_key, u.display_name, u.follower_count"
        sql, more = _users_sqlite(query, columns, hidden, len(params))
        rows = await db.fetch(sql, *params, *more)
    hits = []
    for row in rows:
        score = name_score(query, row[1], row[2], int(row[3]))
        if score > 0:
            hits.append(Hit(int(row[0]), _scaled(score)))
    return _page(hits, size, after)


def _users_sqlite(query: str, columns: str, hidden: str, taken: int) -> tuple[str, list[Any]]:
    """Members whose names share a trigram with ``query`` (FTS5), or start like it."""
    params: list[Any] = [_like(query) + "%", "% " + _like(query) + "%"]
    like, words = f"${taken + 1}", f"${taken + 2}"
    found = [
        f"u.handle_key LIKE {like} ESCAPE '\\'",
        f"lower(u.display_name) LIKE {like} ESCAPE '\\'",
        f"lower(u.display_name) LIKE {words} ESCAPE '\\'",
    ]
    # a name a letter or two off shares a trigram with the query, or its first two letters
    params += [query[:2], query[:2] + "\uffff"]
    found.append(f"(u.handle_key >= ${taken + 3} AND u.handle_key < ${taken + 4})")
    grams = sorted({query[i : i + 3] for i in range(len(query) - 2)})
    if grams:
        params.append(" OR ".join('"' + gram.replace('"', '""') + '"' for gram in grams))
        fts = f"SELECT rowid FROM users_fts WHERE users_fts MATCH ${taken + 5}"  # noqa: S608
        found.append(f"u.id IN ({fts})")
    sql = f"SELECT {columns} FROM users u WHERE ({' OR '.join(found)}) AND {hidden}"  # noqa: S608
    return sql, params
