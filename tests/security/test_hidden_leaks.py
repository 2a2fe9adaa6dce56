"""Hidden works stay hidden everywhere: identify, live tombstones, tag feeds and counts.

A work (post or artwork) that is PRIVATE, or FOLLOWERS-only for someone who does not follow its
artist, must not be revealed by any answer: not its image, not its existence (a tombstone's id),
not its tags, not a count that includes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from graphql import ExecutionResult

from resolvers import channels, events
from resolvers.context import Context
from schema.root import schema
from storage.models import User
from tests.graphql import GraphQLClient, pk_of
from tests.images import photo
from tests.security.subscriptions import Feed

# -- identifyImage ----------------------------------------------------------------------------

IDENTIFY = """mutation($f: Upload!) { identifyImage(file: $f) {
  found artist { handle } artwork { title } post { text }
  image { id altText protection { ssim } variants { url } } errors { code } } }"""
CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id images { url(size: MEDIUM, format: JPEG) } } errors { code } } }"""
CREATE_POST = """mutation($i: CreatePostInput!) { createPost(input: $i) {
  post { id images { url(size: MEDIUM, format: JPEG) } } errors { code } } }"""
UPDATE_ARTWORK = """mutation($id: ID!, $i: UpdateArtworkInput!) {
  updateArtwork(id: $id, input: $i) { errors { code } } }"""
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"


async def _scraped_artwork(gql: GraphQLClient, visibility: str) -> tuple[str, bytes]:
    """An artwork published PUBLIC, a copy of its image taken, then its visibility set."""
    made = await gql.upload(
        CREATE_ARTWORK,
        {"i": {"title": "Harbour", "images": [{"file": None, "altText": "boats at night"}]}},
        {"i.images.0.file": ("harbour.jpg", photo(seed=5), "image/jpeg")},
        as_="painter",
    )
    artwork = made.data["createArtwork"]["artwork"]
    copy = (await gql.http.get(artwork["images"][0]["url"])).content
    changed = await gql.execute(
        UPDATE_ARTWORK, {"id": artwork["id"], "i": {"visibility": visibility}}, as_="painter"
    )
    assert changed.data["updateArtwork"]["errors"] == []
    return str(artwork["id"]), copy


async def _identify(gql: GraphQLClient, copy: bytes, as_: str | None = None) -> dict[str, Any]:
    result = await gql.upload(
        IDENTIFY, {"f": None}, {"f": ("copy.jpg", copy, "image/jpeg")}, as_=as_
    )
    assert result.errors == [], result.body
    answer: dict[str, Any] = result.data["identifyImage"]
    return answer


HIDDEN = {
    "found": True,
    "artist": {"handle": "painter"},
    "artwork": None,
    "post": None,
    "image": None,
    "errors": [],
}


async def test_identify_does_not_hand_out_an_artwork_made_private(prod: GraphQLClient) -> None:
    # given an artwork whose image was copied while public, and which is now private
    await prod.sign_up("painter")
    await prod.sign_up("stranger")
    _, copy = await _scraped_artwork(prod, "PRIVATE")
    # when anyone else identifies the copy
    # then only the artist is named: no alt text, report or URLs of the hidden image
    assert await _identify(prod, copy) == HIDDEN
    assert await _identify(prod, copy, as_="stranger") == HIDDEN
    # and the artist still sees their own work
    own = await _identify(prod, copy, as_="painter")
    assert own["artwork"] == {"title": "Harbour"}
    assert own["image"]["altText"] == "boats at night"


async def test_identify_of_a_followers_only_artwork_needs_a_follow(prod: GraphQLClient) -> None:
    painter = await prod.sign_up("painter")
    await prod.sign_up("stranger")
    await prod.sign_up("fan")
    await prod.execute(FOLLOW, {"u": painter}, as_="fan")
    _, copy = await _scraped_artwork(prod, "FOLLOWERS")
    assert await _identify(prod, copy, as_="stranger") == HIDDEN
    seen = await _identify(prod, copy, as_="fan")
    assert seen["artwork"] == {"title": "Harbour"}
    assert len(seen["image"]["variants"]) == 6


async def test_identify_does_not_hand_out_the_image_of_a_private_post(
    prod: GraphQLClient,
) -> None:
    # given an image posted in a private post (its URL leaked)
    await prod.sign_up("painter")
    made = await prod.upload(
        CREATE_POST,
        {"i": {"text": "just for me", "visibility": "PRIVATE", "images": [{"file": None}]}},
        {"i.images.0.file": ("sketch.jpg", photo(seed=7), "image/jpeg")},
        as_="painter",
    )
    post = made.data["createPost"]["post"]
    copy = (await prod.http.get(post["images"][0]["url"])).content
    # then identifying that copy does not reveal the image
    assert await _identify(prod, copy) == HIDDEN
    own = await _identify(prod, copy, as_="painter")
    assert own["post"] == {"text": "just for me"}
    assert own["image"] is not None


# -- live tombstones --------------------------------------------------------------------------

POST = """mutation($t: String!, $v: Visibility!) { createPost(input: {text: $t, visibility: $v}) {
  post { id } errors { code } } }"""
DELETE_POST = "mutation($p: ID!) { deletePost(id: $p) { deletedId errors { code } } }"


async def _posted(gql: GraphQLClient, handle: str, text: str, visibility: str) -> str:
    made = await gql.execute(POST, {"t": text, "v": visibility}, as_=handle)
    assert made.data["createPost"]["errors"] == [], made.body
    return str(made.data["createPost"]["post"]["id"])


async def _deleted(gql: GraphQLClient, handle: str, post_id: str) -> None:
    deleted = await gql.execute(DELETE_POST, {"p": post_id}, as_=handle)
    assert deleted.data["deletePost"]["errors"] == [], deleted.body


@pytest.mark.parametrize("fast", [False, True], ids=["regular", "fastlane"])
async def test_tombstones_reach_only_those_who_could_see_the_post(
    prod: GraphQLClient, fast: bool
) -> None:
    # given a follower and the artist, each with a live home feed
    artist_id = await prod.sign_up("artist")
    await prod.sign_up("fan")
    await prod.execute(FOLLOW, {"u": artist_id}, as_="fan")
    fan = Feed(prod, await User.get(handle="fan"), fast=fast)
    own = Feed(prod, await User.get(handle="artist"), fast=fast)
    await fan.start()
    await own.start()
    try:
        # when the artist posts privately and for followers, then deletes both
        private = await _posted(prod, "artist", "diary", "PRIVATE")
        followers = await _posted(prod, "artist", "for fans", "FOLLOWERS")
        await _deleted(prod, "artist", private)
        await _deleted(prod, "artist", followers)
        marker = await _posted(prod, "artist", "hello", "PUBLIC")
        # then the follower sees the followers-only post come and go, and nothing of the
        # private one: no tombstone whose id tells when it was written
        assert [await fan.next() for _ in range(3)] == [
            ("ADDED", followers),
            ("DELETED", followers),
            ("ADDED", marker),
        ]
        # and the artist sees all of their own
        assert [await own.next() for _ in range(5)] == [
            ("ADDED", private),
            ("ADDED", followers),
            ("DELETED", private),
            ("DELETED", followers),
            ("ADDED", marker),
        ]
    finally:
        await fan.close()
        await own.close()


# -- tagFeed ----------------------------------------------------------------------------------

TAG_FEED = "query($t: String!) { tagFeed(tag: $t, first: 20) { nodes { text } } }"
ARTWORK = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id } errors { code } } }"""
POST_WITH = """mutation($t: String!, $a: [ID!]!) { createPost(input: {text: $t, artworkIds: $a}) {
  post { id } errors { code } } }"""


async def _tagged(gql: GraphQLClient, tag: str, as_: str | None = None) -> list[str]:
    result = await gql.execute(TAG_FEED, {"t": tag}, as_=as_)
    return [node["text"] for node in result.data["tagFeed"]["nodes"]]


async def _artwork(gql: GraphQLClient, tags: list[str], visibility: str) -> str:
    made = await gql.execute(
        ARTWORK, {"i": {"title": "w", "tags": tags, "visibility": visibility}}, as_="artist"
    )
    assert made.data["createArtwork"]["errors"] == [], made.body
    return str(made.data["createArtwork"]["artwork"]["id"])


async def _post_with(gql: GraphQLClient, text: str, artwork_ids: list[str]) -> None:
    made = await gql.execute(POST_WITH, {"t": text, "a": artwork_ids}, as_="artist")
    assert made.data["createPost"]["errors"] == [], made.body


async def test_hidden_artworks_do_not_tag_a_public_post(prod: GraphQLClient) -> None:
    # given public posts with attached artworks of each visibility, tagged only there
    artist_id = await prod.sign_up("artist")
    await prod.sign_up("fan")
    await prod.sign_up("stranger")
    await prod.execute(FOLLOW, {"u": artist_id}, as_="fan")
    await _post_with(prod, "private work", [await _artwork(prod, ["secret"], "PRIVATE")])
    await _post_with(prod, "for fans", [await _artwork(prod, ["fans"], "FOLLOWERS")])
    later = await _artwork(prod, ["later"], "PUBLIC")
    await _post_with(prod, "public for now", [later])
    await _post_with(prod, "says #secret", [await _artwork(prod, ["other"], "PRIVATE")])
    # then a private artwork's tag places only posts whose own text has the tag
    assert await _tagged(prod, "secret") == ["says #secret"]
    assert await _tagged(prod, "secret", as_="stranger") == ["says #secret"]
    assert await _tagged(prod, "secret", as_="artist") == ["says #secret", "private work"]
    # and a followers-only artwork's tag counts for followers only
    assert await _tagged(prod, "fans") == []
    assert await _tagged(prod, "fans", as_="stranger") == []
    assert await _tagged(prod, "fans", as_="fan") == ["for fans"]
    # and an artwork made private later takes its tag away from the post
    assert await _tagged(prod, "later") == ["public for now"]
    changed = await prod.execute(
        UPDATE_ARTWORK, {"id": later, "i": {"visibility": "PRIVATE"}}, as_="artist"
    )
    assert changed.data["updateArtwork"]["errors"] == []
    assert await _tagged(prod, "later") == []
    assert await _tagged(prod, "later", as_="fan") == []


# -- counts -----------------------------------------------------------------------------------

PROFILE = "query($h: String!) { user(handle: $h) { postCount artworkCount } }"
DISCOVER = "query { discoverFeed(first: 1) { nodes { author { postCount artworkCount } } } }"


async def _counts(gql: GraphQLClient, as_: str | None) -> tuple[int, int]:
    result = await gql.execute(PROFILE, {"h": "artist"}, as_=as_)
    user = result.data["user"]
    return user["postCount"], user["artworkCount"]


async def test_profile_counts_are_what_the_viewer_may_see(prod: GraphQLClient) -> None:
    # given an artist with posts and artworks of every visibility
    artist_id = await prod.sign_up("artist")
    await prod.sign_up("fan")
    await prod.sign_up("stranger")
    await prod.execute(FOLLOW, {"u": artist_id}, as_="fan")
    private_post = await _posted(prod, "artist", "diary", "PRIVATE")
    await _posted(prod, "artist", "for fans", "FOLLOWERS")
    await _posted(prod, "artist", "hello", "PUBLIC")
    await _posted(prod, "artist", "hello again", "PUBLIC")
    private_work = await _artwork(prod, [], "PRIVATE")
    await _artwork(prod, [], "FOLLOWERS")
    await _artwork(prod, [], "PUBLIC")
    # then each viewer's counts are of what they may see
    assert await _counts(prod, None) == (2, 1)
    assert await _counts(prod, "stranger") == (2, 1)
    assert await _counts(prod, "fan") == (3, 2)
    assert await _counts(prod, "artist") == (4, 3)
    # and so are the counts a feed page shows (asked twice: the second time a compiled plan
    # answers it)
    for viewer, expected in ((None, (2, 1)), ("fan", (3, 2)), ("artist", (4, 3))):
        for _ in range(2):
            page = await prod.execute(DISCOVER, as_=viewer)
            (node,) = page.data["discoverFeed"]["nodes"]
            assert (node["author"]["postCount"], node["author"]["artworkCount"]) == expected
    # and they follow a work made public, or deleted
    changed = await prod.execute(
        UPDATE_ARTWORK, {"id": private_work, "i": {"visibility": "PUBLIC"}}, as_="artist"
    )
    assert changed.data["updateArtwork"]["errors"] == []
    await _deleted(prod, "artist", private_post)
    assert await _counts(prod, None) == (2, 2)
    assert await _counts(prod, "fan") == (3, 3)
    assert await _counts(prod, "artist") == (3, 3)


# -- reply counts -----------------------------------------------------------------------------

REPLY = """mutation($r: ID!, $t: String!, $v: Visibility!) {
  createPost(input: {text: $t, replyTo: $r, visibility: $v}) { post { id } errors { code } } }"""
REPLY_COUNT = "query($p: ID!) { post(id: $p) { replyCount } }"
DISCOVER_REPLIES = "query { discoverFeed(first: 20) { nodes { text replyCount } } }"
HOME_REPLIES = "query { homeFeed(first: 20) { nodes { text replyCount } } }"


async def _replied(gql: GraphQLClient, handle: str, post_id: str, visibility: str) -> str:
    made = await gql.execute(REPLY, {"r": post_id, "t": "re", "v": visibility}, as_=handle)
    assert made.data["createPost"]["errors"] == [], made.body
    return str(made.data["createPost"]["post"]["id"])


async def _reply_counts(gql: GraphQLClient, post_id: str, as_: str | None) -> set[int]:
    """The post's replyCount as ``post(id:)`` and a feed page (twice: the second time a compiled
    plan answers it) show it to ``as_``; one value when they agree."""
    shown = {(await gql.execute(REPLY_COUNT, {"p": post_id}, as_=as_)).data["post"]["replyCount"]}
    feeds = [DISCOVER_REPLIES] + ([HOME_REPLIES] if as_ in ("artist", "fan") else [])
    for feed in feeds:
        for _ in range(2):
            page = await gql.execute(feed, as_=as_)
            (nodes,) = page.data.values()
            shown |= {n["replyCount"] for n in nodes["nodes"] if n["text"] == "the question"}
    return shown


async def test_reply_counts_are_of_the_replies_the_viewer_may_see(prod: GraphQLClient) -> None:
    # given a public post with a public, a followers-only and a private reply by a friend, and
    # the artist's own private reply
    artist_id = await prod.sign_up("artist")
    friend_id = await prod.sign_up("friend")
    await prod.sign_up("fan")
    await prod.sign_up("stranger")
    await prod.execute(FOLLOW, {"u": friend_id}, as_="fan")
    await prod.execute(FOLLOW, {"u": artist_id}, as_="fan")
    question = await _posted(prod, "artist", "the question", "PUBLIC")
    await _replied(prod, "friend", question, "PUBLIC")
    await _replied(prod, "friend", question, "FOLLOWERS")
    private_reply = await _replied(prod, "friend", question, "PRIVATE")
    await _replied(prod, "artist", question, "PRIVATE")
    # then each viewer counts the replies they may read, and nothing of the others
    assert await _reply_counts(prod, question, None) == {1}
    assert await _reply_counts(prod, question, "stranger") == {1}
    assert await _reply_counts(prod, question, "fan") == {2}  # follows the friend
    assert await _reply_counts(prod, question, "friend") == {3}
    assert await _reply_counts(prod, question, "artist") == {2}  # not the friend's hidden ones
    # and the counts follow a hidden reply deleted
    await _deleted(prod, "friend", private_reply)
    assert await _reply_counts(prod, question, "friend") == {2}
    assert await _reply_counts(prod, question, "stranger") == {1}


# -- comments ---------------------------------------------------------------------------------

COMMENT = """mutation($s: ID!, $t: String!) { addComment(input: {subjectId: $s, text: $t}) {
  comment { id post { text } artwork { title } } errors { code } } }"""
COMMENT_NODE = """query($id: ID!) { node(id: $id) { ... on Comment {
  text post { text } artwork { title } } } }"""
UNFOLLOW = "mutation($u: ID!) { unfollow(userId: $u) { errors { code } } }"
NOTIFICATIONS = """subscription { notifications { kind
  comment { text post { text } artwork { title } } post { text } artwork { title } } }"""


async def _commented(gql: GraphQLClient, handle: str, subject: str, text: str) -> dict[str, Any]:
    made = await gql.execute(COMMENT, {"s": subject, "t": text}, as_=handle)
    assert made.data["addComment"]["errors"] == [], made.body
    comment: dict[str, Any] = made.data["addComment"]["comment"]
    return comment


async def _comment_node(gql: GraphQLClient, comment_id: str, as_: str | None) -> Any:
    result = await gql.execute(COMMENT_NODE, {"id": comment_id}, as_=as_)
    assert result.errors == [], result.body
    return result.data["node"]


async def _notification(gql: GraphQLClient, handle: str, event: dict[str, Any]) -> Any:
    """What ``handle``'s live notifications show of ``event`` arriving in their inbox."""
    viewer = await User.get(handle=handle)
    stream = await schema.subscribe(
        NOTIFICATIONS, context_value=Context(services=gql.services, viewer=viewer)
    )
    assert not isinstance(stream, ExecutionResult), stream
    pending = asyncio.ensure_future(anext(stream))
    try:
        await asyncio.sleep(0.2)  # subscribed
        await events.publish(gql.services, channels.user_inbox(viewer.id), event)
        result = await asyncio.wait_for(pending, timeout=5)
    finally:
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        await stream.aclose()
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data["notifications"]


async def test_a_comment_on_a_hidden_work_is_hidden_with_its_work(prod: GraphQLClient) -> None:
    # given comments on an artwork made private since, and on a followers-only post
    artist_id = await prod.sign_up("artist")
    await prod.sign_up("commenter")
    await prod.sign_up("fan")
    await prod.sign_up("stranger")
    await prod.execute(FOLLOW, {"u": artist_id}, as_="fan")
    work = await _artwork(prod, [], "PUBLIC")
    on_work = await _commented(prod, "commenter", work, "lovely")
    assert on_work["artwork"] == {"title": "w"}
    changed = await prod.execute(
        UPDATE_ARTWORK, {"id": work, "i": {"visibility": "PRIVATE"}}, as_="artist"
    )
    assert changed.data["updateArtwork"]["errors"] == []
    for_fans = await _posted(prod, "artist", "for fans", "FOLLOWERS")
    on_post = await _commented(prod, "fan", for_fans, "first!")
    assert on_post["post"] == {"text": "for fans"}
    # then node(id:) hands out neither comment nor its work to who may not see the work, the
    # comment's own author included
    for viewer in (None, "stranger", "commenter", "fan"):
        assert await _comment_node(prod, on_work["id"], viewer) is None
    assert await _comment_node(prod, on_work["id"], "artist") == {
        "text": "lovely",
        "post": None,
        "artwork": {"title": "w"},
    }
    for viewer in (None, "stranger", "commenter"):
        assert await _comment_node(prod, on_post["id"], viewer) is None
    assert (await _comment_node(prod, on_post["id"], "fan"))["post"] == {"text": "for fans"}
    await prod.execute(UNFOLLOW, {"u": artist_id}, as_="fan")
    assert await _comment_node(prod, on_post["id"], "fan") is None
    # and a live notification naming them shows nothing of them to who may not see the work
    # (notifications go to the work's artist; this one stands for any that would not)
    commenter = await User.get(handle="commenter")
    for subject in ({"artwork_id": pk_of(work)}, {"post_id": pk_of(for_fans)}):
        comment_id = on_work["id"] if "artwork_id" in subject else on_post["id"]
        event = events.notification(
            "comment", commenter.id, **subject, comment_id=pk_of(comment_id)
        )
        assert await _notification(prod, "stranger", event) == {
            "kind": "COMMENT",
            "comment": None,
            "post": None,
            "artwork": None,
        }
        # while the artist sees the comment and the work
        own = await _notification(prod, "artist", event)
        assert own["comment"] is not None
        assert (own["comment"]["post"] or own["comment"]["artwork"]) is not None


# -- reads by id and through visible works ----------------------------------------------------

NODE = """query($id: ID!) { node(id: $id) { __typename id } }"""
WITH_IMAGES = """mutation($i: CreatePostInput!) { createPost(input: $i) {
  post { id images { id } } errors { code } } }"""
SHOWN = """query($p: ID!, $r: ID!) {
  post(id: $p) { artworks { title } } reply: post(id: $r) { text replyTo { id } } }"""
DISCOVER_ARTWORKS = "query { discoverFeed(first: 20) { nodes { text artworks { title } } } }"


async def _illustrated(gql: GraphQLClient, visibility: str) -> tuple[str, str]:
    """A post of ``visibility`` with an image: (post id, image id)."""
    made = await gql.upload(
        WITH_IMAGES,
        {"i": {"text": "diary", "visibility": visibility, "images": [{"file": None}]}},
        {"i.images.0.file": ("sketch.jpg", photo(seed=9), "image/jpeg")},
        as_="painter",
    )
    post = made.data["createPost"]["post"]
    return str(post["id"]), str(post["images"][0]["id"])


async def test_hidden_works_read_by_id_or_through_a_visible_one(prod: GraphQLClient) -> None:
    # given an artwork (with an image) attached to a public post and made private since, a
    # private post with an image, and a public reply to that private post
    await prod.sign_up("painter")
    await prod.sign_up("stranger")
    made = await prod.upload(
        CREATE_ARTWORK.replace("artwork { id", "artwork { id images { id }"),
        {"i": {"title": "Harbour", "images": [{"file": None, "altText": "boats"}]}},
        {"i.images.0.file": ("harbour.jpg", photo(seed=5), "image/jpeg")},
        as_="painter",
    )
    work = made.data["createArtwork"]["artwork"]
    shown = await prod.execute(POST_WITH, {"t": "see it", "a": [work["id"]]}, as_="painter")
    see_it = shown.data["createPost"]["post"]["id"]
    changed = await prod.execute(
        UPDATE_ARTWORK, {"id": work["id"], "i": {"visibility": "PRIVATE"}}, as_="painter"
    )
    assert changed.data["updateArtwork"]["errors"] == []
    diary, diary_image = await _illustrated(prod, "PRIVATE")
    reply = await prod.execute(REPLY, {"r": diary, "t": "so", "v": "PUBLIC"}, as_="painter")
    public_reply = reply.data["createPost"]["post"]["id"]
    hidden = [work["id"], work["images"][0]["id"], diary, diary_image]
    for viewer in (None, "stranger"):
        # then none of them is read by id
        for node_id in hidden:
            assert (await prod.execute(NODE, {"id": node_id}, as_=viewer)).data["node"] is None
        # nor through the visible post that attaches the artwork, or the visible reply
        seen = await prod.execute(SHOWN, {"p": see_it, "r": public_reply}, as_=viewer)
        assert seen.data == {"post": {"artworks": []}, "reply": {"text": "so", "replyTo": None}}
        for _ in range(2):  # the regular path, then a compiled plan
            page = await prod.execute(DISCOVER_ARTWORKS, as_=viewer)
            assert {"text": "see it", "artworks": []} in page.data["discoverFeed"]["nodes"]
    # while the artist reads each of them
    for node_id in hidden:
        assert (await prod.execute(NODE, {"id": node_id}, as_="painter")).data["node"] is not None
    seen = await prod.execute(SHOWN, {"p": see_it, "r": public_reply}, as_="painter")
    assert seen.data["post"] == {"artworks": [{"title": "Harbour"}]}
    assert seen.data["reply"]["replyTo"] == {"id": diary}
