"""A block hides two members from each other everywhere, and reads as missing.

One graph per database: ``ada`` and ``bea`` followed each other, each posted (public and
followers-only, one with a #tag), each has an artwork, each commented on and replied to a post
of ``fan``, who follows both; then bea blocked ada. Every read is asked as ada and as bea (each
must not find the other), and as fan (who must find both: the things exist). The feeds run on
both paths (the regular execution, and the compiled plan: ``schema.compiled``); live events run
on the regular executor and on the fast lane.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from schema.plans import Unknown
from storage.models import Block, Follow, User
from storage.persisted import sha256_of
from tests.conftest import empty
from tests.graphql import GraphQLClient, Result, pk_of
from tests.security.conftest import PRODUCTION
from tests.security.subscriptions import Feed, Subscription

ADA, BEA, FAN = "ada", "bea", "fan"
OTHER = {ADA: BEA, BEA: ADA}

FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
BLOCK = "mutation($u: ID!) { blockUser(userId: $u) { user { handle } errors { field code } } }"
UNBLOCK = "mutation($u: ID!) { unblockUser(userId: $u) { user { handle } errors { code } } }"
CREATE_POST = """mutation($i: CreatePostInput!) { createPost(input: $i) {
  post { id } errors { field code } } }"""
CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id } errors { code } } }"""
ADD_COMMENT = """mutation($s: ID!, $t: String!) { addComment(input: {subjectId: $s, text: $t}) {
  comment { id } errors { field code } } }"""
LIKE_POST = "mutation($p: ID!) { likePost(postId: $p) { errors { field code } } }"
LIKE_ARTWORK = "mutation($a: ID!) { likeArtwork(artworkId: $a) { errors { field code } } }"

# name: (author, visibility, text, replies to)
POSTS = {
    "f_pub": (FAN, "PUBLIC", "fan says hi", None),
    "a_pub": (ADA, "PUBLIC", "ada #sea", None),
    "a_fol": (ADA, "FOLLOWERS", "ada for followers", None),
    "b_pub": (BEA, "PUBLIC", "bea #sea", None),
    "b_fol": (BEA, "FOLLOWERS", "bea for followers", None),
    "r_a": (ADA, "PUBLIC", "ada answers fan", "f_pub"),
    "r_b": (BEA, "PUBLIC", "bea answers fan", "f_pub"),
}
ARTWORKS = {"aw": ADA, "bw": BEA}
COMMENTS = {"c_a": (ADA, "f_pub"), "c_b": (BEA, "f_pub"), "c_fa": (FAN, "a_pub")}
OWNER = {
    **{name: author for name, (author, *_) in POSTS.items()},
    **ARTWORKS,
    **{name: author for name, (author, _) in COMMENTS.items()},
}


def of(handle: str) -> set[str]:
    return {name for name, owner in OWNER.items() if owner == handle}


@dataclass
class World:
    compiled: GraphQLClient
    regular: GraphQLClient
    ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    async def run(
        self, viewer: str, query: str, variables: dict[str, Any] | None = None, *, regular: bool
    ) -> Result:
        client = self.regular if regular else self.compiled
        return await client.execute(query, variables, as_=viewer)

    async def mutate(self, viewer: str, query: str, variables: dict[str, Any]) -> Any:
        result = await self.compiled.execute(query, variables, as_=viewer)
        (payload,) = result.data.values()
        assert payload["errors"] == [], payload
        return payload

    def named(self, nodes: list[dict[str, Any]]) -> list[str]:
        return [self.names[node["id"]] for node in nodes]


async def _seed(world: World) -> None:
    for handle in (ADA, BEA, FAN):
        world.ids[handle] = await world.compiled.sign_up(handle)
    for follower, followee in ((ADA, BEA), (BEA, ADA), (FAN, ADA), (FAN, BEA)):
        await world.mutate(follower, FOLLOW, {"u": world.ids[followee]})
    for name, (author, visibility, text, reply_to) in POSTS.items():
        fields = {"text": text, "visibility": visibility}
        if reply_to is not None:
            fields["replyTo"] = world.ids[reply_to]
        world.ids[name] = (await world.mutate(author, CREATE_POST, {"i": fields}))["post"]["id"]
    for name, artist in ARTWORKS.items():
        made = await world.mutate(artist, CREATE_ARTWORK, {"i": {"title": name}})
        world.ids[name] = made["artwork"]["id"]
    for name, (author, subject) in COMMENTS.items():
        made = await world.mutate(author, ADD_COMMENT, {"s": world.ids[subject], "t": name})
        world.ids[name] = made["comment"]["id"]
    blocked = await world.mutate(BEA, BLOCK, {"u": world.ids[ADA]})
    assert blocked["user"] == {"handle": ADA}
    world.names = {global_id: name for name, global_id in world.ids.items()}
    world.regular._tokens = world.compiled._tokens


@pytest.fixture(scope="module")
async def world(database: str) -> AsyncIterator[World]:
    await empty(database)
    async with (
        GraphQLClient.for_app(**PRODUCTION) as compiled,
        GraphQLClient.for_app(**PRODUCTION, GESSO_COMPILED_QUERIES="false") as regular,
    ):
        seeded = World(compiled, regular)
        await _seed(seeded)
        yield seeded


VIEWERS = (ADA, BEA, FAN)


def hidden_from(viewer: str) -> set[str]:
    """What the viewer must not find: everything of the other side of the block, and the
    comments on it."""
    if viewer not in OTHER:
        return set()
    theirs = of(OTHER[viewer])
    return theirs | {name for name, (_, subject) in COMMENTS.items() if subject in theirs}


# --- the block itself ---------------------------------------------------------------------------


async def test_a_block_ends_the_follows_both_ways(world: World) -> None:
    ada, bea = pk_of(world.ids[ADA]), pk_of(world.ids[BEA])
    assert await Block.filter(blocker_id=bea, blocked_id=ada).count() == 1
    assert await Follow.filter(follower_id__in=[ada, bea], followee_id__in=[ada, bea]).count() == 0
    counts = {u.handle: (u.follower_count, u.following_count) for u in await User.all()}
    # fan still follows both; ada and bea follow no one now
    assert counts == {ADA: (1, 0), BEA: (1, 0), FAN: (0, 2)}


@pytest.mark.parametrize("regular", [False, True], ids=["compiled-app", "regular-app"])
async def test_only_the_blocker_sees_the_block(world: World, regular: bool) -> None:
    query = (
        "query($h: String!) { viewer { blockedUsers { nodes { handle } } }"
        " user(handle: $h) { blockedUsers { nodes { handle } } } }"
    )
    mine = await world.run(BEA, query, {"h": FAN}, regular=regular)
    assert mine.data["viewer"]["blockedUsers"]["nodes"] == [{"handle": ADA}]
    assert mine.data["user"]["blockedUsers"] is None  # someone else's list: not yours to read
    theirs = await world.run(ADA, query, {"h": FAN}, regular=regular)
    assert theirs.data["viewer"]["blockedUsers"]["nodes"] == []


# --- lookups read as missing ---------------------------------------------------------------------


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_profiles_read_as_missing(world: World, viewer: str) -> None:
    query = "{ " + " ".join(f'{h}: user(handle: "{h}") {{ id }}' for h in (ADA, BEA, FAN)) + " }"
    data = (await world.run(viewer, query, regular=True)).data
    found = {handle for handle, user in data.items() if user is not None}
    assert found == {ADA, BEA, FAN} - ({OTHER[viewer]} if viewer in OTHER else set())


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_nodes_read_as_missing(world: World, viewer: str) -> None:
    names = [ADA, BEA, FAN, *POSTS, *ARTWORKS, *COMMENTS]
    query = "{ " + " ".join(f'{n}: node(id: "{world.ids[n]}") {{ id }}' for n in names) + " }"
    data = (await world.run(viewer, query, regular=True)).data
    found = {name for name, node in data.items() if node is not None}
    missing = hidden_from(viewer)
    if viewer in OTHER:
        missing.add(OTHER[viewer])
    assert found == set(names) - missing


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_posts_and_artworks_by_id_read_as_missing(world: World, viewer: str) -> None:
    fields = [f'{n}: post(id: "{world.ids[n]}") {{ id }}' for n in POSTS]
    fields += [f'{n}: artwork(id: "{world.ids[n]}") {{ id }}' for n in ARTWORKS]
    data = (await world.run(viewer, "{ " + " ".join(fields) + " }", regular=True)).data
    found = {name for name, node in data.items() if node is not None}
    # fan follows both; ada and bea see their own followers-only posts
    assert found == (set(POSTS) | set(ARTWORKS)) - hidden_from(viewer)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_comments_and_followers_leave_out_the_other(world: World, viewer: str) -> None:
    post = world.ids["f_pub"]
    query = (
        f'{{ post(id: "{post}") {{ comments {{ nodes {{ id }} }} }} user(handle: "fan") {{'
        " following { nodes { handle } } } }"
    )
    data = (await world.run(viewer, query, regular=True)).data
    comments = set(world.named(data["post"]["comments"]["nodes"]))
    assert comments == {"c_a", "c_b"} - hidden_from(viewer)
    following = {node["handle"] for node in data["user"]["following"]["nodes"]}
    assert following == {ADA, BEA} - ({OTHER[viewer]} if viewer in OTHER else set())


# --- the feeds, on both paths --------------------------------------------------------------------

FEED_QUERY = (
    "query {feed}Page {{ {feed}(first: 50) {{ nodes {{ id author {{ handle postCount }} }} }} }}"
)


async def _feed(world: World, viewer: str, feed: str, path: str) -> list[str]:
    query = FEED_QUERY.format(feed=feed)
    if path == "regular":
        result = await world.run(viewer, query, regular=True)
    else:
        plans = world.compiled.app.state.graphql.plans
        if isinstance(plans.get(sha256_of(query), None), Unknown):
            assert (await world.run(FAN, query, regular=False)).errors == []
        assert plans.get(sha256_of(query), None) is not None, "no plan for the feed"
        served = plans.served
        result = await world.run(viewer, query, regular=False)
        assert plans.served == served + 1  # the plan answered
    assert result.errors == [], result.body
    return world.named(result.data[feed]["nodes"])


@pytest.mark.parametrize("path", ["regular", "compiled"])
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_discover_feed(world: World, viewer: str, path: str) -> None:
    seen = await _feed(world, viewer, "discoverFeed", path)
    public = ["r_b", "r_a", "b_pub", "a_pub", "f_pub"]
    assert seen == [name for name in public if name not in hidden_from(viewer)]


@pytest.mark.parametrize("path", ["regular", "compiled"])
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_home_feed_even_with_a_follow_left_over(world: World, viewer: str, path: str) -> None:
    # given a follow row between the two (written behind the API's back: a block ends them, so
    # only the rule stands between them here)
    ada, bea = pk_of(world.ids[ADA]), pk_of(world.ids[BEA])
    leftover = await Follow.create(follower_id=ada, followee_id=bea)
    mirror = await Follow.create(follower_id=bea, followee_id=ada)
    try:
        seen = await _feed(world, viewer, "homeFeed", path)
    finally:
        await leftover.delete()
        await mirror.delete()
    expected = {
        ADA: ["r_a", "a_fol", "a_pub"],
        BEA: ["r_b", "b_fol", "b_pub"],
        FAN: ["r_b", "r_a", "b_fol", "b_pub", "a_fol", "a_pub", "f_pub"],
    }
    assert seen == expected[viewer]


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_tag_feed(world: World, viewer: str) -> None:
    result = await world.run(viewer, '{ tagFeed(tag: "sea") { nodes { id } } }', regular=True)
    seen = world.named(result.data["tagFeed"]["nodes"])
    assert seen == [name for name in ("b_pub", "a_pub") if name not in hidden_from(viewer)]


# --- neither may act on the other ----------------------------------------------------------------


@pytest.mark.parametrize("viewer", [ADA, BEA])
async def test_neither_may_follow_like_comment_or_reply(world: World, viewer: str) -> None:
    other = OTHER[viewer]
    post, artwork = world.ids[f"{other[0]}_pub"], world.ids[f"{other[0]}w"]
    attempts: dict[str, tuple[str, dict[str, Any]]] = {
        "follow": (FOLLOW, {"u": world.ids[other]}),
        "likePost": (LIKE_POST, {"p": post}),
        "likeArtwork": (LIKE_ARTWORK, {"a": artwork}),
        "addComment": (ADD_COMMENT, {"s": post, "t": "hey"}),
        "createPost": (CREATE_POST, {"i": {"text": "hey", "replyTo": post}}),
    }
    for name, (query, variables) in attempts.items():
        result = await world.compiled.execute(query, variables, as_=viewer)
        codes = [error["code"] for error in result.data[name]["errors"]]
        assert codes == ["NOT_FOUND"], (name, result.body)
    # and nothing was written
    assert await Follow.filter(follower__handle_key=viewer).count() == 0


# --- live events and subscriptions already open --------------------------------------------------


@pytest.fixture
async def pair(clean_db: str) -> AsyncIterator[tuple[GraphQLClient, dict[str, User]]]:
    async with GraphQLClient.for_app() as gql:
        ids = {h: await gql.sign_up(h) for h in (ADA, BEA)}
        for follower, followee in ((ADA, BEA), (BEA, ADA)):
            done = await gql.execute(FOLLOW, {"u": ids[followee]}, as_=follower)
            assert done.data["follow"]["errors"] == []
        yield gql, {h: await User.get(handle_key=h) for h in (ADA, BEA)}


async def _post(gql: GraphQLClient, author: str, text: str) -> str:
    made = await gql.execute(CREATE_POST, {"i": {"text": text}}, as_=author)
    return str(made.data["createPost"]["post"]["id"])


@pytest.mark.parametrize("fast", [False, True], ids=["executor", "fast-lane"])
async def test_open_home_feeds_stop_at_the_block(
    pair: tuple[GraphQLClient, dict[str, User]], fast: bool
) -> None:
    gql, users = pair
    feeds = {h: Feed(gql, users[h], fast=fast) for h in (ADA, BEA)}
    for feed in feeds.values():
        await feed.start()
    try:
        # given each hears the other's posts
        before = await _post(gql, BEA, "before")
        assert await feeds[ADA].next() == ("ADDED", before)
        assert await feeds[BEA].next() == ("ADDED", before)
        # when bea blocks ada, on subscriptions already open
        blocked = await gql.execute(BLOCK, {"u": str(gql_id(users[ADA]))}, as_=BEA)
        assert blocked.data["blockUser"]["errors"] == []
        await asyncio.sleep(0.2)
        # then neither hears the other any more, and each still hears themself
        hidden = [await _post(gql, BEA, "after"), await _post(gql, ADA, "after too")]
        assert [event["homeFeed"]["post"]["id"] for event in await feeds[ADA].drain()] == [
            hidden[1]
        ]
        assert [event["homeFeed"]["post"]["id"] for event in await feeds[BEA].drain()] == [
            hidden[0]
        ]
    finally:
        for feed in feeds.values():
            await feed.close()


NOTIFICATIONS = "subscription { notifications { kind actor { handle } } }"


async def test_open_notifications_stop_at_the_block(
    pair: tuple[GraphQLClient, dict[str, User]],
) -> None:
    gql, users = pair
    # given ada listens for notifications, and bea likes ada's post
    post = await _post(gql, ADA, "mine")
    inbox = Subscription(gql, users[ADA], NOTIFICATIONS)
    await inbox.start()
    try:
        liked = await gql.execute(LIKE_POST, {"p": post}, as_=BEA)
        assert liked.data["likePost"]["errors"] == []
        assert (await inbox.next_data())["notifications"]["actor"] == {"handle": BEA}
        # when ada blocks bea, then bea's unlike and like are refused and nothing arrives
        await gql.execute(BLOCK, {"u": str(gql_id(users[BEA]))}, as_=ADA)
        again = await gql.execute(LIKE_POST, {"p": post}, as_=BEA)
        assert [e["code"] for e in again.data["likePost"]["errors"]] == ["NOT_FOUND"]
        assert await inbox.drain() == []
    finally:
        await inbox.close()


async def test_unblocking_restores_lookups_not_follows(
    pair: tuple[GraphQLClient, dict[str, User]],
) -> None:
    gql, users = pair
    ada = str(gql_id(users[ADA]))
    await gql.execute(BLOCK, {"u": ada}, as_=BEA)
    assert (await gql.execute('{ user(handle: "ada") { id } }', as_=BEA)).data["user"] is None
    # when bea unblocks ada
    done = await gql.execute(UNBLOCK, {"u": ada}, as_=BEA)
    assert done.data["unblockUser"]["errors"] == []
    # then each finds the other again, and the follows the block ended stay ended
    assert (await gql.execute('{ user(handle: "ada") { id } }', as_=BEA)).data["user"]
    assert (await gql.execute('{ user(handle: "bea") { id } }', as_=ADA)).data["user"]
    assert await Follow.all().count() == 0


async def test_bad_blocks_are_refused(pair: tuple[GraphQLClient, dict[str, User]]) -> None:
    gql, users = pair
    me = await gql.execute(BLOCK, {"u": str(gql_id(users[BEA]))}, as_=BEA)
    assert me.data["blockUser"]["errors"] == [{"field": "userId", "code": "INVALID"}]
    gone = await gql.execute(BLOCK, {"u": str(gql_id(users[BEA], pk=1))}, as_=BEA)
    assert gone.data["blockUser"]["errors"] == [{"field": "userId", "code": "NOT_FOUND"}]
    assert await Block.all().count() == 0
    # blocking twice is not an error, and there is one block
    for _ in range(2):
        twice = await gql.execute(BLOCK, {"u": str(gql_id(users[ADA]))}, as_=BEA)
        assert twice.data["blockUser"]["errors"] == []
    assert await Block.all().count() == 1


def gql_id(user: User, *, pk: int | None = None) -> str:
    from tests.graphql import global_id

    return global_id("User", user.id if pk is None else pk)


IDENTIFY = """mutation($f: Upload!) { identifyImage(file: $f) {
  found artist { handle } artwork { title } image { id } errors { code } } }"""
CREATE_ARTWORK_WITH_IMAGE = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { images { url(size: MEDIUM, format: JPEG) } } errors { code } } }"""


async def test_identify_image_names_no_artist_across_a_block(
    pair: tuple[GraphQLClient, dict[str, User]],
) -> None:
    from tests.images import photo

    gql, users = pair
    # given a copy of ada's published image
    made = await gql.upload(
        CREATE_ARTWORK_WITH_IMAGE,
        {"i": {"title": "Harbour", "images": [{"file": None}]}},
        {"i.images.0.file": ("harbour.jpg", photo(seed=5), "image/jpeg")},
        as_=ADA,
    )
    url = made.data["createArtwork"]["artwork"]["images"][0]["url"]
    copy = (await gql.http.get(url)).content

    async def identify(viewer: str) -> dict[str, Any]:
        done = await gql.upload(
            IDENTIFY, {"f": None}, {"f": ("c.jpg", copy, "image/jpeg")}, as_=viewer
        )
        answer: dict[str, Any] = done.data["identifyImage"]
        return answer

    seen = await identify(BEA)
    assert seen["artist"] == {"handle": ADA}
    assert seen["artwork"] == {"title": "Harbour"}
    # when ada blocks bea, then bea learns nothing of the artist or the work
    await gql.execute(BLOCK, {"u": str(gql_id(users[BEA]))}, as_=ADA)
    hidden = await identify(BEA)
    assert hidden == {"found": True, "artist": None, "artwork": None, "image": None, "errors": []}
