"""Hidden works stay hidden everywhere: identify, live tombstones, tag feeds and counts.

A work (post or artwork) that is PRIVATE, or FOLLOWERS-only for someone who does not follow its
artist, must not be revealed by any answer: not its image, not its existence (a tombstone's id),
not its tags, not a count that includes it.
"""

from __future__ import annotations

from typing import Any

import pytest

from storage.models import User
from tests.graphql import GraphQLClient
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
