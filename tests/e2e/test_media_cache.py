"""The media cache for real: ``varnishd`` with the repository's VCL in front of a live API
process, on the local object store and on S3 (moto's server).

A hit is counted by the API's own ``gesso_media_responses`` metric: a request the cache answers
does not move it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from resolvers.surrogates import ImageRef
from server.signing import MediaSigner, media_signing_key
from storage.models import TrainingPolicy
from tests.e2e.live import LiveServer
from tests.e2e.varnish import Varnish
from tests.graphql import GraphQLClient
from tests.images import photo
from tests.services import MotoServer

pytestmark = pytest.mark.e2e

SECRET = "a-media-cache-test-secret-0123456789abcdef"
CREATE = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id images { url(size: MEDIUM) } } errors { code } } }"""
UPDATE = """mutation($a: ID!, $i: UpdateArtworkInput!) { updateArtwork(id: $a, input: $i) {
  errors { code } } }"""
IMAGES = "query($a: ID!) { node(id: $a) { ... on Artwork { images { url(size: MEDIUM) } } } }"
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0"
PURGE_WITHIN = 1.0


@dataclass
class Stack:
    api: LiveServer
    cache: Varnish
    http: httpx.AsyncClient  # to the cache

    def misses(self) -> float:
        """How many /media/ requests reached the API so far."""
        text = httpx.get(f"{self.api.url}/metrics", timeout=5).text
        found = re.findall(r'^gesso_media_responses_total\{status="\d+"\} (\S+)$', text, re.M)
        return sum(float(value) for value in found)

    async def get(self, url: str, **headers: str) -> httpx.Response:
        return await self.http.get(
            urlsplit(url)._replace(scheme="", netloc="").geturl(),
            headers={"User-Agent": BROWSER, **headers},
        )


@pytest.fixture(scope="module", params=["local", "s3"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Varnish]]:
    workdir = tmp_path_factory.mktemp(f"media-cache-{request.param}")
    cache = Varnish(workdir)
    env = {"GESSO_SECRET_KEY": SECRET, "GESSO_MEDIA_PURGE_URL": cache.purge_url}
    if request.param == "s3":
        moto: MotoServer = request.getfixturevalue("moto_server")
        env |= {
            "GESSO_OBJECT_STORE": "s3",
            "S3_BUCKET": f"gesso-cache-{uuid.uuid4().hex[:12]}",
            "S3_ENDPOINT_URL": moto.endpoint_url,
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_CREATE_BUCKET": "true",
        }
    api = LiveServer(workdir, env).start()
    try:
        cache.start(api.port)
        yield api, cache
    finally:
        cache.stop()
        api.stop()


@pytest.fixture
async def site(stack: tuple[LiveServer, Varnish]) -> AsyncIterator[tuple[Stack, GraphQLClient]]:
    api, cache = stack
    async with (
        httpx.AsyncClient(base_url=cache.url, timeout=30) as http,
        GraphQLClient.for_url(api.url) as gql,
    ):
        handle = f"ada_{uuid.uuid4().hex[:8]}"
        await gql.sign_up(handle)
        gql.token = gql.token_of(handle)
        yield Stack(api, cache, http), gql


async def _artwork(gql: GraphQLClient, seed: int) -> tuple[str, str]:
    """A new artwork of the signed-in artist with one image: its id and its medium WebP URL."""
    result = await gql.upload(
        CREATE,
        {"i": {"title": f"Study {seed}", "images": [{"file": None}]}},
        {"i.images.0.file": ("a.jpg", photo(160, 128, seed=seed), "image/jpeg")},
    )
    payload = result.data["createArtwork"]
    assert payload["errors"] == []
    return payload["artwork"]["id"], payload["artwork"]["images"][0]["url"]


async def _url_now(gql: GraphQLClient, artwork_id: str) -> str:
    result = await gql.execute(IMAGES, {"a": artwork_id})
    url: str = result.data["node"]["images"][0]["url"]
    return url


async def _cached(stack: Stack, url: str) -> httpx.Response:
    """Fetch ``url`` until the cache holds it; the last response (a hit)."""
    await stack.get(url)
    response = await stack.get(url)
    assert response.headers["x-cache"] == "HIT", response.headers
    return response


async def _purged_within(stack: Stack, url: str, seconds: float) -> float:
    """How long until ``url`` is no longer a hit (fails after ``seconds``)."""
    started = time.monotonic()
    while True:
        response = await stack.get(url)
        if response.headers.get("x-cache") != "HIT":
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, "the cached image was not purged in time"
        await _sleep(0.02)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def test_the_second_request_is_a_hit_that_does_not_reach_the_api(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    _, url = await _artwork(gql, seed=1)
    before = stack.misses()
    # when the image is fetched twice through the cache
    first = await stack.get(url)
    second = await stack.get(url)
    # then the first is a miss answered by the API, the second a hit the API never sees
    assert (first.status_code, first.headers["x-cache"]) == (200, "MISS")
    assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
    assert stack.misses() == before + 1
    assert second.content == first.content
    assert second.content[:4] == b"RIFF"
    # and the hit says what the origin said: cacheable until the URL expires, "do not train"
    assert second.headers["cache-control"].startswith("public, max-age=")
    assert second.headers["x-robots-tag"] == "noai, noimageai"
    assert second.headers["tdm-reservation"] == "1"
    assert second.headers["surrogate-key"].split()[0].startswith("asset-")
    assert "xkey" not in second.headers  # the cache's own tag stays inside


async def test_range_and_conditional_requests_are_answered_from_the_cache(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    _, url = await _artwork(gql, seed=2)
    whole = await _cached(stack, url)
    before = stack.misses()
    part = await stack.get(url, Range="bytes=0-99")
    tail = await stack.get(url, Range="bytes=-10")
    again = await stack.get(url, **{"If-None-Match": whole.headers["etag"]})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
    assert part.content == whole.content[:100]
    assert (tail.status_code, tail.content) == (206, whole.content[-10:])
    assert again.status_code == 304
    assert stack.misses() == before


async def test_a_range_on_a_miss_is_served_too(site: tuple[Stack, GraphQLClient]) -> None:
    stack, gql = site
    _, url = await _artwork(gql, seed=3)
    part = await stack.get(url, Range="bytes=10-19")
    assert (part.status_code, len(part.content)) == (206, 10)
    assert (await stack.get(url)).headers["x-cache"] == "HIT"


async def test_a_policy_change_purges_and_hands_out_new_urls(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    artwork_id, url = await _artwork(gql, seed=4)
    await _cached(stack, url)
    # when the artist allows training on the artwork
    changed = await gql.execute(UPDATE, {"a": artwork_id, "i": {"aiTrainingPolicy": "ALLOWED"}})
    assert changed.data["updateArtwork"]["errors"] == []
    # then the cached image is purged within a second ...
    assert await _purged_within(stack, url, PURGE_WITHIN) < PURGE_WITHIN
    # ... and the next response hands out another URL, which says training is allowed
    new_url = await _url_now(gql, artwork_id)
    assert new_url != url
    assert parse_qs(urlsplit(new_url).query)["t"] == ["a"]
    allowed = await stack.get(new_url)
    assert (allowed.status_code, allowed.headers["tdm-reservation"]) == (200, "0")
    # and a known AI crawler is served the allowed image, at the edge or not
    assert (await stack.get(new_url, **{"User-Agent": GPTBOT})).status_code == 200
    assert (await stack.get(new_url, **{"User-Agent": GPTBOT})).headers["x-cache"] == "HIT"


async def test_a_change_of_the_artist_default_purges_their_images(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    artwork_id, url = await _artwork(gql, seed=5)
    await _cached(stack, url)
    changed = await gql.execute(
        "mutation { updateProfile(input: {aiTrainingPolicy: ALLOWED}) { errors { code } } }"
    )
    assert changed.data["updateProfile"]["errors"] == []
    assert await _purged_within(stack, url, PURGE_WITHIN) < PURGE_WITHIN
    assert parse_qs(urlsplit(await _url_now(gql, artwork_id)).query)["t"] == ["a"]
    await gql.execute(
        "mutation { updateProfile(input: {aiTrainingPolicy: DISALLOWED}) { errors { code } } }"
    )


async def test_withdrawn_consent_reaches_the_edge(site: tuple[Stack, GraphQLClient]) -> None:
    # given an allowed image cached under its allowed URL
    stack, gql = site
    artwork_id, _ = await _artwork(gql, seed=6)
    await gql.execute(UPDATE, {"a": artwork_id, "i": {"aiTrainingPolicy": "ALLOWED"}})
    allowed_url = await _url_now(gql, artwork_id)
    await _cached(stack, allowed_url)
    # when the artist withdraws consent
    await gql.execute(UPDATE, {"a": artwork_id, "i": {"aiTrainingPolicy": "DISALLOWED"}})
    await _purged_within(stack, allowed_url, PURGE_WITHIN)
    # then even the URL made before says "do not train", and crawlers get 403 from the cache
    served = await stack.get(allowed_url)
    assert served.headers["x-robots-tag"] == "noai, noimageai"
    refused = await stack.get(allowed_url, **{"User-Agent": GPTBOT})
    assert (refused.status_code, refused.json()["code"]) == (403, "AI_CRAWLER")


async def test_a_visibility_change_purges(site: tuple[Stack, GraphQLClient]) -> None:
    stack, gql = site
    artwork_id, url = await _artwork(gql, seed=7)
    await _cached(stack, url)
    changed = await gql.execute(UPDATE, {"a": artwork_id, "i": {"visibility": "FOLLOWERS"}})
    assert changed.data["updateArtwork"]["errors"] == []
    assert await _purged_within(stack, url, PURGE_WITHIN) < PURGE_WITHIN


async def test_a_deletion_purges_and_the_404_is_not_kept(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    artwork_id, url = await _artwork(gql, seed=8)
    await _cached(stack, url)
    deleted = await gql.execute(
        "mutation($a: ID!) { deleteArtwork(id: $a) { errors { code } } }", {"a": artwork_id}
    )
    assert deleted.data["deleteArtwork"]["errors"] == []
    assert await _purged_within(stack, url, PURGE_WITHIN) < PURGE_WITHIN
    before = stack.misses()
    gone = [await stack.get(url) for _ in range(2)]
    assert [r.status_code for r in gone] == [404, 404]
    assert stack.misses() == before + 2


async def test_crawlers_are_refused_at_the_edge_on_reserved_images(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    _, url = await _artwork(gql, seed=9)
    await _cached(stack, url)
    before = stack.misses()
    refused = await stack.get(url, **{"User-Agent": GPTBOT})
    assert (refused.status_code, refused.json()["code"]) == (403, "AI_CRAWLER")
    assert refused.headers["x-robots-tag"] == "noai, noimageai"
    assert refused.headers["cache-control"] == "no-store"
    # a name of several words, in another case, is refused too; a longer token is not a name
    assert (await stack.get(url, **{"User-Agent": "x (sidetrade INDEXER bot)"})).status_code == 403
    assert (await stack.get(url, **{"User-Agent": "CCBotanics-App/1.0"})).status_code == 200
    assert stack.misses() == before  # refused before the lookup: the API saw none of it


async def test_expired_altered_and_unsigned_urls_are_refused_and_never_kept(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    _, url = await _artwork(gql, seed=10)
    await _cached(stack, url)
    path = urlsplit(url).path
    key = path.removeprefix("/media/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    image = ImageRef(int(query["m"]), int(query["u"]), int(query["w"]), TrainingPolicy.DISALLOWED)
    signer = MediaSigner(media_signing_key(SECRET.encode()), clock=lambda: time.time() - 7300)
    attempts = {
        "expired": signer.url(key, image),
        "altered": url.replace(f"sig={query['sig']}", "sig=" + "A" * 22),
        "allowed": url.replace("&t=r&", "&t=a&"),
        "unsigned": path,
    }
    for name, attempt in attempts.items():
        before = stack.misses()
        answers = [await stack.get(attempt) for _ in range(2)]
        assert [r.status_code for r in answers] == [403, 403], name
        assert [r.headers["x-cache"] for r in answers] == ["MISS", "MISS"], name
        assert stack.misses() == before + 2, name  # both reached the API: nothing was kept


async def test_deleting_a_post_or_one_image_purges_its_images(
    site: tuple[Stack, GraphQLClient],
) -> None:
    stack, gql = site
    # given a post with an image, and an artwork image, both cached
    posted = await gql.upload(
        """mutation($i: CreatePostInput!) { createPost(input: $i) {
          post { id images { url(size: MEDIUM) } } errors { code } } }""",
        {"i": {"text": "sketch", "images": [{"file": None}]}},
        {"i.images.0.file": ("a.jpg", photo(160, 128, seed=11), "image/jpeg")},
    )
    post = posted.data["createPost"]["post"]
    post_url = post["images"][0]["url"]
    _, artwork_url = await _artwork(gql, seed=12)
    image_id = (
        await gql.execute("query { viewer { portfolio(first: 1) { nodes { images { id } } } } }")
    ).data["viewer"]["portfolio"]["nodes"][0]["images"][0]["id"]
    for url in (post_url, artwork_url):
        await _cached(stack, url)
    # when the post is deleted, and the artwork's image removed
    deleted = await gql.execute(
        "mutation($p: ID!) { deletePost(id: $p) { errors { code } } }", {"p": post["id"]}
    )
    removed = await gql.execute(
        "mutation($i: ID!) { removeArtworkImage(id: $i) { errors { code } } }", {"i": image_id}
    )
    assert deleted.data["deletePost"]["errors"] == []
    assert removed.data["removeArtworkImage"]["errors"] == []
    # then both are purged within a second, and gone
    for url in (post_url, artwork_url):
        assert await _purged_within(stack, url, PURGE_WITHIN) < PURGE_WITHIN
        assert (await stack.get(url)).status_code == 404
