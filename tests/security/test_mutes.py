"""A mute takes the muted member's posts and notifications out of the muter's feeds and live
events, for a while or for good; nothing else changes and the muted member is not told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.models import Follow, Mute, User
from storage.persisted import sha256_of
from tests.graphql import GraphQLClient, global_id
from tests.security.conftest import PRODUCTION
from tests.security.subscriptions import Feed, Subscription

MUTE = """mutation($u: ID!, $d: Int) { muteUser(userId: $u, durationSeconds: $d) {
  user { handle } expiresAt errors { field code } } }"""
UNMUTE = "mutation($u: ID!) { unmuteUser(userId: $u) { user { handle } errors { code } } }"
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
CREATE_POST = """mutation($t: String!) { createPost(input: {text: $t}) {
  post { id } errors { code } } }"""
LIKE_POST = "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }"
HOME = "query MutedHome { homeFeed(first: 20) { nodes { text } } }"
DISCOVER = "query MutedDiscover { discoverFeed(first: 20) { nodes { text } } }"
TAG = '{ tagFeed(tag: "sky") { nodes { text } } }'
NOTIFICATIONS = "subscription { notifications { kind actor { handle } } }"


@pytest.fixture
async def trio(clean_db: str) -> AsyncIterator[tuple[GraphQLClient, dict[str, str]]]:
    """``mia`` follows ``noa`` and ``ole``; each of the two posted once, with a #tag."""
    async with GraphQLClient.for_app(**PRODUCTION) as gql:
        ids = {h: await gql.sign_up(h) for h in ("mia", "noa", "ole")}
        for followee in ("noa", "ole"):
            done = await gql.execute(FOLLOW, {"u": ids[followee]}, as_="mia")
            assert done.data["follow"]["errors"] == []
        for handle in ("noa", "ole"):
            await gql.execute(CREATE_POST, {"t": f"{handle} #sky"}, as_=handle)
        yield gql, ids


async def _texts(gql: GraphQLClient, query: str, feed: str, viewer: str = "mia") -> list[str]:
    result = await gql.execute(query, as_=viewer)
    assert "errors" not in result.body, result.body
    return [node["text"] for node in result.data[feed]["nodes"]]


async def _on_both_paths(gql: GraphQLClient, query: str, feed: str) -> list[str]:
    """The feed as mia, from the regular path and then from the compiled plan (which must have
    answered), which must agree."""
    plans = gql.app.state.graphql.plans
    regular = await _texts(gql, query, feed)
    assert plans.get(sha256_of(query), None) is not None
    served = plans.served
    compiled = await _texts(gql, query, feed)
    assert plans.served == served + 1
    assert compiled == regular
    return compiled


async def test_a_mute_empties_the_feeds_of_the_muted_and_nothing_else(
    trio: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = trio
    # given mia's feeds show noa and ole (plans learned from the first runs)
    assert await _on_both_paths(gql, HOME, "homeFeed") == ["ole #sky", "noa #sky"]
    assert await _on_both_paths(gql, DISCOVER, "discoverFeed") == ["ole #sky", "noa #sky"]
    # when mia mutes noa for good
    muted = await gql.execute(MUTE, {"u": ids["noa"], "d": None}, as_="mia")
    assert muted.data["muteUser"] == {"user": {"handle": "noa"}, "expiresAt": None, "errors": []}
    # then noa leaves mia's feeds, on both paths
    assert await _on_both_paths(gql, HOME, "homeFeed") == ["ole #sky"]
    assert await _on_both_paths(gql, DISCOVER, "discoverFeed") == ["ole #sky"]
    assert await _texts(gql, TAG, "tagFeed") == ["ole #sky"]
    # and nothing else changes: the follow stays, noa's profile and posts read as before
    assert await Follow.filter(followee__handle_key="noa").count() == 1
    profile = await gql.execute('{ user(handle: "noa") { posts { nodes { text } } } }', as_="mia")
    assert profile.data["user"]["posts"]["nodes"] == [{"text": "noa #sky"}]
    # and noa is not told: noa's own reads do not change
    assert await _texts(gql, DISCOVER, "discoverFeed", viewer="noa") == ["ole #sky", "noa #sky"]
    # when mia unmutes noa, noa is back
    unmuted = await gql.execute(UNMUTE, {"u": ids["noa"]}, as_="mia")
    assert unmuted.data["unmuteUser"]["errors"] == []
    assert await _on_both_paths(gql, HOME, "homeFeed") == ["ole #sky", "noa #sky"]


async def test_a_mute_ends_by_itself(trio: tuple[GraphQLClient, dict[str, str]]) -> None:
    gql, ids = trio
    muted = await gql.execute(MUTE, {"u": ids["noa"], "d": 3600}, as_="mia")
    ends = datetime.fromisoformat(muted.data["muteUser"]["expiresAt"])
    assert timedelta(seconds=3590) < ends - datetime.now(UTC) <= timedelta(seconds=3600)
    assert await _texts(gql, HOME, "homeFeed") == ["ole #sky"]
    listed = await gql.execute("{ viewer { mutedUsers { nodes { user { handle } } } } }", as_="mia")
    assert listed.data["viewer"]["mutedUsers"]["nodes"] == [{"user": {"handle": "noa"}}]
    # when the hour has passed (the row's end moved into the past)
    await Mute.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=5))
    # then noa is back everywhere, and the list no longer names noa
    assert await _texts(gql, HOME, "homeFeed") == ["ole #sky", "noa #sky"]
    assert await _texts(gql, DISCOVER, "discoverFeed") == ["ole #sky", "noa #sky"]
    listed = await gql.execute("{ viewer { mutedUsers { nodes { user { handle } } } } }", as_="mia")
    assert listed.data["viewer"]["mutedUsers"]["nodes"] == []


@pytest.mark.parametrize(
    ("duration", "code"),
    [(0, "INVALID"), (-5, "INVALID"), (366 * 86400 + 1, "INVALID")],
)
async def test_bad_durations_are_refused(
    trio: tuple[GraphQLClient, dict[str, str]], duration: int, code: str
) -> None:
    gql, ids = trio
    refused = await gql.execute(MUTE, {"u": ids["noa"], "d": duration}, as_="mia")
    assert refused.data["muteUser"]["errors"] == [{"field": "durationSeconds", "code": code}]
    assert await Mute.all().count() == 0


async def test_muting_oneself_or_no_one_is_refused(
    trio: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = trio
    me = await gql.execute(MUTE, {"u": ids["mia"]}, as_="mia")
    assert me.data["muteUser"]["errors"] == [{"field": "userId", "code": "INVALID"}]
    nobody = await gql.execute(MUTE, {"u": global_id("User", 1)}, as_="mia")
    assert nobody.data["muteUser"]["errors"] == [{"field": "userId", "code": "NOT_FOUND"}]
    assert await Mute.all().count() == 0


@pytest.mark.parametrize("fast", [False, True], ids=["executor", "fast-lane"])
async def test_an_open_home_feed_drops_the_muted_then_takes_them_back(
    trio: tuple[GraphQLClient, dict[str, str]], fast: bool
) -> None:
    gql, ids = trio
    feed = Feed(gql, await User.get(handle_key="mia"), fast=fast)
    await feed.start()
    try:
        # when mia mutes noa while her live feed is open
        await gql.execute(MUTE, {"u": ids["noa"]}, as_="mia")
        await asyncio.sleep(0.2)
        await gql.execute(CREATE_POST, {"t": "noa muted"}, as_="noa")
        ole = await gql.execute(CREATE_POST, {"t": "ole heard"}, as_="ole")
        # then only ole's post arrives
        assert await feed.next() == ("ADDED", ole.data["createPost"]["post"]["id"])
        assert await feed.drain() == []
        # when mia unmutes noa, noa's next post arrives again
        await gql.execute(UNMUTE, {"u": ids["noa"]}, as_="mia")
        await asyncio.sleep(0.2)
        back = await gql.execute(CREATE_POST, {"t": "noa back"}, as_="noa")
        assert await feed.next() == ("ADDED", back.data["createPost"]["post"]["id"])
    finally:
        await feed.close()


async def test_an_open_inbox_drops_notifications_of_the_muted(
    trio: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = trio
    posted = await gql.execute(CREATE_POST, {"t": "mia's work"}, as_="mia")
    post = posted.data["createPost"]["post"]["id"]
    inbox = Subscription(gql, await User.get(handle_key="mia"), NOTIFICATIONS)
    await inbox.start()
    try:
        await gql.execute(MUTE, {"u": ids["noa"]}, as_="mia")
        await asyncio.sleep(0.2)
        # when both like mia's post
        for handle in ("noa", "ole"):
            liked = await gql.execute(LIKE_POST, {"p": post}, as_=handle)
            assert liked.data["likePost"]["errors"] == []
        # then only ole's like is told (noa's like counts all the same)
        assert (await inbox.next_data())["notifications"]["actor"] == {"handle": "ole"}
        assert await inbox.drain() == []
        read = await gql.execute(f'{{ post(id: "{post}") {{ likeCount }} }}', as_="mia")
        assert read.data["post"]["likeCount"] == 2
    finally:
        await inbox.close()
