"""The page-view benchmark's pieces, with real parts: the client's document checked against the
schema, the media rows it seeds, nginx serving the object store's files, and the load generator
in a closed loop against a real nginx (the whole benchmark takes minutes: the pool, the seed and
four servers)."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from graphql import build_schema, parse, validate

from bench.caches import NotInstalled, nginx_command
from bench.documents import client_document
from bench.image_pool import PoolImage
from bench.pageview import graphql_request
from bench.pageview_load import PageViewResult, PageViewSpec, image_paths, run_pageviews
from bench.pageview_report import BEFORE_MS_PER_IMAGE, summary
from bench.pageview_seed import media_rows
from tests.services import await_answer, free_port, stop_process

REPO = Path(__file__).resolve().parents[2]


def test_the_home_feed_document_is_the_operation_with_the_fragments_it_uses() -> None:
    document = client_document("home_feed.graphql")
    schema = build_schema((REPO / "schema.graphql").read_text())
    assert validate(schema, parse(document)) == []  # no unknown or unused fragment
    fragments = [line.split()[1] for line in document.splitlines() if line.startswith("fragment")]
    assert fragments == ["PostCard", "AvatarThumb", "ImageMedium", "ArtworkTile"]


def test_a_fragment_no_file_defines_is_named(tmp_path: Path) -> None:
    (tmp_path / "fragments.graphql").write_text("fragment A on User { id ...B }\n")
    (tmp_path / "screen.graphql").write_text("query Q { viewer { ...A } }\n")
    with pytest.raises(KeyError, match="fragment B"):
        client_document("screen.graphql", tmp_path)


def test_a_fragment_the_operation_does_not_use_is_not_sent(tmp_path: Path) -> None:
    (tmp_path / "fragments.graphql").write_text(
        "fragment A on User { id }\nfragment Unused on User { handle }\n"
    )
    (tmp_path / "screen.graphql").write_text("query Q { viewer { ...A ...A } }\n")
    assert client_document("screen.graphql", tmp_path) == (
        "query Q { viewer { ...A ...A } }\n\nfragment A on User { id }\n"
    )


def test_the_graphql_request_carries_the_document_and_a_slot_for_the_token() -> None:
    request = graphql_request(8000, 19)
    head, body = request.split(b"\r\n\r\n", 1)
    assert b"Authorization: Bearer {token}" in head
    assert f"Content-Length: {len(body)}".encode() in head
    sent = orjson.loads(body)
    assert sent["variables"] == {"first": 19}
    assert sent["query"] == client_document("home_feed.graphql")


def _card(
    author: str, avatar: str | None, images: list[str], artworks: list[list[str]]
) -> dict[str, Any]:
    return {
        "node": {
            "author": {"handle": author, "avatar": {"url": avatar} if avatar else None},
            "images": [{"url": url} for url in images],
            "artworks": [{"images": [{"url": url} for url in urls]} for urls in artworks],
        }
    }


def test_image_paths_are_distinct_and_in_card_order() -> None:
    answer = {
        "data": {
            "homeFeed": {
                "edges": [
                    _card("ada", "https://cdn.example/media/a?m=1&sig=x", ["/media/p?m=2"], []),
                    _card("ada", "https://cdn.example/media/a?m=1&sig=x", [], [["/media/w?m=3"]]),
                    _card("bo", None, [], [["/media/w?m=4", "/media/p?m=2"], []]),
                ]
            }
        }
    }
    assert image_paths(answer) == [
        "/media/a?m=1&sig=x",
        "/media/p?m=2",
        "/media/w?m=3",
        "/media/w?m=4",
    ]
    assert image_paths({"errors": [{"message": "no"}]}) == []


def _pool(count: int) -> list[PoolImage]:
    return [
        PoolImage(
            width=640,
            height=480,
            dominant_color="#102030",
            variants=[{"size": "medium", "format": "webp", "key": f"m/{n}.webp"}],
            report={"n": n},
        )
        for n in range(count)
    ]


def test_media_rows_give_every_user_an_avatar_and_every_artwork_an_image() -> None:
    users = [1 << 22, 2 << 22]
    posts = [((10 + n) << 22, users[n % 2]) for n in range(1000)]
    artworks = [((5000 + n) << 22, users[0]) for n in range(200)]
    rows = media_rows(_pool(3), users, posts, artworks, random.Random(1))
    kinds = [row[4] for row in rows]
    assert kinds.count("avatar") == 2
    with_images = {row[3] for row in rows if row[4] == "post"}
    assert 350 < len(with_images) < 450  # 40% of the posts
    assert {row[2] for row in rows if row[4] == "artwork"} == {a for a, _ in artworks}
    assert len({row[0] for row in rows}) == len(rows)  # ids are unique
    assert len({row[6] for row in rows}) == len(rows)  # and so are watermark ids
    for row in rows:
        parent = row[2] or row[3] or row[1]
        assert row[0] >> 22 == parent >> 22  # made at its parent's time
        assert orjson.loads(row[11])[0]["key"].startswith("m/")


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    objects = tmp_path / "store" / "objects"
    (objects / "m" / "ab").mkdir(parents=True)
    port = free_port()
    try:
        command = nginx_command(tmp_path / "nginx", port=port, objects=objects)
    except NotInstalled as error:
        pytest.fail(str(error))
    log = tmp_path / "nginx.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        await_answer(
            process,
            lambda: httpx.get(f"{url}/health", timeout=1),
            what="nginx",
            seconds=20,
            log=lambda: log.read_text(errors="replace"),
        )
        yield url, objects
    finally:
        stop_process(process, grace=10)


def test_nginx_serves_the_object_store_files(nginx: tuple[str, Path]) -> None:
    url, objects = nginx
    (objects / "m" / "ab" / "abcd.webp").write_bytes(b"RIFF" + bytes(100))
    served = httpx.get(f"{url}/media/m/ab/abcd.webp?m=7")
    assert (served.status_code, served.headers["content-type"]) == (200, "image/webp")
    assert served.content == b"RIFF" + bytes(100)
    assert httpx.get(f"{url}/media/m/ab/missing.webp").status_code == 404
    assert httpx.get(f"{url}/meta/m/ab/abcd.webp").status_code == 404


def test_the_load_generator_shows_pages_and_fetches_their_images(
    nginx: tuple[str, Path],
) -> None:
    # given a "feed" of two cards with three distinct images, served by nginx
    url, objects = nginx
    for name in ("a", "b", "c"):
        (objects / "m" / "ab" / f"{name}.webp").write_bytes(name.encode() * 1000)
    feed = {
        "data": {
            "homeFeed": {
                "edges": [
                    _card("ada", "/media/m/ab/a.webp", ["/media/m/ab/b.webp"], []),
                    _card("ada", "/media/m/ab/a.webp", [], [["/media/m/ab/c.webp"]]),
                ]
            }
        }
    }
    (objects / "feed.json").write_bytes(orjson.dumps(feed))
    port = int(url.rsplit(":", 1)[1])
    spec = PageViewSpec(
        name="nginx",
        document_port=port,
        document=b"GET /media/feed.json HTTP/1.1\r\nHost: x\r\nX-Token: {token}\r\n\r\n",
        image_port=port,
        tokens=("t1", "t2", "t3"),
        zipf=1.0,
        concurrency=4,
        image_connections=2,
        warmup_s=0.2,
        duration_s=1.0,
        pids={},
        database="none",
    )
    # when it runs for a second
    result = run_pageviews(spec)
    # then every page view fetched the three images, without errors
    assert result.errors == 0, result.error_samples
    assert result.page_views > 10
    assert result.images == 3 * result.page_views
    assert result.image_bytes == 3000 * result.page_views
    assert len(result.latencies_ms) == result.page_views
    assert (result.hits, result.misses) == (0, 0)  # nginx says nothing of a cache
    assert result.cpu_s["loadgen"] > 0


def _result(
    name: str, views: int, images: int, misses: int, cpu: dict[str, float]
) -> PageViewResult:
    result = PageViewResult(name=name, page_views=views, images=images, elapsed_s=10.0)
    result.hits, result.misses = images - misses, misses
    result.cpu_s = cpu
    result.latencies_ms = [float(n) for n in range(1, 101)]
    return result


def test_the_summary_splits_the_api_cpu_between_the_document_and_the_images() -> None:
    results = {
        # 100 page views of 30 images: 60 misses, the API spent 1 s (10 ms per page view)
        "cache": _result("cache", 100, 3000, 60, {"api": 1.0, "varnish": 0.2}),
        "floor": _result("floor", 100, 3000, 0, {"floor": 0.1, "nginx": 0.05}),
        # without the cache the API spent 58 ms per page view; the document alone 10 ms
        "nocache": _result("nocache", 100, 3000, 0, {"api": 5.8}),
        "document": _result("document", 100, 0, 0, {"api": 1.0}),
    }
    out = summary(results)
    assert out["page_views"] == 100
    assert out["hit_ratio"] == 0.98
    assert out["api_cpu_ms_per_page_view"] == 10.0
    assert out["floor_cpu_ms_per_page_view"] == 1.5
    assert out["api_cpu_ms_per_image_request"] == 1.6  # (58 - 10) / 30
    assert out["misses_per_page_view"] == 0.6
    assert out["api_image_cpu_ms_per_page_view"] == 0.96
    assert out["api_image_cpu_ms_per_page_view_before"] == round(BEFORE_MS_PER_IMAGE * 30, 2)
    assert out["p99_ms"] == 100.0  # nearest rank, as bench.loadgen counts it
    assert out["targets"] == {
        "hit ratio at least 0.95 after warm-up": True,
        "API CPU on images per page view at most 5% of before": True,
        "page view p99 under 100 ms": False,
    }
