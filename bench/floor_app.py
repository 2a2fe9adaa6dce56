"""The floor: the home feed page as plain JSON from hand-written SQL, no GraphQL and no ORM.

It answers ``GET /feed?first=20&after=<cursor>`` with the same document the GraphQL query of
``bench.feed`` returns (``{"data": {"homeFeed": ...}}``), with the fewest statements we know for
it, the ones the API's compiled plan runs (``resolvers.feedsql``): the token; the page (its
post ids from ``feedsql.home_ids_sql``, keyset on the post id) with its authors, the viewer's
likes and follows and the attached artworks joined in. It shows what the database and an ASGI
server cost without the API's layers.

With ``images=1`` the page carries the images a feed card shows, as the page-view benchmark's
floor needs them (``bench.pageview``): each author's avatar (thumbnail), each post's and each
attached artwork's images (medium), with their size, alt text and colour and a plain ``url``
(``/media/<key>?m=<image id>``, unsigned: a static server answers it), from two more statements.

The floors of the reference client's other screens (``bench.floor_reads``) are served under
``/reads/<Operation>``.

Serve it with ``python -m uvicorn bench.floor_app:app``; ``GESSO_BENCH_FLOOR_DSN`` names the
database (default: ``DATABASE_URL``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floor_reads import ROUTES
from resolvers.errors import BadRequest
from resolvers.feedsql import home_ids_sql
from resolvers.pagination import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from resolvers.rules import FOLLOWS, VISIBLE
from server.media import create_signer, media_urls
from server.settings import get_settings
from storage.models import Visibility

POOL_SIZE = 5  # what Tortoise's asyncpg client uses by default, for a like-for-like comparison

AUTH_SQL = "SELECT user_id, expires_at FROM auth_tokens WHERE token_hash = $1"
_FEED_COLUMNS = (
    "p.id, p.author_id, p.text, p.created_at, p.like_count, p.comment_count, u.handle,"
    " u.display_name,"
    " (SELECT 1 FROM post_likes l WHERE l.user_id = $1 AND l.post_id = p.id) AS liked,"
    f" ({FOLLOWS.exists_sql('$1', 'p.author_id', 'f')}) AS follows"
)
_FEED_FROM = "FROM page JOIN posts p ON p.id = page.id JOIN users u ON u.id = p.author_id"
# The page's posts (the limit written out, as the API does: see resolvers/feedsql.py), then one
# row per attached artwork, or one row with NULL artwork columns for a post without any; the
# page's ids come first, in the CTE ``page``.
_ATTACHED = (
    "SELECT p.*, a.id AS artwork_id, a.title, a.owner_id, a.visibility AS artwork_visibility"
    " FROM ({page}) p LEFT JOIN post_artworks pa ON pa.post_id = p.id"
    " LEFT JOIN artworks a ON a.id = pa.artwork_id ORDER BY p.id DESC, pa.position, pa.id"
)
_PAGE = _ATTACHED.format(page=f"SELECT {_FEED_COLUMNS} {_FEED_FROM} ORDER BY p.id DESC")
FEED_FIRST_SQL = f"WITH {home_ids_sql(after=False, sqlite=False)} {_PAGE}"
FEED_AFTER_SQL = f"WITH {home_ids_sql(after=True, sqlite=False)} {_PAGE}"
IMAGES_SQL = (
    "SELECT id, post_id, artwork_id, width, height, alt_text, dominant_color, variants"
    " FROM media_assets WHERE post_id = ANY($1::bigint[]) OR artwork_id = ANY($2::bigint[])"
    " ORDER BY position, id"
)
# an account's avatar is its newest avatar row
AVATARS_SQL = (
    "SELECT DISTINCT ON (owner_id) owner_id, id, dominant_color, variants FROM media_assets"
    " WHERE owner_id = ANY($1::bigint[]) AND kind = 'avatar' ORDER BY owner_id, id DESC"
)


def global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def _variant_url(asset: int, variants: str, size: str) -> str | None:
    """The file's path, with the asset's id as the query (which a static server ignores): one
    URL per image, as the API's, although images may share a file."""
    for variant in orjson.loads(variants):
        if variant["size"] == size and variant["format"] == "webp":
            return f"/media/{variant['key']}?m={asset}"
    return None


def _image(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": global_id("MediaAsset", row["id"]),
        "width": row["width"],
        "height": row["height"],
        "altText": row["alt_text"],
        "dominantColor": row["dominant_color"],
        "url": _variant_url(row["id"], row["variants"], "medium"),
    }


async def _images(
    conn: asyncpg.Connection, posts: list[int], artworks: list[int], authors: list[int]
) -> tuple[dict[tuple[str, int], list[dict[str, Any]]], dict[int, dict[str, Any]]]:
    """The images of ``posts`` and ``artworks`` (by ("post" | "artwork", id)) and the avatars
    of ``authors``."""
    images: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in await conn.fetch(IMAGES_SQL, posts, artworks):
        owner = ("post", row["post_id"]) if row["post_id"] else ("artwork", row["artwork_id"])
        images.setdefault(owner, []).append(_image(row))
    avatars = {
        row["owner_id"]: {
            "id": global_id("MediaAsset", row["id"]),
            "dominantColor": row["dominant_color"],
            "url": _variant_url(row["id"], row["variants"], "thumbnail"),
        }
        for row in await conn.fetch(AVATARS_SQL, authors)
    }
    return images, avatars


def _error(status: int, message: str, code: str) -> Response:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return Response(body, status_code=status, media_type="application/json")


def _page_args(request: Request) -> tuple[int, int | None]:
    raw_first = request.query_params.get("first")
    first = DEFAULT_PAGE if raw_first is None else int(raw_first)
    if not 0 <= first <= MAX_PAGE:
        raise BadRequest(f"first must be in 0..{MAX_PAGE}")
    after = request.query_params.get("after")
    return first, (decode_cursor("post", after)[0] if after is not None else None)


async def home_feed(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, "sign in to do this", "UNAUTHENTICATED")
    try:
        first, after = _page_args(request)
    except (BadRequest, ValueError) as error:
        return _error(400, str(error), "BAD_USER_INPUT")
    token_hash = hashlib.sha256(token.strip().encode()).hexdigest()
    async with pool.acquire() as conn:
        auth = await conn.fetchrow(AUTH_SQL, token_hash)
        if auth is None or auth["expires_at"] <= datetime.now(UTC):
            return _error(401, "the access token is invalid", "TOKEN_INVALID")
        viewer: int = auth["user_id"]
        if after is None:
            rows = await conn.fetch(FEED_FIRST_SQL.format(limit=first + 1), viewer)
        else:
            rows = await conn.fetch(FEED_AFTER_SQL.format(limit=first + 1), viewer, after)
        posts: list[asyncpg.Record] = []
        attachments: dict[int, list[asyncpg.Record]] = {}
        for row in rows:
            if not posts or posts[-1]["id"] != row["id"]:
                posts.append(row)
            if row["artwork_id"] is not None:
                attachments.setdefault(row["id"], []).append(row)
        has_next = len(posts) > first
        del posts[first:]
        images: dict[tuple[str, int], list[dict[str, Any]]] | None = None
        avatars: dict[int, dict[str, Any]] = {}
        if request.query_params.get("images") == "1":
            images, avatars = await _images(
                conn,
                [post["id"] for post in posts],
                [a["artwork_id"] for post in posts for a in attachments.get(post["id"], [])],
                list({post["author_id"] for post in posts}),
            )
    # attached artworks are their author's own, so following the author is what counts
    followed = {row["author_id"] for row in posts if row["follows"] is not None}

    def visible(artwork: asyncpg.Record) -> bool:
        owner = artwork["owner_id"]
        visibility = Visibility(artwork["artwork_visibility"])
        # attached artworks are their author's own, and authors passed HOME, whose exclusions
        # hold VISIBLE's: none of them is hidden
        return VISIBLE.allows(viewer, owner, visibility, follows=owner in followed, hidden=False)

    edges: list[dict[str, Any]] = []
    for post in posts:
        author: dict[str, Any] = {
            "id": global_id("User", post["author_id"]),
            "handle": post["handle"],
            "displayName": post["display_name"],
            "isFollowedByViewer": post["follows"] is not None,
        }
        artworks: list[dict[str, Any]] = [
            {"id": global_id("Artwork", artwork["artwork_id"]), "title": artwork["title"]}
            for artwork in attachments.get(post["id"], [])
            if visible(artwork)
        ]
        node: dict[str, Any] = {
            "id": global_id("Post", post["id"]),
            "text": post["text"],
            "createdAt": post["created_at"].isoformat(),
            "likeCount": post["like_count"],
            "commentCount": post["comment_count"],
            "viewerHasLiked": post["liked"] is not None,
            "author": author,
            "artworks": artworks,
        }
        if images is not None:
            author["avatar"] = avatars.get(post["author_id"])
            node["images"] = images.get(("post", post["id"]), [])
            for artwork, attached in zip(
                artworks,
                [a for a in attachments.get(post["id"], []) if visible(a)],
                strict=True,
            ):
                artwork["images"] = images.get(("artwork", attached["artwork_id"]), [])
        edges.append({"cursor": encode_cursor("post", post["id"]), "node": node})
    page_info = {
        "hasNextPage": has_next,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    body = orjson.dumps({"data": {"homeFeed": {"edges": edges, "pageInfo": page_info}}})
    return Response(body, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b"ok", media_type="text/plain")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    dsn = os.environ.get("GESSO_BENCH_FLOOR_DSN") or os.environ["DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE)
    # the screens' floors sign image URLs as the API does, from the same settings
    settings = get_settings()
    app.state.media_url = media_urls(settings, create_signer(settings))
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[Route("/feed", home_feed), Route("/health", health), *ROUTES],
    lifespan=lifespan,
)
