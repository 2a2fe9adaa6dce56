"""Read rules: who may read what, each written once and rendered for every engine that reads.

A rule says which visibilities of an owner's things pass for each relation of the viewer to that
owner (``Relation``), and which ties hide an owner from the viewer whatever the visibility (the
exclusions: blocks and mutes go in ``HIDDEN_EVERYWHERE`` and ``HIDDEN_FROM_FEEDS``). A closer
relation never sees less than a farther one. Each rule renders itself as

- an ORM filter (``to_q``), for the queries the resolvers build,
- a SQL condition (``to_sql``), for the hand-written statements of ``resolvers.feedsql`` and the
  benchmark floor (``bench.floor_app``), PostgreSQL text that ``storage.rawsql`` also runs on
  SQLite; and the same rule owner by owner (``by_owner_sql``), for reading a feed as a merge of
  each owner's newest things,
- a check in Python (``decide``, ``allows``), for what is decided on rows in memory: the live feed,
  the attachments of a page, the counts of a profile.

``tests/resolvers/test_rules.py`` holds the renderers of every rule to the same rows.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from itertools import pairwise
from operator import and_, or_
from typing import Any, cast

from tortoise.expressions import Q, Subquery
from tortoise.models import Model

from storage import rawsql
from storage.models import AccountDeletion, Block, Follow, MediaStatus, Mute, User, Visibility

_NOBODY: frozenset[int] = frozenset()

EVERY_VISIBILITY = frozenset(Visibility)


class Relation(enum.Enum):
    """The viewer, seen from the owner of a thing."""

    SELF = "self"
    FOLLOWER = "follower"  # signed in and following the owner
    SIGNED_IN = "signed_in"  # signed in, not following the owner
    ANONYMOUS = "anonymous"


# Each relation sees at least what the next one sees.
_CLOSER_FIRST = (Relation.SELF, Relation.FOLLOWER, Relation.SIGNED_IN, Relation.ANONYMOUS)


@dataclass(frozen=True, slots=True)
class Tie:
    """Pairs (viewer, owner) recorded in a table: a row of ``model`` names the viewer in
    ``viewer_field`` and the owner in ``owner_field``; with ``until_field``, a row holds until
    the time in that column (null: for good)."""

    model: type[Model]
    viewer_field: str
    owner_field: str
    until_field: str | None = None

    def _rows(self, **filters: Any) -> Any:
        query = self.model.filter(**filters)
        if self.until_field is not None:
            query = query.filter(
                _where({f"{self.until_field}__isnull": True})
                | _where({f"{self.until_field}__gt": datetime.now(UTC)})
            )
        return query

    def _current_sql(self, alias: str | None = None) -> str:
        """The condition that a row still holds ("" for ties that hold for good)."""
        if self.until_field is None:
            return ""
        column = self.until_field if alias is None else f"{alias}.{self.until_field}"
        # SQLite keeps times as ISO text with a space, which compares with CURRENT_TIMESTAMP
        return f" AND ({column} IS NULL OR {column} > CURRENT_TIMESTAMP)"

    def owners_q(self, viewer_id: int) -> Subquery:
        return Subquery(self._rows(**{self.viewer_field: viewer_id}).values(self.owner_field))

    def owners_sql(self, viewer: str, *, name: str | None = None) -> str:
        """The owners tied to the viewer (the SQL parameter ``viewer``), as a subquery (its
        column named ``name`` if given)."""
        table = self.model._meta.db_table
        column = self.owner_field if name is None else f"{self.owner_field} AS {name}"
        # names of our own models and parameters only, never input
        return (
            f"SELECT {column} FROM {table} WHERE {self.viewer_field} = {viewer}"  # noqa: S608
            + self._current_sql()
        )

    def exists_sql(self, viewer: str, owner: str, alias: str) -> str:
        """One row when the viewer ``viewer`` is tied to the owner ``owner`` (an outer
        column), none otherwise: a look-up by key per row."""
        table = self.model._meta.db_table
        return (
            f"SELECT 1 FROM {table} {alias} WHERE {alias}.{self.viewer_field} = {viewer}"  # noqa: S608
            f" AND {alias}.{self.owner_field} = {owner}" + self._current_sql(alias)
        )

    def among_sql(self) -> str:
        """Which of the owners ``$2`` (an id array) are tied to the viewer ``$1``."""
        return f"{self.owners_sql('$1')} AND {self.owner_field} = ANY($2::bigint[])"

    async def owners(self, viewer_id: int) -> set[int]:
        query = self._rows(**{self.viewer_field: viewer_id})
        return set(cast("list[int]", await query.values_list(self.owner_field, flat=True)))

    async def holds(self, viewer_id: int, owner_id: int) -> bool:
        filters = {self.viewer_field: viewer_id, self.owner_field: owner_id}
        return bool(await self._rows(**filters).exists())

    async def ends(self, viewer_id: int) -> datetime | None:
        """When the first of the viewer's ties that do not hold for good ends (None: none)."""
        if self.until_field is None:
            return None
        query = self._rows(**{self.viewer_field: viewer_id, f"{self.until_field}__isnull": False})
        times = cast("list[datetime]", await query.values_list(self.until_field, flat=True))
        return min(times, default=None)


@dataclass(frozen=True, slots=True)
class Hold:
    """Owners hidden from every viewer, anonymous included, while a column of their row in
    ``model`` (keyed by the owner's id) is set: a suspended account (``users.suspended_at``),
    an account being deleted (its ``account_deletions`` row)."""

    model: type[Model]
    set_field: str

    def held_q(self) -> Subquery:
        return Subquery(self.model.filter(**{f"{self.set_field}__isnull": False}).values("id"))

    def exists_sql(self, owner: str, alias: str) -> str:
        """One row when the owner ``owner`` (an outer column) is held: a look-up by key."""
        table = self.model._meta.db_table
        return (
            f"SELECT 1 FROM {table} {alias} WHERE {alias}.id = {owner}"  # noqa: S608
            f" AND {alias}.{self.set_field} IS NOT NULL"
        )

    def among_sql(self, owners: str) -> str:
        """Which of the owners ``owners`` (an id array parameter) are held."""
        table = self.model._meta.db_table
        return (
            f"SELECT id FROM {table} WHERE id = ANY({owners}::bigint[])"  # noqa: S608
            f" AND {self.set_field} IS NOT NULL"
        )


FOLLOWS = Tie(Follow, viewer_field="follower_id", owner_field="followee_id")
# The members the viewer blocked, and those who blocked the viewer.
BLOCKED = Tie(Block, viewer_field="blocker_id", owner_field="blocked_id")
BLOCKED_BY = Tie(Block, viewer_field="blocked_id", owner_field="blocker_id")
# The members the viewer muted, while the mute lasts.
MUTED = Tie(Mute, viewer_field="muter_id", owner_field="muted_id", until_field="expires_at")

# The exclusions: owners hidden from a viewer whatever the visibility of their things. A block
# hides two members from each other everywhere (reads as missing), a mute only from the feeds
# (and the live events and notifications) of the member who muted.
HIDDEN_EVERYWHERE: tuple[Tie, ...] = (BLOCKED, BLOCKED_BY)
HIDDEN_FROM_FEEDS: tuple[Tie, ...] = (MUTED,)
# The holds: owners hidden from everyone, whoever the viewer. A suspended account's things are
# hidden (and read as missing) until it is unsuspended; a deleted account's from the moment its
# owner asked, while its rows are removed in the background (resolvers.leaving), and for good.
SUSPENDED = Hold(User, set_field="suspended_at")
DELETED = Hold(AccountDeletion, set_field="requested_at")
HIDDEN_FROM_ALL: tuple[Hold, ...] = (SUSPENDED, DELETED)


@dataclass(frozen=True, slots=True)
class ByOwner:
    """One term of a rule, owner by owner (``ReadRule.by_owner_sql``)."""

    owners: str  # a subquery of the owners the term covers (one column, ``owner_id``)
    # What passes of their things: a condition on the visibility column (None: everything) ...
    passing: str | None
    # ... and the same as rows, one per visibility that passes (``VALUES ('public'), ...``; None:
    # everything), to read each owner's things one range per visibility: a join to these rows
    # keeps the visibility out of the statement's constants, so no index of one visibility's
    # things (the public posts') can stand in for the index on (owner, visibility, id).
    values: str | None


@dataclass(frozen=True, slots=True)
class ReadRule:
    """Which visibilities of an owner's things pass for each relation of the viewer, unless an
    exclusion ties the viewer to the owner."""

    name: str
    passes: Mapping[Relation, frozenset[Visibility]]
    exclusions: tuple[Tie, ...] = ()
    holds: tuple[Hold, ...] = ()

    def __post_init__(self) -> None:
        seen = [self.passes.get(relation, frozenset()) for relation in _CLOSER_FIRST]
        for closer, farther in pairwise(seen):
            if not farther <= closer:
                raise ValueError(f"{self.name}: a closer relation must see at least as much")

    def visibilities(self, relation: Relation) -> frozenset[Visibility]:
        return self.passes.get(relation, frozenset())

    # --- in Python ---------------------------------------------------------------------------

    def passing(
        self, viewer_id: int | None, owner_id: int, *, follows: bool, hidden: bool
    ) -> frozenset[Visibility]:
        """The visibilities that pass for this viewer and owner, given whether the viewer
        follows the owner and whether an exclusion or a hold hides the owner (see
        ``hidden_among``)."""
        if hidden:
            return frozenset()
        if viewer_id is None:
            return self.visibilities(Relation.ANONYMOUS)
        if owner_id == viewer_id:
            return self.visibilities(Relation.SELF)
        return self.visibilities(Relation.FOLLOWER if follows else Relation.SIGNED_IN)

    def allows(
        self,
        viewer_id: int | None,
        owner_id: int,
        visibility: Visibility,
        *,
        follows: bool,
        hidden: bool,
    ) -> bool:
        return visibility in self.passing(viewer_id, owner_id, follows=follows, hidden=hidden)

    def decide(self, viewer_id: int | None, owner_id: int, visibility: Visibility) -> bool | None:
        """``allows`` when it does not depend on the viewer's ties to the owner; None when it
        does (then the caller finds out whether the viewer follows the owner and whether an
        exclusion or a hold hides the owner)."""
        if viewer_id is None:
            verdict = visibility in self.visibilities(Relation.ANONYMOUS)
            return None if verdict and self.holds else verdict
        if owner_id == viewer_id:
            verdict = visibility in self.visibilities(Relation.SELF)
        else:
            following = visibility in self.visibilities(Relation.FOLLOWER)
            if following != (visibility in self.visibilities(Relation.SIGNED_IN)):
                return None
            verdict = following
        return None if verdict and (self.exclusions or self.holds) else verdict

    async def hides(self, viewer_id: int | None, owner_id: int) -> bool:
        """Whether an exclusion or a hold hides ``owner_id`` from the viewer (no query without
        any)."""
        if self.holds and await self.hidden_among(viewer_id, [owner_id]):
            return True
        if viewer_id is None:
            return False
        for tie in self.exclusions:
            if await tie.holds(viewer_id, owner_id):
                return True
        return False

    async def hidden_owners(self, viewer_id: int | None) -> frozenset[int]:
        """Every owner an exclusion hides from the viewer (no query, and one shared empty set,
        without any: a live subscriber keeps this for its whole life)."""
        if viewer_id is None or not self.exclusions:
            return _NOBODY
        hidden: set[int] = set()
        for tie in self.exclusions:
            hidden |= await tie.owners(viewer_id)
        return frozenset(hidden)

    async def hidden_among(self, viewer_id: int | None, owner_ids: list[int]) -> set[int]:
        """Which of ``owner_ids`` an exclusion or a hold hides from the viewer: one
        statement."""
        sql = self.hidden_among_sql(signed_in=viewer_id is not None)
        if sql is None or not owner_ids:
            return set()
        args: list[Any] = [owner_ids] if viewer_id is None else [viewer_id, owner_ids]
        async with rawsql.reader(User) as reader:
            rows = await reader.fetch(sql, *args)
        return {int(row[0]) for row in rows}

    def hidden_among_sql(self, *, signed_in: bool = True) -> str | None:
        """Which of the owners (an id array: ``$2`` after the viewer ``$1``, or ``$1`` for an
        anonymous viewer) an exclusion or a hold hides (None: nothing can)."""
        parts = [hold.among_sql("$2" if signed_in else "$1") for hold in self.holds]
        if signed_in:
            parts += [tie.among_sql() for tie in self.exclusions]
        return " UNION ".join(parts) if parts else None

    async def hidden_until(self, viewer_id: int | None) -> datetime | None:
        """When the first exclusion of the viewer that does not hold for good ends: what
        ``hidden_owners`` returns changes then (None: only with a change of the ties)."""
        if viewer_id is None:
            return None
        ends = [end for tie in self.exclusions if (end := await tie.ends(viewer_id)) is not None]
        return min(ends, default=None)

    # --- as an ORM filter --------------------------------------------------------------------

    def unhidden_q(self, viewer_id: int | None, *, owner: str, nullable: bool = False) -> Q:
        """Only the rows whose ``owner`` no hold, and no exclusion of the viewer, hides (for rows
        that have no visibility of their own: members, comments, follows, notifications). With
        ``nullable``, a row with no owner (a notification of the platform itself) passes."""
        terms = [~_where({owner + "__in": hold.held_q()}) for hold in self.holds]
        if viewer_id is not None:
            terms += [~_where({owner + "__in": tie.owners_q(viewer_id)}) for tie in self.exclusions]
        if not terms:
            return Q()  # nothing hides any row: every row passes, with or without an owner
        found = reduce(and_, terms)
        return _where({owner: None}) | found if nullable else found

    def to_q(self, viewer_id: int | None, *, owner: str, visibility: str) -> Q:
        """The rule as a filter on rows whose owner and visibility are the fields ``owner`` and
        ``visibility`` (related fields too: ``artwork__owner_id``)."""
        terms: list[Q] = []
        for who, passing in self._terms(signed_in=viewer_id is not None):
            found = _where({visibility + "__in": list(passing)}) if passing is not None else Q()
            if who == "own":
                found &= _where({owner: viewer_id})
            elif who == "followed":
                found &= _where({owner + "__in": FOLLOWS.owners_q(cast("int", viewer_id))})
            terms.append(found)
        found = reduce(or_, terms) if terms else _where({visibility + "__in": []})
        return found & self.unhidden_q(viewer_id, owner=owner)

    # --- as SQL ------------------------------------------------------------------------------

    def to_sql(self, viewer: str | None, *, owner: str, visibility: str) -> str:
        """The rule as a SQL condition on the columns ``owner`` and ``visibility`` (with their
        table's alias: ``p.author_id``), for the viewer in the parameter ``viewer`` (``$1``;
        None for an anonymous viewer). Safe to join with AND; visibilities are literals, so
        the planner sees them."""
        terms: list[str] = []
        for who, passing in self._terms(signed_in=viewer is not None):
            parts = [] if passing is None else [_in_sql(visibility, passing)]
            if who == "own":
                parts.insert(0, f"{owner} = {viewer}")
            elif who == "followed":
                parts.insert(0, f"{owner} IN ({FOLLOWS.owners_sql(cast('str', viewer))})")
            terms.append(parts[0] if len(parts) == 1 else f"({' AND '.join(parts)})")
        found = (terms[0] if len(terms) == 1 else f"({' OR '.join(terms)})") if terms else "FALSE"
        if self.holds or (viewer is not None and self.exclusions):
            found = f"({found} AND {self.unhidden_sql(viewer, owner=owner)})"
        return found

    def unhidden_sql(self, viewer: str | None, *, owner: str) -> str:
        """The holds and (for a signed-in viewer) the exclusions as a SQL condition on the
        column ``owner``: for each, a look-up by key in its table (NOT EXISTS), so its cost
        follows the rows read, not the viewer's ties."""
        parts = [
            f"NOT EXISTS ({hold.exists_sql(owner, f'h{n}')})" for n, hold in enumerate(self.holds)
        ]
        if viewer is not None:
            parts += [
                f"NOT EXISTS ({tie.exists_sql(viewer, owner, f'x{n}')})"
                for n, tie in enumerate(self.exclusions)
            ]
        return " AND ".join(parts) if parts else "TRUE"

    def by_owner_sql(self, viewer: str, *, visibility: str) -> list[ByOwner]:
        """The rule for a signed-in viewer (the parameter ``viewer``) owner by owner: for each of
        its terms, the owners it covers (the exclusions already removed) and what passes of
        their things (see ``ByOwner``). Only for rules that pass nothing of anyone: those are
        read as a merge of each owner's newest things, which is bounded by the owners' count."""
        sources: list[ByOwner] = []
        for who, passing in self._terms(signed_in=True):
            if who == "anyone":
                raise ValueError(f"{self.name}: passes things of anyone, not owner by owner")
            owners = (
                f"SELECT CAST({viewer} AS BIGINT) AS owner_id"
                if who == "own"
                else FOLLOWS.owners_sql(viewer, name="owner_id")
            )
            if self.exclusions or self.holds:
                hidden = self.unhidden_sql(viewer, owner="o.owner_id")
                owners = f"SELECT o.owner_id FROM ({owners}) o WHERE {hidden}"  # noqa: S608
            if passing is None:
                sources.append(ByOwner(owners, None, None))
            else:
                values = ", ".join(f"({_literal(v)})" for v in Visibility if v in passing)
                sources.append(ByOwner(owners, _in_sql(visibility, passing), f"VALUES {values}"))
        return sources

    def visibilities_sql(self, relation: Relation, visibility: str) -> str:
        """What passes for ``relation``, as a SQL condition on the column ``visibility``."""
        passing = self.visibilities(relation)
        if passing == EVERY_VISIBILITY:
            return "TRUE"
        return _in_sql(visibility, passing) if passing else "FALSE"

    @staticmethod
    def passing_sql(passing: frozenset[Visibility], visibility: str) -> str:
        """What ``passing`` returned, as a SQL condition on the column ``visibility``."""
        if passing == EVERY_VISIBILITY:
            return "TRUE"
        return _in_sql(visibility, passing) if passing else "FALSE"

    def _terms(self, *, signed_in: bool) -> Iterable[tuple[str, frozenset[Visibility] | None]]:
        """The rule as OR-ed terms (who, visibilities; None for every one): what passes from
        ``"anyone"``, what more of the viewer's ``"own"``, what more of the owners the viewer
        follows (``"followed"``). Exclusions come on top."""
        if not signed_in:
            anyone = self.visibilities(Relation.ANONYMOUS)
            if anyone:
                yield "anyone", anyone
            return
        anyone = self.visibilities(Relation.SIGNED_IN)
        if anyone:
            yield "anyone", anyone
        own = self.visibilities(Relation.SELF) - anyone
        if own:
            yield "own", None if self.visibilities(Relation.SELF) == EVERY_VISIBILITY else own
        followed = self.visibilities(Relation.FOLLOWER) - anyone
        if followed:
            yield "followed", followed


def _where(filters: dict[str, Any]) -> Q:
    return Q(**filters)


def _literal(value: Visibility | MediaStatus) -> str:
    if not value.value.isidentifier():  # literals of our own enums only
        raise ValueError(f"not a literal of ours: {value.value}")
    return f"'{value.value}'"


def _in_sql(column: str, visibilities: frozenset[Visibility]) -> str:
    values = [_literal(v) for v in Visibility if v in visibilities]
    if len(values) == 1:
        return f"{column} = {values[0]}"
    return f"{column} IN ({', '.join(values)})"


# The visibility of a post or an artwork.
VISIBLE = ReadRule(
    "visible",
    {
        Relation.SELF: EVERY_VISIBILITY,
        Relation.FOLLOWER: frozenset({Visibility.PUBLIC, Visibility.FOLLOWERS}),
        Relation.SIGNED_IN: frozenset({Visibility.PUBLIC}),
        Relation.ANONYMOUS: frozenset({Visibility.PUBLIC}),
    },
    exclusions=HIDDEN_EVERYWHERE,
    holds=HIDDEN_FROM_ALL,
)

# Home feed: the viewer's own posts and the visible posts of the artists the viewer follows.
HOME = ReadRule(
    "home",
    {
        Relation.SELF: VISIBLE.visibilities(Relation.SELF),
        Relation.FOLLOWER: VISIBLE.visibilities(Relation.FOLLOWER),
    },
    exclusions=HIDDEN_EVERYWHERE + HIDDEN_FROM_FEEDS,
    holds=HIDDEN_FROM_ALL,
)

# Discover feed (and the posts of a tag): public posts, whoever wrote them.
DISCOVER = ReadRule(
    "discover",
    {relation: frozenset({Visibility.PUBLIC}) for relation in Relation},
    exclusions=HIDDEN_EVERYWHERE + HIDDEN_FROM_FEEDS,
    holds=HIDDEN_FROM_ALL,
)


@dataclass(frozen=True, slots=True)
class MediaRule:
    """Which images of an artwork, a post or an avatar are shown: only protected ones. An image
    still on its way (PROCESSING) or refused is seen by nobody, its owner included; the owner
    follows it through ``uploadProgress``."""

    shown: frozenset[MediaStatus]

    def to_q(self) -> Q:
        return Q(status__in=sorted(self.shown))

    def to_sql(self, status: str) -> str:
        """The rule as a SQL condition on the column ``status``."""
        return f"{status} IN ({', '.join(_literal(s) for s in sorted(self.shown))})"

    def allows(self, status: MediaStatus) -> bool:
        return status in self.shown


SHOWN_MEDIA = MediaRule(frozenset({MediaStatus.READY}))


# Whose doings reach a member's inbox (a like, a follow, a mention): anyone's, unless an exclusion
# ties the member to them. Read apart from visibility: what a notification names (a post, an
# artwork) is checked against ``VISIBLE`` when it is shown.
INBOX = ReadRule(
    "inbox",
    {
        Relation.SELF: EVERY_VISIBILITY,
        Relation.FOLLOWER: EVERY_VISIBILITY,
        Relation.SIGNED_IN: EVERY_VISIBILITY,
    },
    exclusions=HIDDEN_EVERYWHERE + HIDDEN_FROM_FEEDS,
    holds=HIDDEN_FROM_ALL,
)


# --- viewer flags ------------------------------------------------------------------------------


def followed_by_viewer(viewer_id: int | None, user_id: int) -> bool | None:
    """``isFollowedByViewer``: False for an anonymous viewer and for oneself; None when it is
    whether the viewer follows ``user_id``."""
    return False if viewer_id is None or viewer_id == user_id else None


def liked_by_viewer(viewer_id: int | None) -> bool | None:
    """``viewerHasLiked``: False for an anonymous viewer; None when it is whether the viewer's
    like exists."""
    return False if viewer_id is None else None
