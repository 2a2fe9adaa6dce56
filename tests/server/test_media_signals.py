"""Media responses: signed expiring URLs and the "do not train" signals, on both object stores."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from resolvers.surrogates import ImageRef
from server.signing import MediaSigner, media_signing_key
from storage.models import MediaAsset, TrainingPolicy
from tests.graphql import GraphQLClient
from tests.images import photo
from tests.services import MotoServer

SECRET = "a-test-secret-that-is-long-enough-0123456789"
CREATE = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id images { variants { size format contentType url } } } errors { code } } }"""
UPDATE = """mutation($a: ID!, $i: UpdateArtworkInput!) { updateArtwork(id: $a, input: $i) {
  artwork { aiTrainingPolicy } errors { code } } }"""
PROFILE = """mutation($i: UpdateProfileInput!) { updateProfile(input: $i) {
  user { aiTrainingPolicy } errors { code } } }"""
RESERVED = {"x-robots-tag": "noai, noimageai", "tdm-reservation": "1"}
POLICY_URL = "http://127.0.0.1:8000/tdm-policy.json"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0"


@pytest.fixture(params=["local", "s3"])
async def site(request: pytest.FixtureRequest, clean_db: str) -> AsyncIterator[GraphQLClient]:
    """The app with the object store of the parameter, and a signed-in artist "ada"."""
    environ = {"GESSO_SECRET_KEY": SECRET}
    if request.param == "s3":
        server: MotoServer = request.getfixturevalue("moto_server")
        environ |= {
            "GESSO_OBJECT_STORE": "s3",
            "S3_BUCKET": f"gesso-media-{uuid.uuid4().hex[:12]}",
            "S3_ENDPOINT_URL": server.endpoint_url,
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_CREATE_BUCKET": "true",
        }
    async with GraphQLClient.for_app(**environ) as client:
        await client.sign_up("ada")
        yield client


async def _artwork(site: GraphQLClient, title: str, seed: int) -> tuple[str, list[dict[str, Any]]]:
    result = await site.upload(
        CREATE,
        {"i": {"title": title, "images": [{"file": None}]}},
        {"i.images.0.file": ("a.jpg", photo(320, 256, seed=seed), "image/jpeg")},
        as_="ada",
    )
    payload = result.data["createArtwork"]
    assert payload["errors"] == []
    (image,) = payload["artwork"]["images"]
    return payload["artwork"]["id"], image["variants"]


async def _urls(site: GraphQLClient, artwork_id: str) -> list[str]:
    """The URLs of an artwork's images, as the API hands them out now."""
    result = await site.execute(
        "query($a: ID!) { node(id: $a) { ... on Artwork { images { variants { url } } } } }",
        {"a": artwork_id},
        as_="ada",
    )
    return [v["url"] for image in result.data["node"]["images"] for v in image["variants"]]


def _assert_reserved(response: httpx.Response) -> None:
    for name, value in RESERVED.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert response.headers.get("tdm-policy") == POLICY_URL


def _assert_not_reserved(response: httpx.Response) -> None:
    assert "x-robots-tag" not in response.headers
    assert response.headers.get("tdm-reservation") == "0"
    assert "tdm-policy" not in response.headers


async def test_every_media_response_carries_every_signal(site: GraphQLClient) -> None:
    # given an artwork by an artist with the default policy (DISALLOWED)
    _, variants = await _artwork(site, "Harbour", seed=1)
    assert len(variants) == 6
    for variant in variants:
        # when each variant is fetched, revalidated and asked for with HEAD
        fetched = await site.http.get(variant["url"])
        again = await site.http.get(
            variant["url"], headers={"If-None-Match": fetched.headers["etag"]}
        )
        head = await site.http.head(variant["url"])
        # then all three responses say "do not train", with type, caching and validator
        assert (fetched.status_code, again.status_code, head.status_code) == (200, 304, 200)
        for response in (fetched, again, head):
            _assert_reserved(response)
            assert response.headers["etag"] == fetched.headers["etag"]
            assert response.headers["cache-control"].startswith("public, max-age=")
            keys = response.headers["xkey"].split()
            assert [k.split("-")[0] for k in keys] == ["asset", "artwork", "artist"], keys
            assert response.headers["surrogate-key"] == response.headers["xkey"]
            assert response.headers["cache-tag"] == ",".join(keys)
        assert fetched.headers["content-type"] == variant["contentType"]
        assert head.headers["content-type"] == variant["contentType"]
        assert fetched.content[:3] in (b"\xff\xd8\xff", b"RIF")
        assert int(fetched.headers["content-length"]) == len(fetched.content)


async def test_allowing_one_artwork_removes_its_signals_only(site: GraphQLClient) -> None:
    # given two artworks by the same artist
    allowed_id, allowed = await _artwork(site, "Open", seed=2)
    _, reserved = await _artwork(site, "Closed", seed=3)
    # when the artist allows training on one of them
    changed = await site.execute(
        UPDATE, {"a": allowed_id, "i": {"aiTrainingPolicy": "ALLOWED"}}, as_="ada"
    )
    assert changed.data["updateArtwork"] == {
        "artwork": {"aiTrainingPolicy": "ALLOWED"},
        "errors": [],
    }
    # then the URLs handed out from the next response on differ for that artwork only ...
    for url in await _urls(site, allowed_id):
        _assert_not_reserved(await site.http.get(url))
    assert set(await _urls(site, allowed_id)).isdisjoint(v["url"] for v in allowed)
    for variant in reserved:
        _assert_reserved(await site.http.get(variant["url"]))
    # ... while the URLs made before keep serving what they signed (reserved) until they expire
    for variant in allowed:
        _assert_reserved(await site.http.get(variant["url"]))


async def test_withdrawn_consent_counts_from_the_next_response(site: GraphQLClient) -> None:
    # given an artwork whose artist allowed training, and a URL made then
    artwork_id, _ = await _artwork(site, "Open", seed=12)
    await site.execute(UPDATE, {"a": artwork_id, "i": {"aiTrainingPolicy": "ALLOWED"}}, as_="ada")
    (allowed_url, *_) = await _urls(site, artwork_id)
    _assert_not_reserved(await site.http.get(allowed_url))
    # when the artist withdraws consent
    await site.execute(
        UPDATE, {"a": artwork_id, "i": {"aiTrainingPolicy": "DISALLOWED"}}, as_="ada"
    )
    # then the URL made before says "do not train" from the next response, and crawlers get 403
    _assert_reserved(await site.http.get(allowed_url))
    crawler = await site.http.get(allowed_url, headers={"User-Agent": "GPTBot/1.2"})
    assert (crawler.status_code, crawler.json()["code"]) == (403, "AI_CRAWLER")


async def test_the_artist_default_applies_until_an_artwork_overrides_it(
    site: GraphQLClient,
) -> None:
    # given an artwork with an explicit DISALLOWED override and one without
    kept_id, _ = await _artwork(site, "Kept", seed=4)
    follows_id, _ = await _artwork(site, "Follows", seed=5)
    await site.execute(UPDATE, {"a": kept_id, "i": {"aiTrainingPolicy": "DISALLOWED"}}, as_="ada")
    # when the artist's default becomes ALLOWED
    result = await site.execute(PROFILE, {"i": {"aiTrainingPolicy": "ALLOWED"}}, as_="ada")
    assert result.data["updateProfile"]["user"] == {"aiTrainingPolicy": "ALLOWED"}
    # then the artwork without an override follows, the overridden one does not
    _assert_not_reserved(await site.http.get((await _urls(site, follows_id))[0]))
    _assert_reserved(await site.http.get((await _urls(site, kept_id))[0]))


async def test_a_scraper_gets_nothing_without_a_fresh_signed_url(site: GraphQLClient) -> None:
    # given a published image and its signed URL
    _, variants = await _artwork(site, "Target", seed=6)
    url = urlsplit(variants[0]["url"])
    key = url.path.removeprefix("/media/")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    asset_id = int(query["m"])
    other = await MediaAsset.create(
        owner_id=(await MediaAsset.get(id=asset_id)).owner_id,
        kind="post",
        watermark_id=12345,
        width=1,
        height=1,
    )
    expired = MediaSigner(media_signing_key(SECRET.encode()), clock=lambda: time.time() - 7300)
    image = ImageRef(asset_id, other.owner_id, int(query["w"]), TrainingPolicy.DISALLOWED)
    signed = f"/media/{key}?m={asset_id}&u={query['u']}&w={query['w']}&t=r"
    attempts = {
        "bare key": f"/media/{key}",
        "enumerated key": "/media/00/00/" + "0" * 64 + ".webp",
        "forged signature": f"{signed}&exp={query['exp']}&sig={'A' * 22}",
        "later expiry": f"{signed}&exp={int(query['exp']) + 3600}&sig={query['sig']}",
        "other asset": f"{signed.replace(str(asset_id), str(other.id))}&exp={query['exp']}"
        f"&sig={query['sig']}",
        "training allowed": f"{signed[:-1]}a&exp={query['exp']}&sig={query['sig']}",
        "expired": expired.url(key, image),
        "malformed": f"/media/{key}?m=1e3&u=1&t=r&exp=x&sig={query['sig']}",
        "repeated": f"{variants[0]['url']}&m={asset_id}",
        "cache buster": f"{variants[0]['url']}&cb=1",
    }
    for name, attempt in attempts.items():
        # when the scraper tries it
        response = await site.http.get(attempt)
        # then it is refused, before anything is read, and the refusal still says "do not train"
        assert response.status_code == 403, name
        assert response.json()["code"] == "MEDIA_URL_INVALID", name
        _assert_reserved(response)
    # and the genuine URL still works
    assert (await site.http.get(variants[0]["url"])).status_code == 200


async def test_ai_crawlers_get_403_on_reserved_media_and_on_the_api(site: GraphQLClient) -> None:
    # given an artwork, reserved, and one whose artist allowed training
    allowed_id, _ = await _artwork(site, "Open", seed=7)
    _, reserved = await _artwork(site, "Closed", seed=8)
    await site.execute(UPDATE, {"a": allowed_id, "i": {"aiTrainingPolicy": "ALLOWED"}}, as_="ada")
    crawler = {"User-Agent": "Mozilla/5.0 AppleWebKit/537.36; compatible; GPTBot/1.2"}
    # when a known AI crawler asks for media and for the API
    media = await site.http.get(reserved[0]["url"], headers=crawler)
    consented = await site.http.get((await _urls(site, allowed_id))[0], headers=crawler)
    api = await site.http.post("/graphql", json={"query": "{ __typename }"}, headers=crawler)
    # then reserved media and the API refuse it; the artwork whose artist consented is served
    assert (media.status_code, media.json()["code"]) == (403, "AI_CRAWLER")
    _assert_reserved(media)
    assert api.status_code == 403
    assert api.json()["errors"][0]["extensions"]["code"] == "AI_CRAWLER"
    assert consented.status_code == 200
    # and an ordinary browser is served both
    assert (
        await site.http.get(reserved[0]["url"], headers={"User-Agent": BROWSER})
    ).status_code == 200
    browser_api = await site.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"User-Agent": BROWSER}
    )
    assert browser_api.json() == {"data": {"__typename": "Query"}}


async def test_a_deleted_image_is_gone_even_with_a_valid_url(site: GraphQLClient) -> None:
    artwork_id, variants = await _artwork(site, "Gone", seed=9)
    await site.execute(
        "mutation($a: ID!) { deleteArtwork(id: $a) { errors { code } } }",
        {"a": artwork_id},
        as_="ada",
    )
    response = await site.http.get(variants[0]["url"])
    assert response.status_code == 404
    _assert_reserved(response)


async def test_ranges_are_answered_206_by_the_api_itself(site: GraphQLClient) -> None:
    _, variants = await _artwork(site, "Ranges", seed=21)
    url = variants[0]["url"]
    whole = await site.http.get(url)
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    etag = whole.headers["etag"]

    head = await site.http.get(url, headers={"Range": "bytes=0-99"})
    assert head.status_code == 206
    assert head.headers["content-range"] == f"bytes 0-99/{size}"
    assert head.headers["content-length"] == "100"
    assert head.content == whole.content[:100]
    _assert_reserved(head)

    tail = await site.http.get(url, headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, whole.content[-10:])
    middle = await site.http.get(url, headers={"Range": f"bytes=70000-{size + 500}"})
    if size > 70000:  # past the store's first chunk
        assert middle.content == whole.content[70000:]
    rest = await site.http.get(url, headers={"Range": f"bytes={size - 5}-"})
    assert rest.headers["content-range"] == f"bytes {size - 5}-{size - 1}/{size}"
    assert rest.content == whole.content[-5:]

    beyond = await site.http.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.content == b""

    # a stale If-Range, several ranges or a malformed header: the whole image
    for headers in (
        {"Range": "bytes=0-9", "If-Range": '"stale"'},
        {"Range": "bytes=0-9,20-29"},
        {"Range": "pages=1"},
    ):
        full = await site.http.get(url, headers=headers)
        assert (full.status_code, full.content) == (200, whole.content), headers
    current = await site.http.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (current.status_code, current.content) == (206, whole.content[:10])
