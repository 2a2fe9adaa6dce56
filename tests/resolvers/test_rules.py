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
    VISIBLE,
    ReadRule,
    Relation,
    Tie,
)
from storage import rawsql
from storage.models import Follow, Post, User, Visibility

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
    branches = [
        f"SELECT p.id FROM ({owners}) o JOIN posts p ON p.author_id = o.owner_id"
        + (f" WHERE {passing}" if passing is not None else "")
        for owners, passing in rule.by_owner_sql("$1", visibility="p.visibility")
    ]
    async with rawsql.reader(Post) as reader:
        rows = await reader.fetch(" UNION ALL ".join(branches), viewer)
    found = [row[0] for row in rows]
    assert len(found) == len(set(found)), "an owner's posts came from two terms"
    return set(found)


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
    assert HOME.to_sql("$1", owner="p.author_id", visibility="p.visibility") == (
        "(p.author_id = $1 OR (p.author_id IN (SELECT followee_id FROM follows"
        " WHERE follower_id = $1) AND p.visibility IN ('public', 'followers')))"
    )
    assert DISCOVER.to_sql("$1", owner="p.author_id", visibility="p.visibility") == (
        "p.visibility = 'public'"
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
    ("scan", "merge_max"),
    [(feedsql.WALK_SCAN, feedsql.MERGE_MAX_FOLLOWS), (1, feedsql.MERGE_MAX_FOLLOWS), (1, -1)],
    ids=["as configured", "merge", "walk to the end"],
)
@pytest.mark.parametrize("size", [1, 2, 4, 50])
async def test_the_home_page_statement_lists_the_rule_newest_first(
    size: int, scan: int, merge_max: int, graph: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the statement as configured (a small page is found by the short walk, a page larger
    # than the feed by the merge), or a short walk that never finds a page, so that the merge
    # answers, or the walk to the end (for a viewer who follows more than merge_max artists)
    monkeypatch.setattr(feedsql, "WALK_SCAN", scan)
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


@pytest.mark.parametrize("rule", [rules.INBOX, _with_exclusion(rules.INBOX)], ids=["none", "excl"])
async def test_the_exclusions_alone_agree_everywhere(rule: ReadRule, graph: dict[str, int]) -> None:
    """``unhidden_q`` and ``unhidden_sql`` (the inbox, search of members) keep exactly the
    owners ``hides`` does not hide, and a row with no owner (a nullable column) passes the
    filter."""
    for viewer in graph.values():
        expected = {u for u in graph.values() if not await rule.hides(viewer, u)}
        unhidden = rule.unhidden_q(viewer, owner="id")
        query = User.all() if unhidden is None else User.filter(unhidden)
        assert set(cast("list[int]", await query.values_list("id", flat=True))) == expected
        sql = f"SELECT u.id FROM users u WHERE {rule.unhidden_sql('$1', owner='u.id')}"
        async with rawsql.reader(User) as reader:
            rows = await reader.fetch(sql, *([viewer] if "$1" in sql else []))
        assert {row[0] for row in rows} == expected
