"""The no-AI-art rule on upload: a JPEG whose C2PA manifest or IPTC digital source type says
``trainedAlgorithmicMedia`` is refused from portfolios (``AI_GENERATED``) and labelled in posts
by default, as ``GESSO_AI_IMAGES`` says otherwise; an ordinary photo passes; moderators can set
and clear the label."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from resolvers import moderation
from storage.models import Artwork, MediaAsset, Post, Role
from tests.graphql import GraphQLClient
from tests.images import photo, with_c2pa_source_type, with_xmp_source_type

CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id aiGenerated } errors { field code message } } }"""
CREATE_POST = """mutation($i: CreatePostInput!) { createPost(input: $i) {
  post { id aiGenerated } errors { field code message } } }"""
ADD_IMAGE = """mutation($a: ID!, $i: ImageInput!) { addArtworkImage(artworkId: $a, image: $i) {
  artwork { aiGenerated } errors { field code } } }"""
SET_AI = """mutation($s: ID!, $v: Boolean!) { setAiGenerated(subjectId: $s, aiGenerated: $v) {
  subject { ... on Artwork { aiGenerated } } errors { code } } }"""

ORDINARY = photo(320, 256, seed=11)
FILES = {
    "c2pa": with_c2pa_source_type(ORDINARY, "trainedAlgorithmicMedia"),
    "iptc": with_xmp_source_type(ORDINARY, "trainedAlgorithmicMedia"),
}


async def _upload(gql: GraphQLClient, kind: str, data: bytes) -> dict[str, object]:
    document, name = (
        (CREATE_ARTWORK, "createArtwork") if kind == "artwork" else (CREATE_POST, "createPost")
    )
    fields = {"title": "Dawn"} if kind == "artwork" else {"text": "Dawn"}
    done = await gql.upload(
        document,
        {"i": {**fields, "images": [{"file": None}]}},
        {"i.images.0.file": ("dawn.jpg", data, "image/jpeg")},
        as_="ivy",
    )
    payload: dict[str, object] = done.data[name]
    return payload


@pytest.fixture
async def site(clean_db: str, request: pytest.FixtureRequest) -> AsyncIterator[GraphQLClient]:
    environ = {"GESSO_AI_IMAGES": request.param} if request.param else {}
    async with GraphQLClient.for_app(**environ) as gql:
        await gql.sign_up("ivy")
        yield gql


# (GESSO_AI_IMAGES, where) -> what happens to a generated image
RULE = {
    (None, "artwork"): "refused",
    (None, "post"): "labelled",
    ("refuse", "artwork"): "refused",
    ("refuse", "post"): "refused",
    ("label", "artwork"): "labelled",
    ("label", "post"): "labelled",
}


@pytest.mark.parametrize("metadata", sorted(FILES))
@pytest.mark.parametrize(
    ("site", "kind"),
    [pytest.param(setting, kind, id=f"{setting}-{kind}") for setting, kind in RULE],
    indirect=["site"],
)
async def test_a_generated_upload_is_refused_or_labelled(
    site: GraphQLClient, kind: str, metadata: str
) -> None:
    setting = site.services.ai_images
    payload = await _upload(site, kind, FILES[metadata])
    model = Artwork if kind == "artwork" else Post
    if RULE[(setting, kind)] == "refused":
        assert payload[kind] is None
        errors = payload["errors"]
        assert isinstance(errors, list)
        (error,) = errors
        assert (error["field"], error["code"]) == ("images", "AI_GENERATED")
        assert "trainedAlgorithmicMedia" in error["message"]
        # and nothing was written: no work, no image
        assert await model.all().count() == 0
        assert await MediaAsset.all().count() == 0
    else:
        assert payload["errors"] == []
        assert payload[kind]["aiGenerated"] is True  # type: ignore[index]
        assert await MediaAsset.all().count() == 1


@pytest.mark.parametrize("site", [None], indirect=True)
@pytest.mark.parametrize("kind", ["artwork", "post"])
async def test_an_ordinary_photo_passes(site: GraphQLClient, kind: str) -> None:
    payload = await _upload(site, kind, ORDINARY)
    assert payload["errors"] == []
    assert payload[kind]["aiGenerated"] is False  # type: ignore[index]


@pytest.mark.parametrize("site", ["label"], indirect=True)
async def test_an_image_added_later_labels_the_artwork(site: GraphQLClient) -> None:
    made = await _upload(site, "artwork", ORDINARY)
    artwork = made["artwork"]["id"]  # type: ignore[index]
    added = await site.upload(
        ADD_IMAGE,
        {"a": artwork, "i": {"file": None}},
        {"i.file": ("more.jpg", FILES["c2pa"], "image/jpeg")},
        as_="ivy",
    )
    assert added.data["addArtworkImage"] == {"artwork": {"aiGenerated": True}, "errors": []}
    # and a moderator can clear the label (and set it again)
    await site.sign_up("moe")
    await moderation.set_role("moe", Role.MODERATOR, granted=True)
    cleared = await site.execute(SET_AI, {"s": artwork, "v": False}, as_="moe")
    assert cleared.data["setAiGenerated"] == {"subject": {"aiGenerated": False}, "errors": []}
    assert (await Artwork.get()).ai_generated is False


@pytest.mark.parametrize("site", [None], indirect=True)
async def test_a_generated_image_cannot_join_a_portfolio_later(site: GraphQLClient) -> None:
    made = await _upload(site, "artwork", ORDINARY)
    refused = await site.upload(
        ADD_IMAGE,
        {"a": made["artwork"]["id"], "i": {"file": None}},  # type: ignore[index]
        {"i.file": ("more.jpg", FILES["iptc"], "image/jpeg")},
        as_="ivy",
    )
    assert refused.data["addArtworkImage"]["errors"] == [{"field": "image", "code": "AI_GENERATED"}]
    assert await MediaAsset.all().count() == 1
