"""``gesso seed --demo``, then the README's home feed example against a live server: artworks and
posts with pictures whose URLs download. Seeding again adds nothing."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.e2e.live import LiveServer
from tests.services import REPO, gesso

pytestmark = pytest.mark.e2e

HANDLES = ["ada_inks", "basil_paints"]
TABLES = ("users", "follows", "posts", "post_likes", "comments", "artworks", "media_assets")


def _counts(workdir: Path) -> dict[str, int]:
    with sqlite3.connect(workdir / "data" / "gesso.sqlite3") as db:
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        for kind in ("avatar", "artwork", "post"):
            query = "SELECT count(*) FROM media_assets WHERE kind = ?"
            counts[kind] = db.execute(query, (kind,)).fetchone()[0]
        counts["bare_artworks"] = db.execute(
            "SELECT count(*) FROM artworks a WHERE NOT EXISTS "
            "(SELECT 1 FROM media_assets m WHERE m.artwork_id = a.id)"
        ).fetchone()[0]
    return counts


def readme_home_feed_example() -> tuple[str, str]:
    """The sign-in mutation and the home feed query of the README's example."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```graphql\n(.*?)```", readme, re.DOTALL)
    (block,) = [b for b in blocks if "homeFeed(first: 20)" in b]
    mutation, _, query = block.partition("\nquery ")
    return mutation.strip(), "query " + query.strip()


def test_the_demo_has_pictures_the_readme_example_shows_and_a_rerun_adds_nothing(
    tmp_path: Path,
) -> None:
    # given a demo seeded on the embedded default
    migrated = gesso("migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    seeded = gesso("seed", "--demo", "--artists", "2", cwd=tmp_path, timeout=600)
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 2 artists" in seeded.stdout
    for handle in HANDLES:
        assert handle in seeded.stdout
    counts = _counts(tmp_path)
    assert counts["users"] == counts["avatar"] == 2
    assert counts["follows"] == 2
    assert counts["artworks"] >= 4
    assert counts["bare_artworks"] == 0
    assert counts["posts"] >= counts["artworks"]
    assert counts["post_likes"] > 0
    assert counts["comments"] > 0

    # when the README's example runs against a server on that data
    server = LiveServer(tmp_path).start()
    try:
        mutation, query = readme_home_feed_example()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            logged = http.post("/graphql", json={"query": mutation}).json()
            token = logged["data"]["logIn"]["token"]
            answer = http.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
            ).json()
            # then it returns artworks and posts whose image URLs download
            assert "errors" not in answer, answer
            nodes = [edge["node"] for edge in answer["data"]["homeFeed"]["edges"]]
            assert {n["author"]["handle"] for n in nodes} == set(HANDLES)
            urls = [n["author"]["avatar"]["url"] for n in nodes]
            urls += [i["url"] for n in nodes for a in n["artworks"] for i in a["images"]]
            urls += [i["url"] for n in nodes for i in n["images"]]
            artwork_images = [i for n in nodes for a in n["artworks"] for i in a["images"]]
            assert len(artwork_images) >= counts["artworks"]
            assert all(i["width"] > 0 and i["altText"] for i in artwork_images)
            assert sum(len(n["images"]) for n in nodes) == counts["post"]
            for url in sorted(set(urls)):
                image = http.get(url)
                assert image.status_code == 200, url
                assert image.headers["content-type"] in ("image/webp", "image/jpeg")
                assert len(image.content) > 1000
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()

    # and seeding again says the demo exists and adds nothing
    again = gesso("seed", "--demo", "--artists", "2", cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "the demo exists" in again.stdout
    assert all(handle in again.stdout for handle in HANDLES)
    assert _counts(tmp_path) == counts
