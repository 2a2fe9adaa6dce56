"""Plans rooted at ``user(handle:)`` (schema.plan_user) answer exactly what the regular path
answers: the profile header, posts, portfolio, followers and following, for the owner, a
follower, a stranger, an anonymous viewer and members a block or a suspension hides, with
documents written otherwise than the reference client's (order, aliases, fragments, subsets)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from schema.plan_user import UserPlan
from schema.planner import compile_plan
from storage import models
from tests.graphql import GraphQLClient, QueryCounter, global_id
from tests.schema.test_compiled import (
    _image,
    _mutate,
    _post,
    _reference,
    _same,
    pair,
    plans_of,
    seed,
)

__all__ = ["pair"]  # the fixture, shared with tests/schema/test_compiled.py

SCREENS = ["ProfileHeader", "ProfilePosts", "ProfilePortfolio", "Followers", "Following"]
VIEWERS = ["ana", "reader", "cyd", None, "dee"]  # owner, follower, stranger, anonymous, blocked
CONNECTION = {
    "ProfilePosts": "posts",
    "ProfilePortfolio": "portfolio",
    "Followers": "followers",
    "Following": "following",
}


async def seed_people(gql: GraphQLClient) -> None:
    """``seed``'s graph, and: dee, whom ana blocked; eve, suspended; both follow ana and are
    followed by her; cyd follows ana too; a sensitive and a PROCESSING image on ana's artwork
    and post; ana's followers-only and private artworks are in her portfolio already."""
    await seed(gql)
    for handle in ("dee", "eve"):
        await gql.sign_up(handle)
    ids = {u.handle: u.id for u in await models.User.all()}
    for follower in ("dee", "eve", "cyd"):
        await _mutate(
            gql,
            "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
            {"u": global_id("User", ids["ana"])},
            follower,
        )
    for followee in ("dee", "eve", "ben"):
        await _mutate(
            gql,
            "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
            {"u": global_id("User", ids[followee])},
            "ana",
        )
    await models.Block.create(blocker_id=ids["ana"], blocked_id=ids["dee"])
    await models.User.filter(id=ids["eve"]).update(suspended_at=datetime.now(UTC))
    artwork = await models.Artwork.filter(owner_id=ids["ana"], title="Harbour").get()
    post = await models.Post.filter(author_id=ids["ana"], text="new work #oil").get()
    for target in ({"artwork": artwork.id}, {"post": post.id}):
        for n in (20, 21):
            await _image(ids["ana"], position=n, **target)
    newest = await models.MediaAsset.filter(owner_id=ids["ana"]).order_by("-id").limit(4)
    await models.MediaAsset.filter(id__in=[m.id for m in newest[::2]]).update(sensitive=True)
    await models.MediaAsset.filter(id__in=[m.id for m in newest[1::2]]).update(
        status=models.MediaStatus.PROCESSING
    )
    for n in range(3):  # more of ana's posts, to page through
        await _post(gql, "ana", text=f"ana {n}", visibility=("PUBLIC", "FOLLOWERS", "PRIVATE")[n])


async def _cursors(
    regular: GraphQLClient, connection: str, handle: str, as_: str | None
) -> list[str]:
    query = (
        f"{{ user(handle: {handle!r}) {{ {connection}(first: 100) {{ edges {{ cursor }} }} }} }}"
    )
    result = await regular.execute(query.replace("'", '"'), as_=as_)
    user = result.data["user"]
    return [] if user is None else [edge["cursor"] for edge in user[connection]["edges"]]


@pytest.mark.parametrize("name", SCREENS)
async def test_the_reference_screens_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient], name: str
) -> None:
    # given the reference client's profile screens, which a plan covers
    compiled, regular = pair
    await seed_people(compiled)
    query = _reference(name)
    assert isinstance(compile_plan(query, name), UserPlan)
    # then each page of them, of each person, answers what the regular path answers, for the
    # owner, a follower, a stranger, an anonymous viewer and a blocked member
    asked = 0
    shown = 0
    for handle in ("ana", "ben", "eve", "dee", "ANA", "nobody"):
        for as_ in VIEWERS:
            pages: list[dict[str, Any]] = [{"handle": handle}, {"handle": handle, "first": 2}]
            if name in CONNECTION:
                cursors = await _cursors(regular, CONNECTION[name], handle, as_)
                if len(cursors) > 1:
                    pages.append({"handle": handle, "first": 2, "after": cursors[0]})
            for variables in pages:
                body = await _same(compiled, regular, query, variables, as_)
                assert "errors" not in body, body
                asked += 1
                shown += body["data"]["user"] is not None
    assert plans_of(compiled).served == asked * 2 - 1
    assert shown > asked // 3  # most persons are shown; some are hidden


FIELDS = ("id", "handle", "displayName", "__typename", "bio", "links", "openForCommissions")
MORE = ("aiTrainingPolicy", "followerCount", "followingCount", "createdAt", "postCount")
VIEWER = ("artworkCount", "isViewer", "isFollowedByViewer")

# The screens written as another client would write them: other order, aliases, fragments
# (inline and named, on the interface), subsets, literals, the root's __typename.
REWRITTEN = [
    """query Header($h: String!) { __typename who: user(handle: $h) {
       ... on Node { id } isFollowedByViewer isViewer counts: postCount artworkCount
       pic: avatar { u: url(size: THUMBNAIL) dominantColor id big: url } ...Names } }
       fragment Names on User { displayName handle bio links }""",
    """query($who: String!, $n: Int, $c: String) { user(handle: $who) {
       posts(after: $c, first: $n) { pageInfo { endCursor hasNextPage hasPreviousPage }
       edges { node { ...Card } cursor } } } }
       fragment Card on Post { createdAt visibility replyCount images { url(size: MEDIUM) width }
       artworks { title aiTrainingPolicy images { id altText url(size: MEDIUM) } viewerHasLiked }
       text author { handle avatar { url(size: THUMBNAIL) } isFollowedByViewer postCount } }""",
    """query($who: String!, $c: String) { user(handle: $who) { handle
       grid: portfolio(first: 2, after: $c) { nodes { title } edges { cursor node { id
       ... on Artwork { images { variants { size url } } likeCount viewerHasLiked
       aiTrainingPolicyOverride visibility } } } pageInfo { startCursor endCursor } } } }""",
    """query People($who: String!, $first: Int = 2, $after: String) { user(handle: $who) {
       followerCount followers(first: $first, after: $after) { __typename
       edges { cursor node { isFollowedByViewer ...Thumb } } nodes { postCount }
       pageInfo { hasNextPage endCursor } } } }
       fragment Thumb on User { handle avatar { id url(size: THUMBNAIL) } }""",
    """query($who: String!, $after: String) { user(handle: $who) {
       following(first: 3, after: $after) { pageInfo { endCursor }
       edges { node { displayName id isViewer } } } id } }""",
]


@pytest.mark.parametrize("query", REWRITTEN)
async def test_documents_written_otherwise_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient], query: str
) -> None:
    compiled, regular = pair
    await seed_people(compiled)
    assert isinstance(compile_plan(query, None), UserPlan), query
    connection = next(
        (c for c in ("posts", "portfolio", "followers", "following") if c in query), None
    )
    who = "$h" if "$h" in query else "$who"
    asked = 0
    for handle in ("ana", "ben", "dee", "eve"):
        for as_ in VIEWERS:
            variables: list[dict[str, Any]] = [{who[1:]: handle}]
            if connection is not None:
                cursors = await _cursors(regular, connection, handle, as_)
                after = "c" if "$c" in query else "after"
                if len(cursors) > 1:
                    variables.append({who[1:]: handle, after: cursors[1]})
                if "$n" in query:
                    variables = [{**v, "n": 2} for v in variables]
            for v in variables:
                body = await _same(compiled, regular, query, v, as_)
                assert "errors" not in body, body
                asked += 1
    assert plans_of(compiled).served == asked * 2 - 1


def random_profile(rng: random.Random) -> tuple[str, str | None]:
    """A user-rooted document with a random selection of the person and of one connection."""

    def pick(fields: Sequence[str]) -> list[str]:
        return rng.sample(list(fields), rng.randint(1, min(len(fields), 5)))

    fields = pick(FIELDS + MORE + VIEWER)
    if rng.random() < 0.4:
        fields.append("avatar { id url(size: THUMBNAIL) }")
    connection = rng.choice([None, "posts", "portfolio", "followers", "following"])
    if connection is not None:
        node = {
            "posts": "id text likeCount viewerHasLiked author { handle } artworks { title }",
            "portfolio": "id title aiTrainingPolicy images { url(size: MEDIUM) }",
            "followers": "handle isFollowedByViewer artworkCount",
            "following": "id postCount avatar { dominantColor }",
        }[connection]
        edges = f"edges {{ cursor node {{ {node} }} }}"
        fields.append(
            f"{connection}(first: $n, after: $a) {{ {edges} pageInfo {{ endCursor hasNextPage }} }}"
        )
        head = "query($h: String!, $n: Int, $a: String)"
    else:
        head = "query($h: String!)"
    rng.shuffle(fields)
    return f"{head} {{ user(handle: $h) {{ {' '.join(fields)} }} }}", connection


async def test_random_profile_documents_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],
) -> None:
    compiled, regular = pair
    await seed_people(compiled)
    rng = random.Random(20261205)
    asked = 0
    for _ in range(12):
        query, connection = random_profile(rng)
        assert isinstance(compile_plan(query, None), UserPlan), query
        for as_ in ("reader", "ana", None, "dee"):
            variables: dict[str, Any] = {"h": "ana"}
            if connection is not None:
                variables["n"] = 2
            await _same(compiled, regular, query, variables, as_)
            asked += 1
    assert plans_of(compiled).served == asked * 2 - 12


@pytest.mark.parametrize(
    ("variables", "fails"),
    [
        ({"handle": "ana", "first": 0}, False),
        ({"handle": "ana", "first": 100}, False),
        ({"handle": "nobody", "first": 101}, False),  # the person is missing: null, no error
        ({"handle": "ana", "first": 101}, True),
        ({"handle": "ana", "first": -1}, True),
        ({"handle": "ana", "first": "2"}, True),
        ({"handle": "ana", "after": "bm90IGEgY3Vyc29y"}, True),  # not our cursor
        ({"handle": "ana", "after": "cG9ydGZvbGlvOjE6Mg"}, True),  # a portfolio cursor
        ({"handle": "a" * 5000}, False),  # longer than any handle: null
        ({"handle": "an\x00a"}, False),  # not storable: null
        ({"handle": 7}, True),
        ({}, True),
    ],
)
async def test_edge_inputs_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient], variables: dict[str, Any], fails: bool
) -> None:
    compiled, regular = pair
    await seed_people(compiled)
    query = _reference("ProfilePosts")
    await _same(compiled, regular, query, {"handle": "ana"}, "reader")  # compiled from here on
    for as_ in ("reader", None):
        body = await _same(compiled, regular, query, variables, as_)
        assert ("errors" in body) == fails, body


async def test_sensitive_and_unready_images_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],
) -> None:
    # given ana's sensitive and PROCESSING images (seed_people), on her posts and artworks
    compiled, regular = pair
    await seed_people(compiled)
    sensitive: list[int] = await models.MediaAsset.filter(sensitive=True).values_list(
        "id", flat=True
    )  # type: ignore[assignment]
    processing: list[int] = await models.MediaAsset.filter(
        status=models.MediaStatus.PROCESSING
    ).values_list("id", flat=True)  # type: ignore[assignment]
    assert sensitive
    assert processing
    for name in ("ProfilePosts", "ProfilePortfolio"):
        query = _reference(name)
        seen: dict[str | None, dict[str, Any]] = {}
        for as_ in ("ana", "reader"):
            body = await _same(compiled, regular, query, {"handle": "ana", "first": 50}, as_)
            connection = body["data"]["user"][CONNECTION[name]]
            images = {
                image["id"]: image
                for edge in connection["edges"]
                for image in [
                    *edge["node"]["images"],
                    *(i for a in edge["node"].get("artworks", []) for i in a["images"]),
                ]
            }
            seen[as_] = images
        # then no PROCESSING image is shown; a sensitive one has its URL for ana only
        for images in seen.values():
            assert not {global_id("MediaAsset", i) for i in processing} & set(images)
        shown = [global_id("MediaAsset", i) for i in sensitive]
        assert any(i in seen["ana"] and seen["ana"][i]["url"] for i in shown)
        assert all(seen["reader"][i]["url"] is None for i in shown if i in seen["reader"])


@pytest.mark.parametrize("name", SCREENS)
async def test_a_screen_costs_a_statement_per_kind(gql: GraphQLClient, name: str) -> None:
    # given the seeded graph and a screen compiled by a first run
    await seed_people(gql)
    query = _reference(name)
    await gql.execute(query, {"handle": "ana", "first": 1}, as_="reader")
    counts = {}
    for first in (5, 20, 50):
        with QueryCounter.capture() as counter:
            result = await gql.execute(query, {"handle": "ana", "first": first}, as_="reader")
        assert result.data["user"] is not None
        counts[first] = len(counter.statements)
    # then a page costs the same number of statements whatever its size: the token, the
    # person, the page, and one per kind of image, the viewer's artwork likes and (with a
    # sensitive image of someone else's) the viewer's setting
    assert len(set(counts.values())) == 1, (counts, counter.statements)
    assert counts[5] <= 8, counter.statements
    assert plans_of(gql).served == 3


NOT_COMPILED = [
    # a page below the person's page, or two pages
    '{ user(handle: "ana") { posts { edges { node { author { posts { nodes { id } } } } } } } }',
    '{ user(handle: "ana") { followers { nodes { following { nodes { id } } } } } }',
    '{ user(handle: "ana") { posts { nodes { id } } portfolio { nodes { id } } } }',
    '{ user(handle: "ana") { email } }',  # private
    '{ user(handle: "ana") { blockedUsers { nodes { id } } } }',
    "query($h: ID!) { user(handle: $h) { id } }",  # a variable of another type
    "query($h: String!, $x: Int) { user(handle: $h) { id } }",  # a variable it does not use
    "query($h: String!, $s: Boolean!) { user(handle: $h) { id @include(if: $s) } }",
    '{ user(handle: "ana") { id } viewer { id } }',  # two root fields
    '{ a: user(handle: "ana") { id } b: user(handle: "ben") { id } }',
]


@pytest.mark.parametrize("query", NOT_COMPILED)
def test_documents_a_user_plan_does_not_cover(query: str) -> None:
    assert compile_plan(query, None) is None
