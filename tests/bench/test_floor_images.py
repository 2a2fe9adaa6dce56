"""The floor feed endpoint with ``images=1``, on a real PostgreSQL database seeded as the page-view
benchmark seeds it: every card carries the images its rows say, in their order, and the author's
newest avatar; without the flag the page is the one ``bench.feed`` compares with the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from bench import floor_app
from bench.image_pool import PoolImage
from bench.pageview_seed import make_viewers, seed_media
from bench.seed_graph import GraphSize, seed
from tests.conftest import postgres_admin, postgres_url

POOL = [
    PoolImage(
        width=600,
        height=400,
        dominant_color=f"#0000{n:02x}",
        variants=[
            {"size": size, "format": image_format, "key": f"m/{n:02x}/{size}.{image_format}"}
            for size in ("display", "medium", "thumbnail")
            for image_format in ("webp", "jpeg")
        ],
        report={},
    )
    for n in range(5)
]


@pytest.fixture
async def seeded() -> AsyncIterator[tuple[str, list[str]]]:
    admin = await postgres_admin()
    name = f"gesso_test_floor_{uuid.uuid4().hex[:12]}"
    dsn = postgres_url(name)
    try:
        size = GraphSize(users=40, posts=400, follows_per_user=10, rare_artists=3, cohort_viewers=1)
        await seed(postgres_url("postgres"), dsn, name, size)
        await seed_media(dsn, POOL, 7)
        tokens = await make_viewers(dsn, 7)
        yield dsn, tokens
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _page(dsn: str, token: str, query: str) -> dict[str, Any]:
    floor_app.app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        transport = httpx.ASGITransport(app=floor_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            answer = await client.get(
                f"/feed?first=20{query}", headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        await floor_app.app.state.pool.close()
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()["data"]["homeFeed"]
    return page


def _pk(global_id: str) -> int:
    import base64

    return int(base64.b64decode(global_id).decode().split(":")[1])


async def test_each_card_carries_its_images_and_its_authors_avatar(
    seeded: tuple[str, list[str]],
) -> None:
    dsn, tokens = seeded
    page = await _page(dsn, tokens[0], "&images=1")
    conn = await asyncpg.connect(dsn)
    try:
        seen = 0
        for edge in page["edges"]:
            node = edge["node"]
            expected = await conn.fetch(
                "SELECT id, variants, width, alt_text FROM media_assets WHERE post_id = $1"
                " ORDER BY position, id",
                _pk(node["id"]),
            )
            assert [_pk(image["id"]) for image in node["images"]] == [r["id"] for r in expected]
            for image, row in zip(node["images"], expected, strict=True):
                medium = next(
                    v["key"]
                    for v in orjson.loads(row["variants"])
                    if (v["size"], v["format"]) == ("medium", "webp")
                )
                assert image["url"] == f"/media/{medium}?m={row['id']}"
                assert (image["width"], image["altText"]) == (row["width"], row["alt_text"])
            for artwork in node["artworks"]:
                rows = await conn.fetch(
                    "SELECT id FROM media_assets WHERE artwork_id = $1 ORDER BY position, id",
                    _pk(artwork["id"]),
                )
                assert [_pk(i["id"]) for i in artwork["images"]] == [r["id"] for r in rows]
                assert rows  # every seeded artwork has an image
            avatar = await conn.fetchval(
                "SELECT max(id) FROM media_assets WHERE owner_id = $1 AND kind = 'avatar'",
                _pk(node["author"]["id"]),
            )
            assert _pk(node["author"]["avatar"]["id"]) == avatar
            assert node["author"]["avatar"]["url"].endswith(f"/thumbnail.webp?m={avatar}")
            seen += len(node["images"]) + sum(len(a["images"]) for a in node["artworks"])
        assert page["edges"]
        assert seen > 0
    finally:
        await conn.close()


async def test_without_the_flag_the_page_names_no_image(seeded: tuple[str, list[str]]) -> None:
    dsn, tokens = seeded
    page = await _page(dsn, tokens[0], "")
    assert page["edges"]
    for edge in page["edges"]:
        assert "images" not in edge["node"]
        assert "avatar" not in edge["node"]["author"]
        assert all(set(artwork) == {"id", "title"} for artwork in edge["node"]["artworks"])
