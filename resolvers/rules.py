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
from functools import reduce
from itertools import pairwise
from operator import and_, or_
from typing import Any, cast

from tortoise.expressions import Q, Subquery
from tortoise.models import Model

from storage.models import Follow, Visibility

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
    ``viewer_field`` and the owner in ``owner_field``."""

    model: type[Model]
    viewer_field: str
    owner_field: str

    def owners_q(self, viewer_id: int) -> Subquery:
        return Subquery(
            self.model.filter(**{self.viewer_field: viewer_id}).values(self.owner_field)
        )

    def owners_sql(self, viewer: str, *, name: str | None = None) -> str:
        """The owners tied to the viewer (the SQL parameter ``viewer``), as a subquery (its
        column named ``name`` if given)."""
        table = self.model._meta.db_table
        column = self.owner_field if name is None else f"{self.owner_field} AS {name}"
        # names of our own models and parameters only, never input
        return f"SELECT {column} FROM {table} WHERE {self.viewer_field} = {viewer}"  # noqa: S608

    def exists_sql(self, viewer: str, owner: str, alias: str) -> str:
        """One row when the viewer ``viewer`` is tied to the owner ``owner`` (an outer
        column), none otherwise: a look-up by key per row."""
        table = self.model._meta.db_table
        return (
            f"SELECT 1 FROM {table} {alias} WHERE {alias}.{self.viewer_field} = {viewer}"  # noqa: S608
            f" AND {alias}.{self.owner_field} = {owner}"
        )

    def among_sql(self) -> str:
        """Which of the owners ``$2`` (an id array) are tied to the viewer ``$1``."""
        return f"{self.owners_sql('$1')} AND {self.owner_field} = ANY($2::bigint[])"

    async def owners(self, viewer_id: int) -> set[int]:
        query = self.model.filter(**{self.viewer_field: viewer_id})
        return set(cast("list[int]", await query.values_list(self.owner_field, flat=True)))

    async def holds(self, viewer_id: int, owner_id: int) -> bool:
        filters = {self.viewer_field: viewer_id, self.owner_field: owner_id}
        return await self.model.filter(**filters).exists()


FOLLOWS = Tie(Follow, viewer_field="follower_id", owner_field="followee_id")

# The exclusions: owners hidden from a viewer whatever the visibility of their things. Blocks
# will hide two members from each other everywhere (reads as missing), mutes only from the feeds.
HIDDEN_EVERYWHERE: tuple[Tie, ...] = ()
HIDDEN_FROM_FEEDS: tuple[Tie, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadRule:
    """Which visibilities of an owner's things pass for each relation of the viewer, unless an
    exclusion ties the viewer to the owner."""

    name: str
    passes: Mapping[Relation, frozenset[Visibility]]
    exclusions: tuple[Tie, ...] = ()

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
        follows the owner and whether an exclusion hides the owner (see ``hidden_owners``)."""
        if viewer_id is None:
            return self.visibilities(Relation.ANONYMOUS)
        if hidden:
            return frozenset()
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
        exclusion hides the owner)."""
        if viewer_id is None:
            return visibility in self.visibilities(Relation.ANONYMOUS)
        if owner_id == viewer_id:
            verdict = visibility in self.visibilities(Relation.SELF)
        else:
            following = visibility in self.visibilities(Relation.FOLLOWER)
            if following != (visibility in self.visibilities(Relation.SIGNED_IN)):
                return None
            verdict = following
        return None if verdict and self.exclusions else verdict

    async def hides(self, viewer_id: int | None, owner_id: int) -> bool:
        """Whether an exclusion hides ``owner_id`` from the viewer (no query without any)."""
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

    # --- as an ORM filter --------------------------------------------------------------------

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
        if viewer_id is not None:
            for tie in self.exclusions:
                found &= ~_where({owner + "__in": tie.owners_q(viewer_id)})
        return found

    def unhidden_q(self, viewer_id: int, *, owner: str) -> Q | None:
        """The exclusions alone, as a filter keeping the rows whose ``owner`` (a nullable field:
        a row with none passes) no exclusion hides from the viewer; None without any."""
        if not self.exclusions:
            return None
        kept = [~_where({owner + "__in": tie.owners_q(viewer_id)}) for tie in self.exclusions]
        return _where({owner: None}) | reduce(and_, kept)

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
        if viewer is not None and self.exclusions:
            hidden = " AND ".join(
                f"{owner} NOT IN ({tie.owners_sql(viewer)})" for tie in self.exclusions
            )
            found = f"({found} AND {hidden})"
        return found

    def unhidden_sql(self, viewer: str, *, owner: str) -> str:
        """The exclusions alone, as a SQL condition: the owner ``owner`` (a column) is hidden
        from the viewer ``viewer`` by none of them (TRUE without any)."""
        if not self.exclusions:
            return "TRUE"
        hidden = [f"{owner} NOT IN ({tie.owners_sql(viewer)})" for tie in self.exclusions]
        return "(" + " AND ".join(hidden) + ")"

    def by_owner_sql(self, viewer: str, *, visibility: str) -> list[tuple[str, str | None]]:
        """The rule for a signed-in viewer (the parameter ``viewer``) owner by owner: for each of
        its terms, a subquery of the owners it covers (one column, ``owner_id``; the exclusions
        already removed) and the condition on the column ``visibility`` of what passes of their
        things (None: everything). Only for rules that pass nothing of anyone: those are read
        as a merge of each owner's newest things, which is bounded by the owners' count."""
        sources: list[tuple[str, str | None]] = []
        for who, passing in self._terms(signed_in=True):
            if who == "anyone":
                raise ValueError(f"{self.name}: passes things of anyone, not owner by owner")
            owners = (
                f"SELECT CAST({viewer} AS BIGINT) AS owner_id"
                if who == "own"
                else FOLLOWS.owners_sql(viewer, name="owner_id")
            )
            if self.exclusions:
                hidden = " AND ".join(
                    f"o.owner_id NOT IN ({tie.owners_sql(viewer)})" for tie in self.exclusions
                )
                owners = f"SELECT o.owner_id FROM ({owners}) o WHERE {hidden}"  # noqa: S608
            sources.append((owners, None if passing is None else _in_sql(visibility, passing)))
        return sources

    def visibilities_sql(self, relation: Relation, visibility: str) -> str:
        """What passes for ``relation``, as a SQL condition on the column ``visibility``."""
        passing = self.visibilities(relation)
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


def _in_sql(column: str, visibilities: frozenset[Visibility]) -> str:
    values = [v.value for v in Visibility if v in visibilities]
    if not all(value.isidentifier() for value in values):  # literals of our own enum only
        raise ValueError(f"not a visibility literal: {values}")
    if len(values) == 1:
        return f"{column} = '{values[0]}'"
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


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
)

# Home feed: the viewer's own posts and the visible posts of the artists the viewer follows.
HOME = ReadRule(
    "home",
    {
        Relation.SELF: VISIBLE.visibilities(Relation.SELF),
        Relation.FOLLOWER: VISIBLE.visibilities(Relation.FOLLOWER),
    },
    exclusions=HIDDEN_EVERYWHERE + HIDDEN_FROM_FEEDS,
)

# Discover feed (and the posts of a tag): public posts, whoever wrote them.
DISCOVER = ReadRule(
    "discover",
    {relation: frozenset({Visibility.PUBLIC}) for relation in Relation},
    exclusions=HIDDEN_EVERYWHERE + HIDDEN_FROM_FEEDS,
)


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
