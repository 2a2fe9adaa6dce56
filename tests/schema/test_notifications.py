"""The notifications inbox: stored notifications of every kind, likes grouped, mentions, the
read mark, keyset pages, the live replay with ``after``, the exclusions of ``rules.INBOX`` and
pruning."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from graphql import ExecutionResult

from resolvers import inbox, passwords, rules
from resolvers.context import Context
from schema.root import schema
from storage.models import Notification, NotificationKind, User
from tests.graphql import GraphQLClient, pk_of

INBOX = """query($first: Int, $after: String) {
  viewer { unreadNotificationCount }
  notifications(first: $first, after: $after) {
    edges { cursor node { id kind text read actorCount actor { handle } actors { handle }
      message post { text } artwork { title } comment { text } } }
    pageInfo { hasNextPage endCursor } } }"""
UNREAD = "{ viewer { unreadNotificationCount } }"
MARK = """mutation($n: ID) { markNotificationsRead(upTo: $n) {
  unreadNotificationCount viewer { unreadNotificationCount } errors { field code } } }"""
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
LIKE_POST = "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }"
UNFOLLOW = "mutation($u: ID!) { unfollow(userId: $u) { errors { code } } }"
UNLIKE_POST = "mutation($p: ID!) { unlikePost(postId: $p) { errors { code } } }"
LIKE_ARTWORK = "mutation($a: ID!) { likeArtwork(artworkId: $a) { errors { code } } }"
POST = """mutation($i: CreatePostInput!) {
  createPost(input: $i) { post { id } errors { code } } }"""
ARTWORK = """mutation($i: CreateArtworkInput!) {
  createArtwork(input: $i) { artwork { id } errors { code } } }"""
COMMENT = """mutation($s: ID!, $t: String!) { addComment(input: {subjectId: $s, text: $t}) {
  comment { id } errors { code } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Notification { kind } } }"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at a token cost: these tests sign up many accounts."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


async def _post(gql: GraphQLClient, handle: str, text: str, **more: Any) -> str:
    made = await gql.execute(POST, {"i": {"text": text, **more}}, as_=handle)
    assert made.data["createPost"]["errors"] == [], made.body
    return str(made.data["createPost"]["post"]["id"])


async def _ok(gql: GraphQLClient, document: str, variables: dict[str, Any], handle: str) -> None:
    done = await gql.execute(document, variables, as_=handle)
    (payload,) = done.data.values()
    assert payload["errors"] == [], done.body


async def _inbox(gql: GraphQLClient, handle: str, **page: Any) -> dict[str, Any]:
    result = await gql.execute(INBOX, page, as_=handle)
    return result.data


def _kinds(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["node"]["kind"], e["node"]["text"]) for e in data["notifications"]["edges"]]


async def test_every_kind_is_stored_newest_first_with_its_sentence(gql: GraphQLClient) -> None:
    # given an artist with a post and an artwork, and members who act on them
    await gql.sign_up("ada")
    bea = await gql.sign_up("bea")
    await gql.sign_up("cyd")
    post = await _post(gql, "bea", "New series soon")
    made = await gql.execute(ARTWORK, {"i": {"title": "Dunes"}}, as_="bea")
    artwork = made.data["createArtwork"]["artwork"]["id"]
    # when they follow, like, comment, reply and mention her
    await _ok(gql, FOLLOW, {"u": bea}, "ada")
    await _ok(gql, LIKE_ARTWORK, {"a": artwork}, "ada")
    await _ok(gql, COMMENT, {"s": post, "t": "Can't wait"}, "cyd")
    await _post(gql, "cyd", "Me neither", replyTo=post)
    await _post(gql, "ada", "Look at @Bea's dunes")
    # then her inbox holds each, newest first, with a sentence and what it names
    data = await _inbox(gql, "bea")
    assert _kinds(data) == [
        ("MENTION", "ada mentioned you"),
        ("REPLY", "cyd replied to your post"),
        ("COMMENT", "cyd commented on your post"),
        ("ARTWORK_LIKED", "ada liked your artwork"),
        ("NEW_FOLLOWER", "ada started following you"),
    ]
    nodes = [edge["node"] for edge in data["notifications"]["edges"]]
    assert nodes[0]["post"] == {"text": "Look at @Bea's dunes"}
    assert nodes[1]["post"] == {"text": "Me neither"}
    assert nodes[2]["comment"] == {"text": "Can't wait"}
    assert nodes[3]["artwork"] == {"title": "Dunes"}
    assert all(node["read"] is False and node["message"] == "" for node in nodes)
    assert data["viewer"] == {"unreadNotificationCount": 5}
    # and nobody is told of what they did themselves
    assert _kinds(await _inbox(gql, "ada")) == []
    assert _kinds(await _inbox(gql, "cyd")) == []


async def test_likes_of_one_post_are_one_notification(gql: GraphQLClient) -> None:
    # given an artist's post and five members
    await gql.sign_up("ada")
    post = await _post(gql, "ada", "Sketch")
    for handle in ("bea", "cyd", "dee", "eli", "fay"):
        await gql.sign_up(handle)
    await _ok(gql, LIKE_POST, {"p": post}, "bea")
    await _ok(gql, LIKE_POST, {"p": post}, "cyd")
    # when she reads her inbox, then more like it (one twice, after taking it back)
    await _ok(gql, MARK, {}, "ada")
    for handle in ("dee", "eli", "fay"):
        await _ok(gql, LIKE_POST, {"p": post}, handle)
    await _ok(gql, UNLIKE_POST, {"p": post}, "eli")
    await _ok(gql, LIKE_POST, {"p": post}, "eli")
    # then the likes are one notification, unread again, naming the latest and counting all
    data = await _inbox(gql, "ada")
    (edge,) = data["notifications"]["edges"]
    node = edge["node"]
    assert node["kind"] == "POST_LIKED"
    assert node["text"] == "eli and 4 others liked your post"
    assert node["actorCount"] == 5
    assert node["actor"] == {"handle": "eli"}
    assert node["actors"] == [{"handle": "eli"}, {"handle": "fay"}, {"handle": "dee"}]
    assert node["read"] is False
    assert data["viewer"] == {"unreadNotificationCount": 1}
    assert await Notification.all().count() == 1


async def test_mentions_reach_who_may_see_the_text(gql: GraphQLClient) -> None:
    # given an artist, a follower of hers and a stranger
    ada = await gql.sign_up("ada")
    await gql.sign_up("fan")
    await gql.sign_up("stranger")
    await _ok(gql, FOLLOW, {"u": ada}, "fan")
    # when she names both in a followers-only post, and in a public one with odd spellings
    await _post(gql, "ada", "thanks @fan and @stranger", visibility="FOLLOWERS")
    await _post(
        gql,
        "ada",
        "mail me at ada@stranger.example, @nobody_here, @ada, @FAN @fan",
    )
    # then only who may see the text is told, once per text, and an address is no mention
    assert [k for k, _ in _kinds(await _inbox(gql, "fan"))] == ["MENTION", "MENTION"]
    assert _kinds(await _inbox(gql, "stranger")) == []
    assert [k for k, _ in _kinds(await _inbox(gql, "ada"))] == ["NEW_FOLLOWER"]
    # and a mention in a comment tells the member named, not twice the artist
    post = await _post(gql, "fan", "My studio")
    await _ok(gql, COMMENT, {"s": post, "t": "@fan @stranger lovely"}, "ada")
    assert [k for k, _ in _kinds(await _inbox(gql, "fan"))] == ["COMMENT", "MENTION", "MENTION"]
    assert [k for k, _ in _kinds(await _inbox(gql, "stranger"))] == ["MENTION"]


async def test_the_read_mark(gql: GraphQLClient) -> None:
    # given three notifications for ada and one for bea
    ada = await gql.sign_up("ada")
    bea = await gql.sign_up("bea")
    for handle in ("cyd", "dee", "eli"):
        await gql.sign_up(handle)
        await _ok(gql, FOLLOW, {"u": ada}, handle)
    await _ok(gql, FOLLOW, {"u": bea}, "cyd")
    ids = [e["node"]["id"] for e in (await _inbox(gql, "ada"))["notifications"]["edges"]]
    theirs = (await _inbox(gql, "bea"))["notifications"]["edges"][0]["node"]["id"]
    # when she marks read up to the middle one
    marked = await gql.execute(MARK, {"n": ids[1]}, as_="ada")
    # then the older two are read and one stays unread
    assert marked.data["markNotificationsRead"] == {
        "unreadNotificationCount": 1,
        "viewer": {"unreadNotificationCount": 1},
        "errors": [],
    }
    reads = [e["node"]["read"] for e in (await _inbox(gql, "ada"))["notifications"]["edges"]]
    assert reads == [False, True, True]
    # and an older mark never makes anything unread again
    await _ok(gql, MARK, {"n": ids[2]}, "ada")
    assert (await gql.execute(UNREAD, as_="ada")).data["viewer"] == {"unreadNotificationCount": 1}
    # and someone else's notification reads as missing, a bad id as invalid, nothing changed
    for up_to, code in ((theirs, "NOT_FOUND"), ("nope", "INVALID_ID"), (ada, "INVALID_ID")):
        refused = await gql.execute(MARK, {"n": up_to}, as_="ada")
        assert refused.data["markNotificationsRead"]["errors"] == [{"field": "upTo", "code": code}]
    assert (await gql.execute(UNREAD, as_="ada")).data["viewer"] == {"unreadNotificationCount": 1}
    # and without upTo (omitted or null) everything so far is read
    await _ok(gql, MARK, {"n": None}, "ada")
    assert (await gql.execute(UNREAD, as_="ada")).data["viewer"] == {"unreadNotificationCount": 0}
    assert (await gql.execute(UNREAD, as_="bea")).data["viewer"] == {"unreadNotificationCount": 1}
    # and another account's count is nobody else's business
    other = await gql.execute('{ user(handle: "ada") { unreadNotificationCount } }', as_="bea")
    assert other.data["user"] == {"unreadNotificationCount": None}


async def test_pages_and_node(gql: GraphQLClient) -> None:
    # given five followers of ada
    ada = await gql.sign_up("ada")
    followers = ["fa1", "fa2", "fa3", "fa4", "fa5"]
    for handle in followers:
        await gql.sign_up(handle)
        await _ok(gql, FOLLOW, {"u": ada}, handle)
    # when she reads her inbox two at a time
    seen: list[str] = []
    after = None
    while True:
        data = await _inbox(gql, "ada", first=2, after=after)
        seen += [e["node"]["actor"]["handle"] for e in data["notifications"]["edges"]]
        if not data["notifications"]["pageInfo"]["hasNextPage"]:
            break
        after = data["notifications"]["pageInfo"]["endCursor"]
    # then she sees each once, newest first
    assert seen == followers[::-1]
    # and a notification is a node for her alone
    first = (await _inbox(gql, "ada", first=1))["notifications"]["edges"][0]["node"]["id"]
    mine = await gql.execute(NODE, {"id": first}, as_="ada")
    assert mine.data["node"] == {"id": first, "kind": "NEW_FOLLOWER"}
    for viewer in ("fa1", None):
        assert (await gql.execute(NODE, {"id": first}, as_=viewer)).data["node"] is None
    # and the inbox is for the signed-in only, with the usual page bounds
    anonymous = await gql.execute(INBOX, {})
    assert anonymous.codes == ["UNAUTHENTICATED"]
    too_many = await gql.execute(INBOX, {"first": 101}, as_="ada")
    assert too_many.codes == ["BAD_USER_INPUT"]
    foreign = await gql.execute(INBOX, {"after": "cG9zdDox"}, as_="ada")  # a post cursor
    assert foreign.codes == ["BAD_USER_INPUT"]


async def test_platform_notifications(gql: GraphQLClient) -> None:
    # given a member
    await gql.sign_up("ada")
    ada = await User.get(handle_key="ada")
    # when the platform tells her a moderation outcome
    row = await inbox.notify(
        gql.services,
        ada.id,
        NotificationKind.MODERATION,
        message="Your report was reviewed: the post was removed.",
    )
    assert row is not None
    # then her inbox says it in the platform's words, with no actor
    (edge,) = (await _inbox(gql, "ada"))["notifications"]["edges"]
    assert edge["node"]["kind"] == "MODERATION"
    assert edge["node"]["text"] == "Your report was reviewed: the post was removed."
    assert edge["node"]["actor"] is None
    assert edge["node"]["actors"] == []
    assert edge["node"]["actorCount"] == 0
    # and a notification of the platform that says nothing is a mistake in the caller
    with pytest.raises(ValueError, match="message"):
        await inbox.notify(gql.services, ada.id, NotificationKind.NOTICE)


async def test_exclusions_of_the_inbox_rule_hide_an_actor(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an inbox rule whose exclusion ties a member to those she follows (a stand-in for a
    # block or a mute, whose tables are not this test's business)
    ada = await gql.sign_up("ada")
    bea = await gql.sign_up("bea")
    await gql.sign_up("cyd")
    await _ok(gql, FOLLOW, {"u": ada}, "bea")
    await _ok(gql, FOLLOW, {"u": ada}, "cyd")
    await _ok(gql, FOLLOW, {"u": bea}, "ada")
    assert [e[1] for e in _kinds(await _inbox(gql, "ada"))] == [
        "cyd started following you",
        "bea started following you",
    ]
    stand_in = rules.ReadRule("inbox", rules.INBOX.passes, exclusions=(rules.FOLLOWS,))
    monkeypatch.setattr(inbox, "INBOX", stand_in)
    # then what bea did before is hidden from ada's inbox and its count ...
    data = await _inbox(gql, "ada")
    assert [e[1] for e in _kinds(data)] == ["cyd started following you"]
    assert data["viewer"] == {"unreadNotificationCount": 1}
    # ... what she does now is not stored for ada, while cy's still is
    post = await _post(gql, "ada", "Hello")
    await _ok(gql, LIKE_POST, {"p": post}, "bea")
    assert await Notification.filter(kind=NotificationKind.POST_LIKED).count() == 0
    await _ok(gql, LIKE_POST, {"p": post}, "cyd")
    assert await Notification.filter(kind=NotificationKind.POST_LIKED).count() == 1
    # ... and the platform's own notifications are never hidden
    await inbox.notify(gql.services, pk_of(ada), NotificationKind.NOTICE, message="Welcome")
    assert [e[1] for e in _kinds(await _inbox(gql, "ada"))] == [
        "Welcome",
        "cyd liked your post",
        "cyd started following you",
    ]


async def test_pruning_keeps_the_recent(gql: GraphQLClient) -> None:
    # given an old notification and a new one
    ada = await gql.sign_up("ada")
    for handle in ("old", "new"):
        await gql.sign_up(handle)
        await _ok(gql, FOLLOW, {"u": ada}, handle)
    old = await Notification.get(actor__handle_key="old")
    now = dt.datetime.now(dt.UTC)
    await Notification.filter(id=old.id).update(created_at=now - dt.timedelta(days=31))
    # when notifications older than 30 days are pruned
    removed = await inbox.prune(30, now=now)
    # then the old one went and the new one stays
    assert removed == 1
    assert [e[1] for e in _kinds(await _inbox(gql, "ada"))] == ["new started following you"]
    assert await inbox.prune(30, now=now) == 0


LIVE = """subscription($after: String) { notifications(after: $after) {
  id cursor kind text actor { handle } } }"""


@contextlib.asynccontextmanager
async def _live(
    gql: GraphQLClient, handle: str, after: str | None
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """``handle``'s notifications subscription, its events in a queue."""
    viewer = await User.get(handle_key=handle)
    stream = await schema.subscribe(
        LIVE, variable_values={"after": after}, context_value=Context(gql.services, viewer)
    )
    assert not isinstance(stream, ExecutionResult), stream
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        async for result in stream:
            assert result.errors is None, result.errors
            assert result.data is not None
            await received.put(result.data["notifications"])

    task = asyncio.create_task(pump())
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stream.aclose()


async def _take(queue: asyncio.Queue[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(queue.get(), timeout=5) for _ in range(count)]


async def test_the_live_inbox_replays_what_was_missed(gql: GraphQLClient) -> None:
    # given ada's first notification seen live, then three she missed while away
    ada = await gql.sign_up("ada")
    await gql.sign_up("fa1")
    async with _live(gql, "ada", None) as live:
        await asyncio.sleep(0.1)  # subscribed
        await _ok(gql, FOLLOW, {"u": ada}, "fa1")
        (seen,) = await _take(live, 1)
    assert seen["text"] == "fa1 started following you"
    for handle in ("fa2", "fa3", "fa4"):
        await gql.sign_up(handle)
        await _ok(gql, FOLLOW, {"u": ada}, handle)
    # when she subscribes again after the cursor of the last one she saw, and more come
    async with _live(gql, "ada", seen["cursor"]) as live:
        replayed = await _take(live, 3)
        await gql.sign_up("fa5")
        await _ok(gql, FOLLOW, {"u": ada}, "fa5")
        (fresh,) = await _take(live, 1)
        await asyncio.sleep(0.1)
        # then she gets the missed ones oldest first, then the live one, each once
        assert [n["actor"]["handle"] for n in replayed] == ["fa2", "fa3", "fa4"]
        assert fresh["actor"] == {"handle": "fa5"}
        assert live.empty()
    ids = [n["id"] for n in [seen, *replayed, fresh]]
    stored = [e["node"]["id"] for e in (await _inbox(gql, "ada"))["notifications"]["edges"]]
    assert ids == stored[::-1]
    # and a cursor of another list is refused
    viewer = await User.get(handle_key="ada")
    stream = await schema.subscribe(
        LIVE, variable_values={"after": "cG9zdDox"}, context_value=Context(gql.services, viewer)
    )
    assert not isinstance(stream, ExecutionResult)
    result = await anext(stream)
    assert result.errors is not None
    assert "unknown cursor" in result.errors[0].message
    await stream.aclose()


async def test_a_reply_is_told_only_to_who_may_see_it(gql: GraphQLClient) -> None:
    # given ada's public post, and bea, whom ada does not follow
    await gql.sign_up("ada")
    await gql.sign_up("bea")
    post = await _post(gql, "ada", "Open studio")
    # when bea replies for her followers only, then publicly
    await _post(gql, "bea", "(for my followers) went there", replyTo=post, visibility="FOLLOWERS")
    await _post(gql, "bea", "went there", replyTo=post)
    # then ada hears only of the reply she may see
    (edge,) = (await _inbox(gql, "ada"))["notifications"]["edges"]
    assert edge["node"]["kind"] == "REPLY"
    assert edge["node"]["post"] == {"text": "went there"}


async def test_what_is_taken_back_is_no_news(gql: GraphQLClient) -> None:
    # given ada's post liked by four members, and a follower
    ada = await gql.sign_up("ada")
    post = await _post(gql, "ada", "Sketch")
    for handle in ("bea", "cyd", "dee", "eli"):
        await gql.sign_up(handle)
        await _ok(gql, LIKE_POST, {"p": post}, handle)
    await _ok(gql, FOLLOW, {"u": ada}, "bea")
    # when the follower unfollows, and the three latest likers take their likes back
    await _ok(gql, UNFOLLOW, {"u": ada}, "bea")
    for handle in ("eli", "dee", "cyd"):
        await _ok(gql, UNLIKE_POST, {"p": post}, handle)
    # then the follow is gone, and the group names who still likes it
    (edge,) = (await _inbox(gql, "ada"))["notifications"]["edges"]
    assert edge["node"]["text"] == "bea liked your post"
    assert edge["node"]["actors"] == [{"handle": "bea"}]
    # and the last like taken back takes the group with it
    await _ok(gql, UNLIKE_POST, {"p": post}, "bea")
    assert (await _inbox(gql, "ada"))["notifications"]["edges"] == []
