"""Hidden works stay hidden everywhere: identify, live tombstones, tag feeds and counts.

A work (post or artwork) that is PRIVATE, or FOLLOWERS-only for someone who does not follow its
artist, must not be revealed by any answer: not its image, not its existence (a tombstone's id),
not its tags, not a count that includes it.
"""

from __future__ import annotations

from typing import Any

from tests.graphql import GraphQLClient
from tests.images import photo

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
