"""Content warnings and sensitive images: the URLs of a sensitive image reach its owner, viewers
who opted in by setting, and anyone who opts in on the request, and nobody else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.models import MediaAsset
from storage.persisted import sha256_of
from tests.graphql import GraphQLClient
from tests.images import photo
from tests.security.conftest import PRODUCTION

CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id contentWarning sensitive } errors { field code } } }"""
CREATE_POST = """mutation($i: CreatePostInput!) { createPost(input: $i) {
  post { id contentWarning sensitive } errors { field code } } }"""
UPDATE_ARTWORK = """mutation($a: ID!, $i: UpdateArtworkInput!) { updateArtwork(id: $a, input: $i) {
  artwork { sensitive contentWarning } errors { field code } } }"""
SETTINGS = """mutation($s: Boolean) { updateSettings(input: {showSensitive: $s}) {
  user { showSensitive } errors { code } } }"""
IMAGES = """query($a: ID!) { artwork(id: $a) { sensitive images { sensitive url variants { url }
  opted: url(showSensitive: true) } } }"""


@pytest.fixture
async def gallery(clean_db: str) -> AsyncIterator[tuple[GraphQLClient, str]]:
    """``vic`` published an artwork with one image behind a content warning; ``wes`` is another
    member."""
    async with GraphQLClient.for_app(**PRODUCTION) as gql:
        for handle in ("vic", "wes"):
            await gql.sign_up(handle)
        made = await gql.upload(
            CREATE_ARTWORK,
            {"i": {"title": "Nude study", "contentWarning": "nudity", "images": [{"file": None}]}},
            {"i.images.0.file": ("study.jpg", photo(320, 256, seed=3), "image/jpeg")},
            as_="vic",
        )
        created = made.data["createArtwork"]
        assert created["errors"] == [], made.body
        assert created["artwork"]["contentWarning"] == "nudity"
        assert created["artwork"]["sensitive"] is True  # a warning makes the images sensitive
        yield gql, created["artwork"]["id"]


def _urls(image: dict[str, object]) -> tuple[bool, bool, bool]:
    """(url given, variants given, url given when opted in on the request)."""
    variants = image["variants"]
    assert isinstance(variants, list)
    return image["url"] is not None, bool(variants), image["opted"] is not None


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        pytest.param(None, (False, False, True), id="anonymous"),
        pytest.param("wes", (False, False, True), id="member-without-the-setting"),
        pytest.param("vic", (True, True, True), id="the-artist"),
    ],
)
async def test_who_gets_the_urls_of_a_sensitive_image(
    gallery: tuple[GraphQLClient, str], viewer: str | None, expected: tuple[bool, bool, bool]
) -> None:
    gql, artwork = gallery
    read = await gql.execute(IMAGES, {"a": artwork}, as_=viewer)
    (image,) = read.data["artwork"]["images"]
    assert image["sensitive"] is True
    assert _urls(image) == expected


async def test_the_setting_opts_in_and_out(gallery: tuple[GraphQLClient, str]) -> None:
    gql, artwork = gallery
    # the setting is the account's own: null to anyone else
    others = await gql.execute('{ user(handle: "wes") { showSensitive } }', as_="vic")
    assert others.data["user"]["showSensitive"] is None
    on = await gql.execute(SETTINGS, {"s": True}, as_="wes")
    assert on.data["updateSettings"] == {"user": {"showSensitive": True}, "errors": []}
    (image,) = (await gql.execute(IMAGES, {"a": artwork}, as_="wes")).data["artwork"]["images"]
    assert _urls(image) == (True, True, True)
    off = await gql.execute(SETTINGS, {"s": False}, as_="wes")
    assert off.data["updateSettings"]["user"] == {"showSensitive": False}
    (image,) = (await gql.execute(IMAGES, {"a": artwork}, as_="wes")).data["artwork"]["images"]
    assert _urls(image) == (False, False, True)


async def test_clearing_the_flag_releases_the_images(gallery: tuple[GraphQLClient, str]) -> None:
    gql, artwork = gallery
    cleared = await gql.execute(
        UPDATE_ARTWORK, {"a": artwork, "i": {"contentWarning": "", "sensitive": False}}, as_="vic"
    )
    assert cleared.data["updateArtwork"] == {
        "artwork": {"sensitive": False, "contentWarning": ""},
        "errors": [],
    }
    assert await MediaAsset.filter(sensitive=True).count() == 0
    (image,) = (await gql.execute(IMAGES, {"a": artwork})).data["artwork"]["images"]
    assert image["sensitive"] is False
    assert _urls(image) == (True, True, True)
    # and marking it again withholds them again
    marked = await gql.execute(UPDATE_ARTWORK, {"a": artwork, "i": {"sensitive": True}}, as_="vic")
    assert marked.data["updateArtwork"]["artwork"]["sensitive"] is True
    (image,) = (await gql.execute(IMAGES, {"a": artwork})).data["artwork"]["images"]
    assert _urls(image) == (False, False, True)


async def test_a_warning_too_long_is_refused(gallery: tuple[GraphQLClient, str]) -> None:
    gql, _ = gallery
    refused = await gql.execute(
        CREATE_POST, {"i": {"text": "hm", "contentWarning": "x" * 501}}, as_="wes"
    )
    assert refused.data["createPost"] == {
        "post": None,
        "errors": [{"field": "contentWarning", "code": "TOO_LONG"}],
    }


FEED = "query SensitiveFeed { discoverFeed { nodes { text contentWarning sensitive } } }"


async def test_feeds_carry_the_warning_on_both_paths(gallery: tuple[GraphQLClient, str]) -> None:
    gql, _ = gallery
    for i, (warning, flag) in enumerate([("", False), ("spiders", False), ("", True)]):
        posted = await gql.execute(
            CREATE_POST,
            {"i": {"text": f"p{i}", "contentWarning": warning, "sensitive": flag}},
            as_="wes",
        )
        assert posted.data["createPost"]["errors"] == []
    expected = [
        {"text": "p2", "contentWarning": "", "sensitive": True},
        {"text": "p1", "contentWarning": "spiders", "sensitive": True},
        {"text": "p0", "contentWarning": "", "sensitive": False},
    ]
    plans = gql.app.state.graphql.plans
    regular = await gql.execute(FEED)
    assert regular.data["discoverFeed"]["nodes"] == expected
    assert plans.get(sha256_of(FEED), None) is not None
    served = plans.served
    compiled = await gql.execute(FEED)
    assert plans.served == served + 1
    assert compiled.data == regular.data
