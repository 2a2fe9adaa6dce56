"""Editing a post: the text changes, the earlier texts are kept for who may see the post, #tags
and mentions follow, live home feeds get it as EDITED."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from resolvers import passwords
from storage.models import Notification, NotificationKind, User
from tests.graphql import GraphQLClient
from tests.security.subscriptions import Subscription

POST = """mutation($i: CreatePostInput!) {
  createPost(input: $i) { post { id createdAt } errors { code } } }"""
EDIT = """mutation($id: ID!, $t: String!) { updatePost(id: $id, text: $t) {
  post { text editedAt revisions { text writtenAt replacedAt } } errors { field code } } }"""
READ = """query($id: ID!) { post(id: $id) { text editedAt revisions { text } } }"""
TAG = """query($t: String!) { tagFeed(tag: $t) { edges { node { text } } } }"""
SEARCH = """query($q: String!) { search(query: $q, kind: POSTS) { edges { node {
  ... on Post { text } } } } }"""
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
LIVE = "subscription { homeFeed { kind post { text editedAt } } }"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


async def _post(gql: GraphQLClient, handle: str, **given: Any) -> dict[str, Any]:
    made = await gql.execute(POST, {"i": given}, as_=handle)
    assert made.data["createPost"]["errors"] == [], made.body
    post: dict[str, Any] = made.data["createPost"]["post"]
    return post


async def _edit(gql: GraphQLClient, post: str, text: str, handle: str) -> dict[str, Any]:
    done = await gql.execute(EDIT, {"id": post, "t": text}, as_=handle)
    payload: dict[str, Any] = done.data["updatePost"]
    return payload


async def test_an_edit_keeps_the_earlier_texts(gql: GraphQLClient) -> None:
    # given a post
    await gql.sign_up("ada")
    post = await _post(gql, "ada", text="Frist light #sketch")
    assert (await gql.execute(READ, {"id": post["id"]})).data["post"]["editedAt"] is None
    # when its author fixes the typo, then changes it again, then saves the same text
    first = await _edit(gql, post["id"], "First light #sketch", "ada")
    second = await _edit(gql, post["id"], "First light at dawn #study", "ada")
    same = await _edit(gql, post["id"], "First light at dawn #study", "ada")
    # then the post reads the newest text, and the earlier ones come newest first
    assert first["errors"] == second["errors"] == same["errors"] == []
    edited = second["post"]
    assert edited["text"] == "First light at dawn #study"
    assert [r["text"] for r in edited["revisions"]] == [
        "First light #sketch",
        "Frist light #sketch",
    ]
    assert edited["revisions"][-1]["writtenAt"] == post["createdAt"]
    assert edited["revisions"][0]["writtenAt"] == first["post"]["editedAt"]
    assert same["post"] == edited  # nothing new to keep
    # and the tags and the search follow the text
    assert (await gql.execute(TAG, {"t": "study"})).data["tagFeed"]["edges"] == [
        {"node": {"text": "First light at dawn #study"}}
    ]
    assert (await gql.execute(TAG, {"t": "sketch"})).data["tagFeed"]["edges"] == []
    assert (await gql.execute(SEARCH, {"q": "dawn"})).data["search"]["edges"] == [
        {"node": {"text": "First light at dawn #study"}}
    ]
    assert (await gql.execute(SEARCH, {"q": "frist"})).data["search"]["edges"] == []


async def test_who_may_edit_and_what_is_refused(gql: GraphQLClient) -> None:
    # given ada's public and private posts, and bea
    await gql.sign_up("ada")
    await gql.sign_up("bea")
    public = (await _post(gql, "ada", text="Open"))["id"]
    private = (await _post(gql, "ada", text="Mine", visibility="PRIVATE"))["id"]
    # then bea may not edit the one she sees, and the other reads as missing
    refused = await gql.execute(EDIT, {"id": public, "t": "Hacked"}, as_="bea")
    assert refused.codes == ["FORBIDDEN"]
    missing = await _edit(gql, private, "Hacked", "bea")
    assert missing["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    # and bad text is refused, nothing changed
    for text, code in (("x" * 2001, "TOO_LONG"), ("   ", "REQUIRED")):
        bad = await _edit(gql, public, text, "ada")
        assert bad["errors"] == [{"field": "text", "code": code}]
    assert (await gql.execute(READ, {"id": public})).data["post"] == {
        "text": "Open",
        "editedAt": None,
        "revisions": [],
    }
    # and the earlier texts go with the post's visibility
    await _edit(gql, private, "Mine, edited", "ada")
    assert (await gql.execute(READ, {"id": private}, as_="bea")).data["post"] is None
    own = (await gql.execute(READ, {"id": private}, as_="ada")).data["post"]
    assert own["revisions"] == [{"text": "Mine"}]


async def test_mentions_added_by_an_edit_are_told_once(gql: GraphQLClient) -> None:
    await gql.sign_up("ada")
    await gql.sign_up("bea")
    await gql.sign_up("cyd")
    post = (await _post(gql, "ada", text="with @bea"))["id"]
    await _edit(gql, post, "with @bea and @cyd", "ada")
    await _edit(gql, post, "with @bea and @cyd!", "ada")
    told = [
        (await User.get(id=n.recipient_id)).handle
        for n in await Notification.filter(kind=NotificationKind.MENTION).order_by("id")
    ]
    assert told == ["bea", "cyd"]


async def test_live_home_feeds_get_the_edit(gql: GraphQLClient) -> None:
    # given a follower's live home feed
    ada = await gql.sign_up("ada")
    await gql.sign_up("fan")
    await gql.execute(FOLLOW, {"u": ada}, as_="fan")
    post = (await _post(gql, "ada", text="Draft"))["id"]
    feed = Subscription(gql, await User.get(handle_key="fan"), LIVE)
    await feed.start()
    try:
        # when the author edits the post
        await _edit(gql, post, "Final", "ada")
        # then the feed gets the post again, EDITED, with its new text
        event = (await feed.next_data())["homeFeed"]
        assert event["kind"] == "EDITED"
        assert event["post"]["text"] == "Final"
        assert event["post"]["editedAt"] is not None
    finally:
        await feed.close()
