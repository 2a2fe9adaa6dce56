"""Every read rule (resolvers.rules) gives the same rows whatever engine renders it.

A generated graph holds one post of every visibility by every kind of owner a viewer can meet
(oneself, someone followed, someone following, a mutual follow, a stranger). For every viewer of
that graph (and an anonymous one) and every rule, the rows the ORM filter selects, the rows the
SQL condition selects and the rows the Python check passes must be the same set, on SQLite and
PostgreSQL. The same holds for each rule with an exclusion added (the slot blocks and mutes will
fill), and the exclusion takes away exactly the posts of the owners it ties to the viewer.
The home rule rendered owner by owner (``by_owner_sql``) selects the same rows too, and the home
feed's page statement (``feedsql.home_page_ids``), page after page, lists them newest first.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import cast

import pytest

from resolvers import feedsql, rules
from resolvers.rules import (
    DISCOVER,
    EVERY_VISIBILITY,
    FOLLOWS,
    HOME,
    SHOWN_MEDIA,
    VISIBLE,
    ReadRule,
    Relation,
    Tie,
)
from storage import rawsql
from storage.models import Follow, MediaAsset, MediaKind, MediaStatus, Post, User, Visibility

# A stand-in exclusion on a table that exists today: the owners who follow the viewer (the
# shape of "the owners who blocked the viewer").
FOLLOWING_ME = Tie(Follow, viewer_field="followee_id", owner_field="follower_id")

OWNERS = ("me", "idol", "fan", "friend", "stranger")
# (follower, followee)
FOLLOWING = (
    ("me", "idol"),
    ("fan", "me"),
    ("me", "friend"),
    ("friend", "me"),
    ("idol", "stranger"),
)


def _with_exclusion(rule: ReadRule) -> ReadRule:
    return dataclasses.replace(rule, name=f"{rule.name}+excl", exclusions=(FOLLOWING_ME,))


RULES = [VISIBLE, HOME, DISCOVER]
ALL_RULES = RULES + [_with_exclusion(rule) for rule in RULES]


@pytest.fixture
async def graph(clean_db: str) -> dict[str, int]:
    """The users by name, each with one post of every visibility, and the follows above."""
    users: dict[str, int] = {}
    for name in OWNERS:
        user = await User.create(
            handle=name,
            handle_key=name,
            email=f"{name}@x.test",
            email_key=f"{name}@x.test",
            password_hash="-",
        )
        users[name] = user.id
        for visibility in Visibility:
            await Post.create(author_id=user.id, text=f"{name} {visibility}", visibility=visibility)
    for follower, followee in FOLLOWING:
        await Follow.create(follower_id=users[follower], followee_id=users[followee])
    return users


async def _by_q(rule: ReadRule, viewer: int | None) -> set[int]:
    query = Post.filter(rule.to_q(viewer, owner="author_id", visibility="visibility"))
    return set(cast("list[int]", await query.values_list("id", flat=True)))


async def _by_sql(rule: ReadRule, viewer: int | None) -> set[int]:
    where = rule.to_sql(
        None if viewer is None else "$1", owner="p.author_id", visibility="p.visibility"
    )
    sql = f"SELECT p.id FROM posts p WHERE {where}"
    async with rawsql.reader(Post) as reader:
        rows = await reader.fetch(sql, *([viewer] if "$1" in sql else []))
    return {row[0] for row in rows}


async def _by_owner(rule: ReadRule, viewer: int | None) -> set[int]:
    assert viewer is not None
    terms = rule.by_owner_sql("$1", visibility="p.visibility")
    branches = [
        f"SELECT p.id FROM ({term.owners}) o JOIN posts p ON p.author_id = o.owner_id"
        + (f" WHERE {term.passing}" if term.passing is not None else "")
        for term in terms
    ]
    # the same terms with what passes as rows (VALUES), one range of posts per visibility
    ranges = [
        f"SELECT p.id FROM ({term.owners}) o"
        + (f" CROSS JOIN ({term.values}) v" if term.values is not None else "")
        + " JOIN posts p ON p.author_id = o.owner_id"
        + (" AND p.visibility = v.column1" if term.values is not None else "")
        for term in terms
    ]
    found: list[list[int]] = []
    async with rawsql.reader(Post) as reader:
        for sql in (" UNION ALL ".join(branches), " UNION ALL ".join(ranges)):
            found.append([row[0] for row in await reader.fetch(sql, viewer)])
    for ids in found:
        assert len(ids) == len(set(ids)), "an owner's posts came from two terms or ranges"
    assert sorted(found[0]) == sorted(found[1]), "the ranges differ from the condition"
    return set(found[0])


async def _by_python(rule: ReadRule, viewer: int | None) -> set[int]:
    follows = await FOLLOWS.owners(viewer) if viewer is not None else set()
    hidden = await rule.hidden_owners(viewer)
    found = set()
    for post in await Post.all():
        author, visibility = post.author_id, post.visibility
        allowed = rule.allows(
            viewer, author, visibility, follows=author in follows, hidden=author in hidden
        )
        decided = rule.decide(viewer, author, visibility)
        assert decided is None or decided == allowed, (rule.name, viewer, author, visibility)
        assert await rule.hides(viewer, author) == (author in hidden)
        if allowed:
            found.add(post.id)
    return found


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.name)
async def test_renderers_agree_for_every_viewer(rule: ReadRule, graph: dict[str, int]) -> None:
    for viewer in [None, *graph.values()]:
        by_q = await _by_q(rule, viewer)
        assert await _by_sql(rule, viewer) == by_q, (rule.name, viewer)
        assert await _by_python(rule, viewer) == by_q, (rule.name, viewer)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
async def test_an_exclusion_hides_the_same_rows_everywhere(
    rule: ReadRule, graph: dict[str, int]
) -> None:
    excluded = _with_exclusion(rule)
    me = graph["me"]
    following_me = {graph["fan"], graph["friend"]}
    authors = {post.id: post.author_id for post in await Post.all()}
    for render in (_by_q, _by_sql, _by_python):
        before, after = await render(rule, me), await render(excluded, me)
        assert after <= before
        assert {authors[post] for post in before - after} <= following_me
        assert not any(authors[post] in following_me for post in after)
    # what the exclusion takes away from "me" on the visibility rule: every post of a follower
    if rule is VISIBLE:
        gone = await _by_q(rule, me) - await _by_q(excluded, me)
        assert {authors[post] for post in gone} == following_me
        # and nothing for the anonymous viewer, who has no ties
        assert await _by_sql(excluded, None) == await _by_sql(rule, None)


def test_what_each_relation_sees() -> None:
    public, followers = Visibility.PUBLIC, Visibility.FOLLOWERS
    assert {relation: VISIBLE.visibilities(relation) for relation in Relation} == {
        Relation.SELF: EVERY_VISIBILITY,
        Relation.FOLLOWER: {public, followers},
        Relation.SIGNED_IN: {public},
        Relation.ANONYMOUS: {public},
    }
    assert {relation: HOME.visibilities(relation) for relation in Relation} == {
        Relation.SELF: EVERY_VISIBILITY,
        Relation.FOLLOWER: {public, followers},
        Relation.SIGNED_IN: set(),
        Relation.ANONYMOUS: set(),
    }
    assert all(DISCOVER.visibilities(relation) == {public} for relation in Relation)


def test_a_closer_relation_never_sees_less() -> None:
    for closer, farther in itertools.pairwise(
        [Relation.SELF, Relation.FOLLOWER, Relation.SIGNED_IN, Relation.ANONYMOUS]
    ):
        with pytest.raises(ValueError, match="closer relation"):
            ReadRule("odd", {farther: frozenset({Visibility.PUBLIC}), closer: frozenset()})


def test_the_sql_names_no_visibility_but_through_the_rule() -> None:
    # the home page statement's condition, as resolvers.feedsql and bench.floor_app run it
    # and the holds (a suspended author, an author whose account is being deleted) and the
    # exclusions (blocks both ways, then mutes in force), each as a look-up by key per row
    held = (
        " AND NOT EXISTS (SELECT 1 FROM users h0 WHERE h0.id = p.author_id"
        " AND h0.suspended_at IS NOT NULL)"
        " AND NOT EXISTS (SELECT 1 FROM account_deletions h1 WHERE h1.id = p.author_id"
        " AND h1.requested_at IS NOT NULL)"
    )
    hidden = held + (
        " AND NOT EXISTS (SELECT 1 FROM blocks x0 WHERE x0.blocker_id = $1"
        " AND x0.blocked_id = p.author_id)"
        " AND NOT EXISTS (SELECT 1 FROM blocks x1 WHERE x1.blocked_id = $1"
        " AND x1.blocker_id = p.author_id)"
        " AND NOT EXISTS (SELECT 1 FROM mutes x2 WHERE x2.muter_id = $1"
        " AND x2.muted_id = p.author_id"
        " AND (x2.expires_at IS NULL OR x2.expires_at > CURRENT_TIMESTAMP))"
    )
    assert HOME.to_sql("$1", owner="p.author_id", visibility="p.visibility") == (
        "((p.author_id = $1 OR (p.author_id IN (SELECT followee_id FROM follows"
        " WHERE follower_id = $1) AND p.visibility IN ('public', 'followers')))" + hidden + ")"
    )
    assert DISCOVER.to_sql("$1", owner="p.author_id", visibility="p.visibility") == (
        "(p.visibility = 'public'" + hidden + ")"
    )
    # an anonymous viewer has no ties, but held authors are hidden from everyone
    assert DISCOVER.to_sql(None, owner="p.author_id", visibility="p.visibility") == (
        "(p.visibility = 'public'" + held + ")"
    )


HOME_RULES = [HOME, _with_exclusion(HOME)]


@pytest.mark.parametrize("rule", HOME_RULES, ids=lambda rule: rule.name)
async def test_owner_by_owner_agrees(rule: ReadRule, graph: dict[str, int]) -> None:
    for viewer in graph.values():
        assert await _by_owner(rule, viewer) == await _by_q(rule, viewer), (rule.name, viewer)


def test_a_rule_that_passes_anyone_has_no_owner_by_owner_form() -> None:
    with pytest.raises(ValueError, match="anyone"):
        DISCOVER.by_owner_sql("$1", visibility="p.visibility")


@pytest.mark.parametrize(
    ("scan", "merge_first", "merge_max"),
    [
        (feedsql.WALK_SCAN, feedsql.MERGE_FIRST_FOLLOWS, feedsql.MERGE_MAX_FOLLOWS),
        (feedsql.WALK_SCAN, -1, feedsql.MERGE_MAX_FOLLOWS),
        (1, -1, feedsql.MERGE_MAX_FOLLOWS),
        (1, -1, -1),
    ],
    ids=["as configured", "walk first", "walk then merge", "walk to the end"],
)
@pytest.mark.parametrize("size", [1, 2, 4, 50])
async def test_the_home_page_statement_lists_the_rule_newest_first(
    size: int,
    scan: int,
    merge_first: int,
    merge_max: int,
    graph: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the statement as configured (these viewers follow few artists, so the merge comes
    # first), or the short walk first (a small page is found by the walk, a page larger than
    # the feed by the merge), or a short walk that never finds a page, so that the merge
    # answers, or the walk to the end (for a viewer who follows more than merge_max artists)
    monkeypatch.setattr(feedsql, "WALK_SCAN", scan)
    monkeypatch.setattr(feedsql, "MERGE_FIRST_FOLLOWS", merge_first)
    monkeypatch.setattr(feedsql, "MERGE_MAX_FOLLOWS", merge_max)
    feedsql._home_ids.cache_clear()
    monkeypatch.setattr(feedsql, "_home_ids", functools.cache(feedsql._home_ids.__wrapped__))
    for viewer in graph.values():
        expected = sorted(await _by_q(HOME, viewer), reverse=True)
        seen: list[int] = []
        after: int | None = None
        while True:
            ids = await feedsql.home_page_ids(viewer, size, after)
            assert len(ids) <= size + 1
            seen += ids[:size]
            if len(ids) <= size:
                break
            after = ids[size - 1]
        assert seen == expected, (viewer, size)


async def test_only_ready_images_are_shown_in_both_renderings(clean_db: str) -> None:
    owner = await User.create(
        handle="imgs", handle_key="imgs", email="i@example.com", email_key="i@example.com",
        password_hash="x",
    )  # fmt: skip
    for n, status in enumerate(MediaStatus):
        await MediaAsset.create(
            owner_id=owner.id, kind=MediaKind.AVATAR, watermark_id=n + 1, width=1, height=1,
            status=status,
        )  # fmt: skip
    shown = await MediaAsset.filter(SHOWN_MEDIA.to_q())
    assert [row.status for row in shown] == [MediaStatus.READY]
    assert [s for s in MediaStatus if SHOWN_MEDIA.allows(s)] == [MediaStatus.READY]


@pytest.mark.parametrize("rule", [rules.INBOX, _with_exclusion(rules.INBOX)], ids=["none", "excl"])
async def test_the_exclusions_alone_agree_everywhere(rule: ReadRule, graph: dict[str, int]) -> None:
    """``unhidden_q`` and ``unhidden_sql`` (the inbox, search of members) keep exactly the
    owners ``hides`` does not hide, and a row with no owner (a nullable column) passes the
    filter."""
    for viewer in graph.values():
        expected = {u for u in graph.values() if not await rule.hides(viewer, u)}
        query = User.filter(rule.unhidden_q(viewer, owner="id", nullable=True))
        assert set(cast("list[int]", await query.values_list("id", flat=True))) == expected
        sql = f"SELECT u.id FROM users u WHERE {rule.unhidden_sql('$1', owner='u.id')}"
        async with rawsql.reader(User) as reader:
            rows = await reader.fetch(sql, *([viewer] if "$1" in sql else []))
        assert {row[0] for row in rows} == expected


async def test_a_rule_that_hides_nothing_keeps_every_row(graph: dict[str, int]) -> None:
    """A rule with no hold, for an anonymous viewer (so no exclusion applies), keeps every row,
    nullable owner or not."""
    rule = dataclasses.replace(rules.INBOX, name="nothing", holds=(), exclusions=())
    everyone = set(graph.values())
    for nullable in (False, True):
        query = User.filter(rule.unhidden_q(None, owner="id", nullable=nullable))
        assert set(cast("list[int]", await query.values_list("id", flat=True))) == everyone
