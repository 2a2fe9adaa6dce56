"""The floor of each reference-client screen: the JSON its document in ``client/operations/``
returns, built from hand-written asyncpg SQL with no GraphQL and no ORM.

``GET /reads/<Operation>?first=&after=&handle=&id=&tag=`` answers ``{"data": ...}`` equal to
what the API answers for that operation with those variables (``bench.reads`` checks it before
loading). Signed image URLs are made by the API's own signer (``server.media``) from the same
settings, so they are the same strings. Who may see what comes from ``resolvers.rules`` (and
``resolvers.counts``, ``resolvers.consent``), never restated here; the statements are the
fewest we know for each screen: one per kind of row a page shows, each by primary or foreign
key for the whole page at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers import counts
from resolvers.consent import effective_policy
from resolvers.errors import BadRequest
from resolvers.feedsql import home_ids_sql
from resolvers.mentions import keys_of, linked, members_sql
from resolvers.pagination import MAX_PAGE, decode_cursor, encode_cursor
from resolvers.rules import DISCOVER, VISIBLE
from resolvers.surrogates import ImageRef
from schema.base import to_global_id
from storage.models import TrainingPolicy, Visibility

AUTH_SQL = "SELECT user_id, expires_at FROM auth_tokens WHERE token_hash = $1"
USER_COLUMNS = (
    "id, handle, display_name, bio, links, open_for_commissions, ai_training_policy,"
    " follower_count, following_count, post_count, public_post_count, followers_post_count,"
    " artwork_count, public_artwork_count, followers_artwork_count"
)
POST_COLUMNS = (
    "id, author_id, text, visibility, like_count, comment_count, reply_count,"
    " public_reply_count, reply_to_id, created_at"
)
ARTWORK_COLUMNS = (
    "id, owner_id, title, description, medium, tags, visibility, ai_training_policy,"
    " like_count, comment_count, created_at"
)
MEDIA_COLUMNS = (
    "id, owner_id, artwork_id, post_id, width, height, alt_text, dominant_color, variants"
)


_MENTIONS_SQL = members_sql(("id", "handle"), signed_in=True)


def mention_list(text: str, members: dict[str, asyncpg.Record]) -> list[dict[str, Any]]:
    """``mentions { handle start end user { id handle } }`` of a text."""
    return [
        {
            "handle": span.handle,
            "start": span.start,
            "end": span.end,
            "user": {"id": to_global_id("User", user["id"]), "handle": user["handle"]},
        }
        for span, user in linked(text, members)
    ]


def _with_viewer(condition: str) -> str:
    """``condition`` on the viewer $1, which a rule without exclusions does not read: then
    $1 is still typed (always true, the viewer is signed in), so the numbering stays."""
    return condition if "$1" in condition else f"{condition} AND $1::bigint IS NOT NULL"


_DISCOVER = _with_viewer(DISCOVER.to_sql("$1", owner="p.author_id", visibility="p.visibility"))
_DISCOVER_TAG = _with_viewer(
    DISCOVER.to_sql("$1", owner="p.author_id", visibility="t.post_visibility")
)


class Reads:
    """One request's reads: the viewer and batch look-ups by key, each returning rows."""

    def __init__(
        self, conn: asyncpg.Connection, viewer: int, url: Callable[[str, ImageRef], str]
    ) -> None:
        self.conn, self.viewer, self.url = conn, viewer, url
        self.users: dict[int, asyncpg.Record] = {}
        self.followed: set[int] = set()

    async def load_users(self, ids: Sequence[int]) -> None:
        missing = list({i for i in ids if i not in self.users})
        if missing:
            rows = await self.conn.fetch(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = ANY($1::bigint[])",
                missing,
            )
            self.users.update((row["id"], row) for row in rows)

    async def load_follows(self, ids: Sequence[int]) -> None:
        rows = await self.conn.fetch(
            "SELECT followee_id FROM follows WHERE follower_id = $1"
            " AND followee_id = ANY($2::bigint[])",
            self.viewer,
            list(set(ids)),
        )
        self.followed.update(row[0] for row in rows)

    async def avatars(self, user_ids: Sequence[int]) -> dict[int, asyncpg.Record]:
        rows = await self.conn.fetch(
            f"SELECT DISTINCT ON (owner_id) {MEDIA_COLUMNS} FROM media_assets"
            " WHERE owner_id = ANY($1::bigint[]) AND kind = 'avatar' ORDER BY owner_id, id DESC",
            list(set(user_ids)),
        )
        return {row["owner_id"]: row for row in rows}

    async def media_of(self, column: str, ids: Sequence[int]) -> dict[int, list[asyncpg.Record]]:
        found: dict[int, list[asyncpg.Record]] = {}
        if not ids:
            return found
        rows = await self.conn.fetch(
            f"SELECT {MEDIA_COLUMNS} FROM media_assets"
            f" WHERE {column} = ANY($1::bigint[]) ORDER BY position, id",
            list(set(ids)),
        )
        for row in rows:
            found.setdefault(row[column], []).append(row)
        return found

    async def liked(self, table: str, column: str, ids: Sequence[int]) -> set[int]:
        rows = await self.conn.fetch(
            f"SELECT {column} FROM {table} WHERE user_id = $1 AND {column} = ANY($2::bigint[])",
            self.viewer,
            list(set(ids)),
        )
        return {row[0] for row in rows}

    async def mentions(self, texts: Sequence[str]) -> dict[str, asyncpg.Record]:
        """The members the texts mention whom the viewer may see, by handle key: one statement
        for the page (``resolvers.mentions``), none when no text mentions anyone."""
        keys = keys_of(texts)
        if not keys:
            return {}
        rows = await self.conn.fetch(_MENTIONS_SQL, self.viewer, keys)
        return {row["handle_key"]: row for row in rows}

    def can_see(self, owner: int, visibility: str) -> bool:
        # no exclusion exists yet (resolvers.rules.HIDDEN_EVERYWHERE is empty)
        return VISIBLE.allows(
            self.viewer, owner, Visibility(visibility), follows=owner in self.followed, hidden=False
        )

    def image_url(self, asset: asyncpg.Record, policy: TrainingPolicy, size: str, fmt: str) -> Any:
        for variant in orjson.loads(asset["variants"]):
            if variant["size"] == size and variant["format"] == fmt:
                ref = ImageRef(asset["id"], asset["owner_id"], asset["artwork_id"], policy)
                return self.url(variant["key"], ref)
        return None

    def policy(self, asset: asyncpg.Record, artwork_policy: str | None) -> TrainingPolicy:
        owner = self.users.get(asset["owner_id"])
        return effective_policy(artwork_policy, owner["ai_training_policy"] if owner else None)


# -- the fragments of client/operations/fragments.graphql, by hand ------------------------------


def image_medium(reads: Reads, asset: asyncpg.Record, policy: TrainingPolicy) -> dict[str, Any]:
    return {
        "id": to_global_id("MediaAsset", asset["id"]),
        "width": asset["width"],
        "height": asset["height"],
        "altText": asset["alt_text"],
        "dominantColor": asset["dominant_color"],
        "url": reads.image_url(asset, policy, "medium", "webp"),
    }


def avatar_thumb(reads: Reads, user: asyncpg.Record, avatars: dict[int, Any]) -> dict[str, Any]:
    avatar = avatars.get(user["id"])
    return {
        "id": to_global_id("User", user["id"]),
        "handle": user["handle"],
        "displayName": user["display_name"],
        "avatar": None
        if avatar is None
        else {
            "id": to_global_id("MediaAsset", avatar["id"]),
            "dominantColor": avatar["dominant_color"],
            "url": reads.image_url(avatar, reads.policy(avatar, None), "thumbnail", "webp"),
        },
    }


def artwork_policy(reads: Reads, artwork: asyncpg.Record) -> TrainingPolicy:
    owner = reads.users[artwork["owner_id"]]
    return effective_policy(artwork["ai_training_policy"], owner["ai_training_policy"])


def artwork_tile(
    reads: Reads, artwork: asyncpg.Record, images: dict[int, list[Any]], liked: set[int]
) -> dict[str, Any]:
    policy = artwork_policy(reads, artwork)
    return {
        "id": to_global_id("Artwork", artwork["id"]),
        "title": artwork["title"],
        "medium": artwork["medium"],
        "aiTrainingPolicy": policy.name,
        "likeCount": artwork["like_count"],
        "viewerHasLiked": artwork["id"] in liked,
        "images": [image_medium(reads, i, policy) for i in images.get(artwork["id"], [])],
    }


async def post_cards(reads: Reads, posts: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """``PostCard`` of each post, with one statement per kind of row for all of them."""
    ids = [p["id"] for p in posts]
    attached = await reads.conn.fetch(
        f"SELECT pa.post_id, {', '.join('a.' + c.strip() for c in ARTWORK_COLUMNS.split(','))}"
        " FROM post_artworks pa JOIN artworks a ON a.id = pa.artwork_id"
        " WHERE pa.post_id = ANY($1::bigint[]) ORDER BY pa.post_id, pa.position, pa.id",
        ids,
    )
    people = [p["author_id"] for p in posts] + [a["owner_id"] for a in attached]
    await reads.load_users(people)
    await reads.load_follows(people)
    artworks_of: dict[int, list[asyncpg.Record]] = {}
    for row in attached:
        if reads.can_see(row["owner_id"], row["visibility"]):
            artworks_of.setdefault(row["post_id"], []).append(row)
    artwork_ids = [a["id"] for rows in artworks_of.values() for a in rows]
    avatars = await reads.avatars([p["author_id"] for p in posts])
    post_images = await reads.media_of("post_id", ids)
    artwork_images = await reads.media_of("artwork_id", artwork_ids)
    liked_posts = await reads.liked("post_likes", "post_id", ids)
    liked_artworks = await reads.liked("artwork_likes", "artwork_id", artwork_ids)
    members = await reads.mentions([p["text"] for p in posts])
    cards = []
    for post in posts:
        if post["reply_count"] != post["public_reply_count"]:
            raise RuntimeError("the floor counts public replies only; seed none other")
        cards.append(
            {
                "id": to_global_id("Post", post["id"]),
                "text": post["text"],
                "visibility": Visibility(post["visibility"]).name,
                "createdAt": post["created_at"].isoformat(),
                "likeCount": post["like_count"],
                "commentCount": post["comment_count"],
                "replyCount": post["public_reply_count"],
                "viewerHasLiked": post["id"] in liked_posts,
                "author": avatar_thumb(reads, reads.users[post["author_id"]], avatars),
                "images": [
                    image_medium(reads, i, reads.policy(i, None))
                    for i in post_images.get(post["id"], [])
                ],
                "artworks": [
                    artwork_tile(reads, a, artwork_images, liked_artworks)
                    for a in artworks_of.get(post["id"], [])
                ],
                "mentions": mention_list(post["text"], members),
            }
        )
    return cards


def page_end(has_next: bool, cursors: list[str]) -> dict[str, Any]:
    return {"hasNextPage": has_next, "endCursor": cursors[-1] if cursors else None}


# -- the screens -----------------------------------------------------------------------------


def _first(request: Request, default: int) -> int:
    raw = request.query_params.get("first")
    first = default if raw is None else int(raw)
    if not 0 <= first <= MAX_PAGE:
        raise BadRequest(f"first must be in 0..{MAX_PAGE}")
    return first


async def _posts_by_ids(reads: Reads, ids: list[int]) -> list[asyncpg.Record]:
    rows = await reads.conn.fetch(
        f"SELECT {POST_COLUMNS} FROM posts WHERE id = ANY($1::bigint[]) ORDER BY id DESC",
        ids,
    )
    return list(rows)


async def _card_page(reads: Reads, root: str, ids: list[int], first: int) -> dict[str, Any]:
    posts = await _posts_by_ids(reads, ids[:first])
    cards = await post_cards(reads, posts)
    cursors = [encode_cursor("post", p["id"]) for p in posts]
    return {
        root: {
            "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, cards, strict=True)],
            "pageInfo": page_end(len(ids) > first, cursors),
        }
    }


def _after(request: Request, kind: str) -> tuple[int, ...] | None:
    after = request.query_params.get("after")
    return None if after is None else decode_cursor(kind, after)


async def home_feed(reads: Reads, request: Request) -> dict[str, Any]:
    first, after = _first(request, 12), _after(request, "post")
    # the page's ids: the statement of the API (both paths), as the feed floor runs it
    ctes = home_ids_sql(after=after is not None, sqlite=False).format(limit=first + 1)
    ids_sql = f"WITH {ctes} SELECT id FROM page ORDER BY id DESC"
    args = [reads.viewer] if after is None else [reads.viewer, after[0]]
    ids = [row[0] for row in await reads.conn.fetch(ids_sql, *args)]
    return await _card_page(reads, "homeFeed", ids, first)


async def discover(reads: Reads, request: Request) -> dict[str, Any]:
    first, after = _first(request, 12), _after(request, "post")
    older = "" if after is None else " AND p.id < $2"
    args = [reads.viewer] if after is None else [reads.viewer, after[0]]
    ids = [
        row[0]
        for row in await reads.conn.fetch(
            f"SELECT p.id FROM posts p WHERE {_DISCOVER}{older}"
            f" ORDER BY p.id DESC LIMIT {first + 1}",
            *args,
        )
    ]
    return await _card_page(reads, "discoverFeed", ids, first)


async def tag_feed(reads: Reads, request: Request) -> dict[str, Any]:
    first, after = _first(request, 12), _after(request, "post")
    tag = request.query_params["tag"].lower()
    older = "" if after is None else " AND t.post_id < $3"
    args: list[Any] = [reads.viewer, tag] if after is None else [reads.viewer, tag, after[0]]
    # the seeded tags are the posts' own (artwork_id null): the artwork rule never applies
    ids = [
        row[0]
        for row in await reads.conn.fetch(
            "SELECT t.post_id FROM post_tags t JOIN posts p ON p.id = t.post_id"
            f" WHERE t.tag = $2 AND t.artwork_id IS NULL AND {_DISCOVER_TAG}{older}"
            f" ORDER BY t.post_id DESC LIMIT {first + 1}",
            *args,
        )
    ]
    return await _card_page(reads, "tagFeed", ids, first)


async def _user(reads: Reads, request: Request) -> asyncpg.Record | None:
    handle = request.query_params["handle"].lower()
    row = await reads.conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE handle_key = $1",
        handle,
    )
    if row is not None:
        reads.users[row["id"]] = row
        await reads.load_follows([row["id"]])
    return row


def _passing(reads: Reads, owner: int) -> list[str]:
    return [v.value for v in Visibility if reads.can_see(owner, v.value)]


async def profile_header(reads: Reads, request: Request) -> dict[str, Any]:
    user = await _user(reads, request)
    if user is None:
        return {"user": None}
    avatars = await reads.avatars([user["id"]])
    follows = user["id"] in reads.followed
    row = dict(user)
    return {
        "user": {
            **avatar_thumb(reads, user, avatars),
            "bio": user["bio"],
            "links": orjson.loads(user["links"])
            if isinstance(user["links"], str)
            else list(user["links"]),
            "openForCommissions": user["open_for_commissions"],
            "aiTrainingPolicy": TrainingPolicy(user["ai_training_policy"]).name,
            "followerCount": user["follower_count"],
            "followingCount": user["following_count"],
            "postCount": counts.visible(
                reads.viewer, user["id"], counts.by_visibility("post", row), follows
            ),
            "artworkCount": counts.visible(
                reads.viewer, user["id"], counts.by_visibility("artwork", row), follows
            ),
            "isViewer": reads.viewer == user["id"],
            "isFollowedByViewer": follows,
        }
    }


async def profile_posts(reads: Reads, request: Request) -> dict[str, Any]:
    first, after = _first(request, 12), _after(request, "post")
    user = await _user(reads, request)
    if user is None:
        return {"user": None}
    older = "" if after is None else " AND id < $3"
    args: list[Any] = [user["id"], _passing(reads, user["id"])]
    if after is not None:
        args.append(after[0])
    ids = [
        row[0]
        for row in await reads.conn.fetch(
            "SELECT id FROM posts WHERE author_id = $1 AND visibility = ANY($2::text[])"
            f"{older} ORDER BY id DESC LIMIT {first + 1}",
            *args,
        )
    ]
    page = await _card_page(reads, "posts", ids, first)
    return {"user": {"id": to_global_id("User", user["id"]), **page}}


async def profile_portfolio(reads: Reads, request: Request) -> dict[str, Any]:
    first, after = _first(request, 24), _after(request, "portfolio")
    user = await _user(reads, request)
    if user is None:
        return {"user": None}
    args: list[Any] = [user["id"], _passing(reads, user["id"])]
    later = ""
    if after is not None:
        later = " AND (position, id) > ($3, $4)"
        args += [after[0], after[1]]
    rows = await reads.conn.fetch(
        f"SELECT {ARTWORK_COLUMNS}, position FROM artworks"
        f" WHERE owner_id = $1 AND visibility = ANY($2::text[]){later}"
        f" ORDER BY position, id LIMIT {first + 1}",
        *args,
    )
    artworks = list(rows[:first])
    ids = [a["id"] for a in artworks]
    images = await reads.media_of("artwork_id", ids)
    liked = await reads.liked("artwork_likes", "artwork_id", ids)
    cursors = [encode_cursor("portfolio", a["position"], a["id"]) for a in artworks]
    return {
        "user": {
            "id": to_global_id("User", user["id"]),
            "portfolio": {
                "edges": [
                    {"cursor": c, "node": artwork_tile(reads, a, images, liked)}
                    for c, a in zip(cursors, artworks, strict=True)
                ],
                "pageInfo": page_end(len(rows) > first, cursors),
            },
        }
    }


async def _comments(reads: Reads, request: Request, column: str, target: int) -> dict[str, Any]:
    first = _first(request, 20)
    after = _after(request, "comment")
    later = "" if after is None else " AND id > $2"
    args: list[Any] = [target] if after is None else [target, after[0]]
    rows = await reads.conn.fetch(
        f"SELECT id, author_id, text, created_at FROM comments WHERE {column} = $1{later}"
        f" ORDER BY id LIMIT {first + 1}",
        *args,
    )
    comments = list(rows[:first])
    await reads.load_users([c["author_id"] for c in comments])
    avatars = await reads.avatars([c["author_id"] for c in comments])
    members = await reads.mentions([c["text"] for c in comments])
    cursors = [encode_cursor("comment", c["id"]) for c in comments]
    return {
        "edges": [
            {
                "cursor": cursor,
                "node": {
                    "id": to_global_id("Comment", c["id"]),
                    "text": c["text"],
                    "createdAt": c["created_at"].isoformat(),
                    "author": avatar_thumb(reads, reads.users[c["author_id"]], avatars),
                    "mentions": mention_list(c["text"], members),
                },
            }
            for cursor, c in zip(cursors, comments, strict=True)
        ],
        "pageInfo": page_end(len(rows) > first, cursors),
    }


def _id(request: Request, type_name: str) -> int:
    from schema.base import decode_id

    return decode_id(request.query_params["id"], "id", type_name)


async def artwork_page(reads: Reads, request: Request) -> dict[str, Any]:
    artwork = await reads.conn.fetchrow(
        f"SELECT {ARTWORK_COLUMNS} FROM artworks WHERE id = $1",
        _id(request, "Artwork"),
    )
    if artwork is not None:
        await reads.load_users([artwork["owner_id"]])
        await reads.load_follows([artwork["owner_id"]])
    if artwork is None or not reads.can_see(artwork["owner_id"], artwork["visibility"]):
        return {"artwork": None}
    images = await reads.media_of("artwork_id", [artwork["id"]])
    liked = await reads.liked("artwork_likes", "artwork_id", [artwork["id"]])
    owner = reads.users[artwork["owner_id"]]
    avatars = await reads.avatars([owner["id"]])
    policy = artwork_policy(reads, artwork)
    display = []
    for image in images.get(artwork["id"], []):
        display.append(
            {
                "id": to_global_id("MediaAsset", image["id"]),
                "width": image["width"],
                "height": image["height"],
                "altText": image["alt_text"],
                "dominantColor": image["dominant_color"],
                "url": reads.image_url(image, policy, "display", "webp"),
                "jpeg": reads.image_url(image, policy, "display", "jpeg"),
                "variants": [
                    {
                        "size": v["size"].upper(),
                        "format": v["format"].upper(),
                        "width": int(v["width"]),
                        "height": int(v["height"]),
                        "url": reads.url(
                            str(v["key"]),
                            ImageRef(image["id"], image["owner_id"], image["artwork_id"], policy),
                        ),
                    }
                    for v in orjson.loads(image["variants"])
                ],
            }
        )
    tile = artwork_tile(reads, artwork, images, liked)
    return {
        "artwork": {
            **tile,
            "description": artwork["description"],
            "tags": orjson.loads(artwork["tags"])
            if isinstance(artwork["tags"], str)
            else list(artwork["tags"]),
            "createdAt": artwork["created_at"].isoformat(),
            "commentCount": artwork["comment_count"],
            "owner": {
                **avatar_thumb(reads, owner, avatars),
                "isFollowedByViewer": owner["id"] in reads.followed,
            },
            "display": display,
            "comments": await _comments(reads, request, "artwork_id", artwork["id"]),
        }
    }


async def _visible_post(reads: Reads, post_id: int) -> asyncpg.Record | None:
    post = await reads.conn.fetchrow(
        f"SELECT {POST_COLUMNS} FROM posts WHERE id = $1",
        post_id,
    )
    if post is None:
        return None
    await reads.load_follows([post["author_id"]])
    return post if reads.can_see(post["author_id"], post["visibility"]) else None


async def post_page(reads: Reads, request: Request) -> dict[str, Any]:
    post = await _visible_post(reads, _id(request, "Post"))
    if post is None:
        return {"post": None}
    parent = None
    if post["reply_to_id"] is not None:
        parent = await _visible_post(reads, post["reply_to_id"])
    cards = await post_cards(reads, [post] if parent is None else [post, parent])
    return {
        "post": {
            **cards[0],
            "replyTo": cards[1] if parent is not None else None,
            "comments": await _comments(reads, request, "post_id", post["id"]),
        }
    }


async def _follow_list(reads: Reads, request: Request, followers: bool) -> dict[str, Any]:
    first, after = _first(request, 30), _after(request, "follow")
    user = await _user(reads, request)
    if user is None:
        return {"user": None}
    mine, other = ("followee_id", "follower_id") if followers else ("follower_id", "followee_id")
    older = "" if after is None else " AND id < $2"
    args: list[Any] = [user["id"]] if after is None else [user["id"], after[0]]
    rows = await reads.conn.fetch(
        f"SELECT id, {other} AS other FROM follows WHERE {mine} = $1{older}"
        f" ORDER BY id DESC LIMIT {first + 1}",
        *args,
    )
    edges = list(rows[:first])
    people = [e["other"] for e in edges]
    await reads.load_users(people)
    await reads.load_follows(people)
    avatars = await reads.avatars(people)
    cursors = [encode_cursor("follow", e["id"]) for e in edges]
    count = "followerCount" if followers else "followingCount"
    field = "followers" if followers else "following"
    return {
        "user": {
            "id": to_global_id("User", user["id"]),
            count: user["follower_count" if followers else "following_count"],
            field: {
                "edges": [
                    {
                        "cursor": cursor,
                        "node": {
                            **avatar_thumb(reads, reads.users[e["other"]], avatars),
                            "isFollowedByViewer": reads.viewer != e["other"]
                            and e["other"] in reads.followed,
                        },
                    }
                    for cursor, e in zip(cursors, edges, strict=True)
                ],
                "pageInfo": page_end(len(rows) > first, cursors),
            },
        }
    }


async def followers(reads: Reads, request: Request) -> dict[str, Any]:
    return await _follow_list(reads, request, True)


async def following(reads: Reads, request: Request) -> dict[str, Any]:
    return await _follow_list(reads, request, False)


SCREENS: dict[str, Callable[[Reads, Request], Awaitable[dict[str, Any]]]] = {
    "HomeFeed": home_feed,
    "Discover": discover,
    "TagFeed": tag_feed,
    "ProfileHeader": profile_header,
    "ProfilePortfolio": profile_portfolio,
    "ProfilePosts": profile_posts,
    "ArtworkPage": artwork_page,
    "PostPage": post_page,
    "Followers": followers,
    "Following": following,
}


def _error(status: int, message: str, code: str) -> Response:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return Response(body, status_code=status, media_type="application/json")


async def screen(request: Request) -> Response:
    handler = SCREENS.get(request.path_params["name"])
    if handler is None:
        return _error(404, "no such screen", "NOT_FOUND")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, "sign in to do this", "UNAUTHENTICATED")
    token_hash = hashlib.sha256(token.strip().encode()).hexdigest()
    async with request.app.state.pool.acquire() as conn:
        auth = await conn.fetchrow(AUTH_SQL, token_hash)
        if auth is None or auth["expires_at"] <= datetime.now(UTC):
            return _error(401, "the access token is invalid", "TOKEN_INVALID")
        reads = Reads(conn, auth["user_id"], request.app.state.media_url)
        try:
            data = await handler(reads, request)
        except (BadRequest, ValueError, KeyError) as error:
            return _error(400, str(error), "BAD_USER_INPUT")
    return Response(orjson.dumps({"data": data}), media_type="application/json")


ROUTES = [Route("/reads/{name}", screen)]
