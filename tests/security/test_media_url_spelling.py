"""A signed media URL has exactly one spelling.

A shared cache keys what it keeps by the URL, so every other spelling of a valid URL (a parameter
added, repeated, or written with a leading zero) would be a cache miss served by the API: anyone
could make every request of a scraping run or a flood reach the API process. Each is refused
(403, never kept) before the store or the database is touched.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.graphql import GraphQLClient
from tests.images import photo

CREATE = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { images { url(size: THUMBNAIL) } } errors { code } } }"""


async def test_only_the_signed_spelling_of_a_media_url_is_served(prod: GraphQLClient) -> None:
    # given an image and the URL the API hands out for it
    await prod.sign_up("ada")
    result = await prod.upload(
        CREATE,
        {"i": {"title": "Harbour", "images": [{"file": None}]}},
        {"i.images.0.file": ("a.jpg", photo(96, 64, seed=3), "image/jpeg")},
        as_="ada",
    )
    assert result.data["createArtwork"]["errors"] == []
    url = result.data["createArtwork"]["artwork"]["images"][0]["url"]
    parts = urlsplit(url)
    path = f"{parts.path}?{parts.query}"
    asset = dict(p.split("=", 1) for p in parts.query.split("&"))["m"]
    assert (await prod.http.get(path)).status_code == 200
    respelled = {
        "a parameter added": f"{path}&cb=1",
        "a parameter repeated": f"{path}&m={asset}",
        "a leading zero": path.replace(f"m={asset}", f"m=0{asset}"),
    }
    for name, attempt in respelled.items():
        # when it is asked for under another spelling
        response = await prod.http.get(attempt)
        # then it is refused, and the refusal may not be kept by any cache
        assert response.status_code == 403, name
        assert response.json()["code"] == "MEDIA_URL_INVALID", name
        assert response.headers["cache-control"] == "no-store", name
