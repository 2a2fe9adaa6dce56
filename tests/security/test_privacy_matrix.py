"""What each viewer may see: every read, for every viewer, against a table written out by hand.

One graph per database: two artists, ``ada`` and ``bea``, with posts and artworks of every
visibility; ``fan`` follows ada, ``stranger`` follows bea, ada follows bea; and anonymous. ada's
public post carries her public, followers-only and private artworks; tags come from texts and
from artworks; replies of each visibility answer ada's posts; comments sit on posts and artworks
of each visibility; there are likes.

The tables below say, for each viewer, exactly which ids each read returns. They are written
from the rules (a PUBLIC work is everyone's, a FOLLOWERS work its artist's and their followers',
a PRIVATE work its artist's), never computed by the code under test. The feeds run on both paths
(the regular GraphQL execution, and the compiled plan that answers a feed document from its
second run: ``schema.compiled``), and everything runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from base64 import urlsafe_b64encode
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from resolvers.context import Context
from schema.plans import Unknown
from schema.root import schema
from schema.types import Comment
from storage import models
from storage.persisted import sha256_of
from tests.conftest import empty
from tests.graphql import GraphQLClient, Result, pk_of
from tests.security.conftest import PRODUCTION
from tests.security.subscriptions import Subscription

ANON, STRANGER, FAN, ADA, BEA = "anon", "stranger", "fan", "ada", "bea"
VIEWERS = (ANON, STRANGER, FAN, ADA, BEA)
HANDLES = (STRANGER, FAN, ADA, BEA)
FOLLOWS = ((FAN, ADA), (STRANGER, BEA), (ADA, BEA))  # (follower, followee)

# name: (artist, visibility, tags)
ARTWORKS = {
    "aw_pub": (ADA, "PUBLIC", ["oil"]),
    "aw_fol": (ADA, "FOLLOWERS", ["fans", "oil"]),
    "aw_prv": (ADA, "PRIVATE", ["secret"]),
    "bw_pub": (BEA, "PUBLIC", []),
    "bw_fol": (BEA, "FOLLOWERS", ["ink"]),
    "bw_prv": (BEA, "PRIVATE", []),
}
# name: (author, visibility, text, attached artworks, the post it replies to), oldest first
POSTS = {
    "a_pub": (ADA, "PUBLIC", "new work #sea", ["aw_pub", "aw_fol", "aw_prv"], None),
    "a_fol": (ADA, "FOLLOWERS", "for fans #sea", ["aw_fol"], None),
    "a_prv": (ADA, "PRIVATE", "diary #sea", ["aw_prv"], None),
    "b_pub": (BEA, "PUBLIC", "bea #sea", ["bw_fol"], None),
    "b_fol": (BEA, "FOLLOWERS", "bea for followers", [], None),
    "b_prv": (BEA, "PRIVATE", "bea alone", [], None),
    "r_fol": (FAN, "FOLLOWERS", "#sea says my followers", [], "a_pub"),
    "r_prv": (ADA, "PRIVATE", "note on my own post", [], "a_pub"),
    "r_str": (STRANGER, "PUBLIC", "me too #sea", [], "a_pub"),
    "r_pub": (FAN, "PUBLIC", "a public answer", [], "a_fol"),
}
# name: (author, the post or artwork commented on), oldest first
COMMENTS = {
    "c_a_pub": (STRANGER, "a_pub"),
    "c_a_pub2": (FAN, "a_pub"),
    "c_a_fol": (FAN, "a_fol"),
    "c_a_prv": (ADA, "a_prv"),
    "c_b_fol": (ADA, "b_fol"),
    "c_aw_pub": (STRANGER, "aw_pub"),
    "c_aw_fol": (FAN, "aw_fol"),
    "c_aw_prv": (ADA, "aw_prv"),
    "c_bw_fol": (STRANGER, "bw_fol"),
}
LIKES = ((STRANGER, "a_pub"), (FAN, "a_fol"), (FAN, "aw_fol"), (ADA, "b_fol"))

# --- the expected tables ---------------------------------------------------------------------


def everyone(*names: str) -> dict[str, list[str]]:
    """The same answer for every viewer."""
    return {viewer: list(names) for viewer in VIEWERS}


VISIBLE_POSTS = {
    ANON: {"a_pub", "b_pub", "r_str", "r_pub"},
    STRANGER: {"a_pub", "b_pub", "b_fol", "r_str", "r_pub"},
    FAN: {"a_pub", "a_fol", "b_pub", "r_fol", "r_str", "r_pub"},
    ADA: {"a_pub", "a_fol", "a_prv", "b_pub", "b_fol", "r_prv", "r_str", "r_pub"},
    BEA: {"a_pub", "b_pub", "b_fol", "b_prv", "r_str", "r_pub"},
}
VISIBLE_ARTWORKS = {
    ANON: {"aw_pub", "bw_pub"},
    STRANGER: {"aw_pub", "bw_pub", "bw_fol"},
    FAN: {"aw_pub", "aw_fol", "bw_pub"},
    ADA: {"aw_pub", "aw_fol", "aw_prv", "bw_pub", "bw_fol"},
    BEA: {"aw_pub", "bw_pub", "bw_fol", "bw_prv"},
}
VISIBLE_COMMENTS = {
    ANON: {"c_a_pub", "c_a_pub2", "c_aw_pub"},
    STRANGER: {"c_a_pub", "c_a_pub2", "c_b_fol", "c_aw_pub", "c_bw_fol"},
    FAN: {"c_a_pub", "c_a_pub2", "c_a_fol", "c_aw_pub", "c_aw_fol"},
    ADA: set(COMMENTS),
    BEA: {"c_a_pub", "c_a_pub2", "c_b_fol", "c_aw_pub", "c_bw_fol"},
}
# Post.artworks of each post the viewer sees that has attachments
POST_ARTWORKS = {
    ANON: {"a_pub": ["aw_pub"], "b_pub": []},
    STRANGER: {"a_pub": ["aw_pub"], "b_pub": ["bw_fol"]},
    FAN: {"a_pub": ["aw_pub", "aw_fol"], "a_fol": ["aw_fol"], "b_pub": []},
    ADA: {
        "a_pub": ["aw_pub", "aw_fol", "aw_prv"],
        "a_fol": ["aw_fol"],
        "a_prv": ["aw_prv"],
        "b_pub": ["bw_fol"],
    },
    BEA: {"a_pub": ["aw_pub"], "b_pub": ["bw_fol"]},
}
# Post.replyTo of each reply the viewer sees: null when the post replied to is hidden
REPLY_TO: dict[str, dict[str, str | None]] = {
    ANON: {"r_str": "a_pub", "r_pub": None},
    STRANGER: {"r_str": "a_pub", "r_pub": None},
    FAN: {"r_fol": "a_pub", "r_str": "a_pub", "r_pub": "a_fol"},
    ADA: {"r_prv": "a_pub", "r_str": "a_pub", "r_pub": "a_fol"},
    BEA: {"r_str": "a_pub", "r_pub": None},
}
# Post.replyCount of each post the viewer sees that has replies the viewer may see (else 0)
REPLY_COUNT = {
    ANON: {"a_pub": 1},
    STRANGER: {"a_pub": 1},
    FAN: {"a_pub": 2, "a_fol": 1},
    ADA: {"a_pub": 2, "a_fol": 1},
    BEA: {"a_pub": 1},
}
# The comments of a post or artwork, oldest first, for anyone who sees it
COMMENTS_ON = {
    "a_pub": ["c_a_pub", "c_a_pub2"],
    "a_fol": ["c_a_fol"],
    "a_prv": ["c_a_prv"],
    "b_fol": ["c_b_fol"],
    "aw_pub": ["c_aw_pub"],
    "aw_fol": ["c_aw_fol"],
    "aw_prv": ["c_aw_prv"],
    "bw_fol": ["c_bw_fol"],
}
HOME_FEED = {
    ANON: None,  # refused: UNAUTHENTICATED
    STRANGER: ["r_str", "b_fol", "b_pub"],
    FAN: ["r_pub", "r_fol", "a_fol", "a_pub"],
    ADA: ["r_prv", "b_fol", "b_pub", "a_prv", "a_fol", "a_pub"],
    BEA: ["b_prv", "b_fol", "b_pub"],
}
DISCOVER_FEED = everyone("r_pub", "r_str", "b_pub", "a_pub")
TAG_FEED = {
    "sea": everyone("r_str", "b_pub", "a_pub"),
    "oil": everyone("a_pub"),  # on the public artwork too
    "fans": {ANON: [], STRANGER: [], FAN: ["a_pub"], ADA: ["a_pub"], BEA: []},
    "secret": {ANON: [], STRANGER: [], FAN: [], ADA: ["a_pub"], BEA: []},
    "ink": {ANON: [], STRANGER: ["b_pub"], FAN: [], ADA: ["b_pub"], BEA: ["b_pub"]},
}
USER_POSTS = {
    ADA: {
        ANON: ["a_pub"],
        STRANGER: ["a_pub"],
        FAN: ["a_fol", "a_pub"],
        ADA: ["r_prv", "a_prv", "a_fol", "a_pub"],
        BEA: ["a_pub"],
    },
    BEA: {
        ANON: ["b_pub"],
        STRANGER: ["b_fol", "b_pub"],
        FAN: ["b_pub"],
        ADA: ["b_fol", "b_pub"],
        BEA: ["b_prv", "b_fol", "b_pub"],
    },
    FAN: {
        ANON: ["r_pub"],
        STRANGER: ["r_pub"],
        FAN: ["r_pub", "r_fol"],
        ADA: ["r_pub"],
        BEA: ["r_pub"],
    },
    STRANGER: everyone("r_str"),
}
PORTFOLIO = {  # new work goes to the top of a portfolio
    ADA: {
        ANON: ["aw_pub"],
        STRANGER: ["aw_pub"],
        FAN: ["aw_fol", "aw_pub"],
        ADA: ["aw_prv", "aw_fol", "aw_pub"],
        BEA: ["aw_pub"],
    },
    BEA: {
        ANON: ["bw_pub"],
        STRANGER: ["bw_fol", "bw_pub"],
        FAN: ["bw_pub"],
        ADA: ["bw_fol", "bw_pub"],
        BEA: ["bw_prv", "bw_fol", "bw_pub"],
    },
    FAN: everyone(),
    STRANGER: everyone(),
}


# --- the seeded graph ------------------------------------------------------------------------


@dataclass
class World:
    """The seeded graph on one database: a production app with compiled plans, one without
    (same database, same accounts), the ids of every seeded thing by name, and the answers of
    the batched reads by (viewer, read)."""

    compiled: GraphQLClient
    regular: GraphQLClient
    ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    answers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def name(self, global_id: str | None) -> str | None:
        return None if global_id is None else self.names[global_id]

    def named(self, nodes: Iterable[dict[str, Any]]) -> list[str | None]:
        return [self.name(node["id"]) for node in nodes]

    async def run(self, viewer: str, query: str, *, regular: bool = False) -> Result:
        client = self.regular if regular else self.compiled
        return await client.execute(query, as_=None if viewer == ANON else viewer)

    async def mutate(self, viewer: str, query: str, variables: dict[str, Any]) -> Any:
        result = await self.compiled.execute(query, variables, as_=viewer)
        (payload,) = result.data.values()
        assert payload["errors"] == [], payload
        return payload

    async def read(self, viewer: str, kind: str) -> dict[str, Any]:
        """One batched read (see ``READS``) as ``viewer``, asked once per module."""
        key = (viewer, kind)
        if key not in self.answers:
            result = await self.run(viewer, READS[kind](self))
            self.answers[key] = result.data
        return self.answers[key]


FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
UNFOLLOW = "mutation($u: ID!) { unfollow(userId: $u) { errors { code } } }"
CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id } errors { code } } }"""
CREATE_POST = """mutation($i: CreatePostInput!) { createPost(input: $i) {
  post { id } errors { code } } }"""
DELETE_POST = "mutation($p: ID!) { deletePost(id: $p) { deletedId errors { code } } }"
ADD_COMMENT = """mutation($s: ID!, $t: String!) { addComment(input: {subjectId: $s, text: $t}) {
  comment { id } errors { code } } }"""
DELETE_COMMENT = "mutation($c: ID!) { deleteComment(id: $c) { deletedId errors { code } } }"
LIKE_POST = "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }"
UNLIKE_POST = "mutation($p: ID!) { unlikePost(postId: $p) { errors { code } } }"
LIKE_ARTWORK = "mutation($a: ID!) { likeArtwork(artworkId: $a) { errors { code } } }"
UNLIKE_ARTWORK = "mutation($a: ID!) { unlikeArtwork(artworkId: $a) { errors { code } } }"


async def _seed(world: World) -> None:
    for handle in HANDLES:
        world.ids[handle] = await world.compiled.sign_up(handle)
    for follower, followee in FOLLOWS:
        await world.mutate(follower, FOLLOW, {"u": world.ids[followee]})
    for name, (artist, visibility, tags) in ARTWORKS.items():
        made = await world.mutate(
            artist,
            CREATE_ARTWORK,
            {"i": {"title": name, "visibility": visibility, "tags": tags}},
        )
        world.ids[name] = made["artwork"]["id"]
    for name, (author, visibility, text, artworks, reply_to) in POSTS.items():
        fields = {
            "text": text,
            "visibility": visibility,
            "artworkIds": [world.ids[a] for a in artworks],
            "replyTo": world.ids[reply_to] if reply_to else None,
        }
        made = await world.mutate(author, CREATE_POST, {"i": fields})
        world.ids[name] = made["post"]["id"]
    for name, (author, subject) in COMMENTS.items():
        made = await world.mutate(author, ADD_COMMENT, {"s": world.ids[subject], "t": name})
        world.ids[name] = made["comment"]["id"]
    for who, what in LIKES:
        liked = LIKE_POST if what in POSTS else LIKE_ARTWORK
        await world.mutate(who, liked, {"p" if what in POSTS else "a": world.ids[what]})
    world.names = {global_id: name for name, global_id in world.ids.items()}
    world.regular._tokens = world.compiled._tokens  # the same accounts sign in to both apps


@pytest.fixture(scope="module")
async def world(database: str) -> AsyncIterator[World]:
    await empty(database)
    async with (
        GraphQLClient.for_app(**PRODUCTION) as compiled,
        GraphQLClient.for_app(**PRODUCTION, GESSO_COMPILED_QUERIES="false") as regular,
    ):
        seeded = World(compiled, regular)
        await _seed(seeded)
        yield seeded


# --- batched reads ---------------------------------------------------------------------------

POST_SELECTION = (
    "id replyTo { id } replyCount commentCount comments { nodes { id } } artworks { id }"
)


def _by_id(root: str, names: Iterable[str], selection: str) -> Any:
    def build(world: World) -> str:
        fields = (f'{name}: {root}(id: "{world.ids[name]}") {{ {selection} }}' for name in names)
        return "{ " + " ".join(fields) + " }"

    return build


def _users(world: World) -> str:
    fields = (
        f'{handle}: user(handle: "{handle}") {{ id postCount artworkCount'
        " posts { nodes { id } } portfolio { nodes { id } } }"
        for handle in HANDLES
    )
    return "{ " + " ".join(fields) + " }"


def _tags(world: World) -> str:
    fields = (f'{tag}: tagFeed(tag: "{tag}") {{ nodes {{ id }} }}' for tag in TAG_FEED)
    return "{ " + " ".join(fields) + " }"


READS = {
    "post": _by_id("post", POSTS, POST_SELECTION),
    "artwork": _by_id("artwork", ARTWORKS, "id commentCount comments { nodes { id } }"),
    "node": _by_id(
        "node",
        [*HANDLES, *POSTS, *ARTWORKS, *COMMENTS],
        "id ... on Comment { post { id } artwork { id } }",
    ),
    "user": _users,
    "tag": _tags,
}


# --- one object by id ------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_node_answers_what_the_viewer_may_see(world: World, viewer: str) -> None:
    data = await world.read(viewer, "node")
    seen = {name for name, node in data.items() if node is not None}
    expected = (
        set(HANDLES) | VISIBLE_POSTS[viewer] | VISIBLE_ARTWORKS[viewer] | VISIBLE_COMMENTS[viewer]
    )
    assert seen == expected
    assert all(world.name(node["id"]) == name for name, node in data.items() if node)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_a_visible_comment_names_its_visible_target(world: World, viewer: str) -> None:
    data = await world.read(viewer, "node")
    targets = {
        name: world.name((data[name]["post"] or data[name]["artwork"] or {}).get("id"))
        for name in VISIBLE_COMMENTS[viewer]
    }
    assert targets == {name: COMMENTS[name][1] for name in VISIBLE_COMMENTS[viewer]}


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_post_by_id(world: World, viewer: str) -> None:
    data = await world.read(viewer, "post")
    seen = {name for name, post in data.items() if post is not None}
    assert seen == VISIBLE_POSTS[viewer]
    replies = {
        name: world.name((post["replyTo"] or {}).get("id")) for name, post in data.items() if post
    }
    assert replies == {name: REPLY_TO[viewer].get(name) for name in VISIBLE_POSTS[viewer]}
    attached = {name: world.named(post["artworks"]) for name, post in data.items() if post}
    assert attached == {name: POST_ARTWORKS[viewer].get(name, []) for name in VISIBLE_POSTS[viewer]}


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_comments_of_a_visible_post_or_artwork(world: World, viewer: str) -> None:
    posts = await world.read(viewer, "post")
    artworks = await world.read(viewer, "artwork")
    for name, subject in {**posts, **artworks}.items():
        if subject is None:
            continue
        comments = world.named(subject["comments"]["nodes"])
        assert comments == COMMENTS_ON.get(name, []), name
        # every comment on a work is the work's conversation: its count hides nothing
        assert subject["commentCount"] == len(COMMENTS_ON.get(name, [])), name


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_artwork_by_id(world: World, viewer: str) -> None:
    data = await world.read(viewer, "artwork")
    assert {name for name, artwork in data.items() if artwork} == VISIBLE_ARTWORKS[viewer]


def _reply_count_cells() -> list[Any]:
    cells = []
    for viewer in VIEWERS:
        for post in sorted(VISIBLE_POSTS[viewer]):
            expected = REPLY_COUNT[viewer].get(post, 0)
            cells.append(pytest.param(viewer, post, expected, id=f"{viewer}-{post}"))
    return cells


@pytest.mark.parametrize(("viewer", "post", "expected"), _reply_count_cells())
async def test_reply_count_counts_replies_the_viewer_may_see(
    world: World, viewer: str, post: str, expected: int
) -> None:
    data = await world.read(viewer, "post")
    assert data[post]["replyCount"] == expected


# --- users, tags ------------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_profiles_posts_portfolio_and_counts(world: World, viewer: str) -> None:
    data = await world.read(viewer, "user")
    seen = {
        handle: (
            world.named(user["posts"]["nodes"]),
            world.named(user["portfolio"]["nodes"]),
            user["postCount"],
            user["artworkCount"],
        )
        for handle, user in data.items()
    }
    assert seen == {
        handle: (
            USER_POSTS[handle][viewer],
            PORTFOLIO[handle][viewer],
            len(USER_POSTS[handle][viewer]),
            len(PORTFOLIO[handle][viewer]),
        )
        for handle in HANDLES
    }


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_tag_feed(world: World, viewer: str) -> None:
    data = await world.read(viewer, "tag")
    seen = {tag: world.named(feed["nodes"]) for tag, feed in data.items()}
    assert seen == {tag: by_viewer[viewer] for tag, by_viewer in TAG_FEED.items()}


# --- the feeds, on both paths ----------------------------------------------------------------

FEEDS: dict[str, Mapping[str, list[str] | None]] = {
    "homeFeed": HOME_FEED,
    "discoverFeed": DISCOVER_FEED,
}
FEED_QUERY = (
    "query {feed}Page {{ {feed}(first: 50) {{ nodes {{ id commentCount artworks {{ id }}"
    " author {{ handle postCount artworkCount }} }} }} }}"
)
FEED_REPLIES_QUERY = "query {feed}Replies {{ {feed}(first: 50) {{ nodes {{ id replyCount }} }} }}"
AUTHORS = {name: author for name, (author, *_) in POSTS.items()}
PATHS = ("regular", "compiled")


async def _feed(world: World, viewer: str, query: str, path: str) -> Result:
    """``query`` as ``viewer`` on one path. The compiled app learns a plan from the document's
    first error-free run (as ada here); from then on a plan answers it, which its counter says.
    """
    if path == "regular":
        assert world.regular.app.state.graphql.plans is None
        return await world.run(viewer, query, regular=True)
    plans = world.compiled.app.state.graphql.plans
    if isinstance(plans.get(sha256_of(query), None), Unknown):
        assert (await world.run(ADA, query)).errors == []  # a clean run teaches the plan
    assert plans.get(sha256_of(query), None) is not None, "no plan for the feed document"
    served = plans.served
    result = await world.run(viewer, query)
    # an anonymous home feed is refused, by the regular path
    assert plans.served == served + (0 if result.errors else 1)
    return result


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_feed(world: World, viewer: str, feed: str, path: str) -> None:
    result = await _feed(world, viewer, FEED_QUERY.format(feed=feed), path)
    expected = FEEDS[feed][viewer]
    if expected is None:
        assert result.codes == ["UNAUTHENTICATED"]
        return
    nodes = result.data[feed]["nodes"]
    assert world.named(nodes) == expected
    for node in nodes:
        post = world.name(node["id"])
        assert post is not None
        author = AUTHORS[post]
        assert node == {
            "id": node["id"],
            "commentCount": len(COMMENTS_ON.get(post, [])),
            "artworks": [{"id": world.ids[a]} for a in POST_ARTWORKS[viewer].get(post, [])],
            "author": {
                "handle": author,
                "postCount": len(USER_POSTS[author][viewer]),
                "artworkCount": len(PORTFOLIO[author][viewer]),
            },
        }, post


# A person's page, on both paths (from its second run, a plan of schema.plan_user answers it).
PROFILE_PAGES = {
    "posts": 'query Posts {{ user(handle: "{handle}") {{ postCount isFollowedByViewer'
    " posts(first: 50) {{ nodes {{ id artworks {{ id }} author {{ handle }} }} }} }} }}",
    "portfolio": 'query Portfolio {{ user(handle: "{handle}") {{ artworkCount'
    " portfolio(first: 50) {{ edges {{ node {{ id }} }} }} }} }}",
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("page", PROFILE_PAGES)
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_profile_pages(world: World, viewer: str, page: str, path: str) -> None:
    for handle in HANDLES:
        result = await _feed(world, viewer, PROFILE_PAGES[page].format(handle=handle), path)
        assert result.errors == []
        user = result.data["user"]
        if page == "portfolio":
            nodes = [edge["node"] for edge in user["portfolio"]["edges"]]
            assert world.named(nodes) == PORTFOLIO[handle][viewer], handle
            assert user["artworkCount"] == len(PORTFOLIO[handle][viewer])
            continue
        nodes = user["posts"]["nodes"]
        assert world.named(nodes) == USER_POSTS[handle][viewer], handle
        assert user["postCount"] == len(USER_POSTS[handle][viewer])
        assert user["isFollowedByViewer"] == ((viewer, handle) in FOLLOWS)
        for node in nodes:
            post = world.name(node["id"])
            assert post is not None
            assert node["author"] == {"handle": handle}
            attached = POST_ARTWORKS[viewer].get(post, [])
            assert node["artworks"] == [{"id": world.ids[a]} for a in attached], post


def _feed_reply_cells() -> list[Any]:
    cells = []
    for viewer in VIEWERS:
        for feed, table in FEEDS.items():
            posts = table[viewer]
            if posts is None:
                continue
            for path in PATHS:
                cells.append(pytest.param(viewer, feed, path, id=f"{viewer}-{feed}-{path}"))
    return cells


@pytest.mark.parametrize(("viewer", "feed", "path"), _feed_reply_cells())
async def test_feed_reply_counts(world: World, viewer: str, feed: str, path: str) -> None:
    result = await _feed(world, viewer, FEED_REPLIES_QUERY.format(feed=feed), path)
    counts = {world.name(n["id"]): n["replyCount"] for n in result.data[feed]["nodes"]}
    table = FEEDS[feed][viewer]
    assert table is not None
    assert counts == {post: REPLY_COUNT[viewer].get(post, 0) for post in table}


# --- one post or artwork by id, on both paths ------------------------------------------------

POST_PAGE = (
    "query PostById($id: ID!) { post(id: $id) { id replyCount commentCount artworks { id }"
    " replyTo { id artworks { id } } comments { nodes { id author { handle } } } } }"
)
ARTWORK_PAGE = (
    "query ArtworkById($id: ID!) { artwork(id: $id) { id commentCount owner { handle }"
    " comments { edges { node { id } } } } }"
)


async def _by_id_on(world: World, viewer: str, query: str, subject: str, path: str) -> Result:
    """``query`` for the id ``subject`` as ``viewer`` on one path; on the compiled one, a plan
    answers it (its counter says), once a first clean run taught it."""
    variables = {"id": world.ids[subject]}
    as_ = None if viewer == ANON else viewer
    if path == "regular":
        return await world.regular.execute(query, variables, as_=as_)
    plans = world.compiled.app.state.graphql.plans
    if isinstance(plans.get(sha256_of(query), None), Unknown):
        assert (await world.compiled.execute(query, variables, as_=ADA)).errors == []
    served = plans.served
    result = await world.compiled.execute(query, variables, as_=as_)
    assert plans.served == served + 1, "the plan did not answer"
    return result


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_post_page(world: World, viewer: str, path: str) -> None:
    for name in POSTS:
        post = (await _by_id_on(world, viewer, POST_PAGE, name, path)).data["post"]
        if name not in VISIBLE_POSTS[viewer]:
            assert post is None, name
            continue
        replied = REPLY_TO[viewer].get(name)
        assert post == {
            "id": world.ids[name],
            "replyCount": REPLY_COUNT[viewer].get(name, 0),
            "commentCount": len(COMMENTS_ON.get(name, [])),
            "artworks": [{"id": world.ids[a]} for a in POST_ARTWORKS[viewer].get(name, [])],
            "replyTo": None
            if replied is None
            else {
                "id": world.ids[replied],
                "artworks": [{"id": world.ids[a]} for a in POST_ARTWORKS[viewer].get(replied, [])],
            },
            "comments": {
                "nodes": [
                    {"id": world.ids[c], "author": {"handle": COMMENTS[c][0]}}
                    for c in COMMENTS_ON.get(name, [])
                ]
            },
        }, name


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_artwork_page(world: World, viewer: str, path: str) -> None:
    for name, (artist, *_) in ARTWORKS.items():
        artwork = (await _by_id_on(world, viewer, ARTWORK_PAGE, name, path)).data["artwork"]
        if name not in VISIBLE_ARTWORKS[viewer]:
            assert artwork is None, name
            continue
        assert artwork == {
            "id": world.ids[name],
            "commentCount": len(COMMENTS_ON.get(name, [])),
            "owner": {"handle": artist},
            "comments": {
                "edges": [{"node": {"id": world.ids[c]}} for c in COMMENTS_ON.get(name, [])]
            },
        }, name


# --- a comment reached some other way --------------------------------------------------------


async def _comment_target(world: World, comment: str, viewer: str, target: str) -> Any:
    """``Comment.<target>`` resolved for ``viewer`` on the comment object itself, as any path
    that reaches a comment (a notification, a mutation's payload) resolves it."""
    row = await models.Comment.get(id=pk_of(world.ids[comment]))
    context = Context(services=world.compiled.services, viewer=await models.User.get(handle=viewer))
    return await getattr(Comment.from_row(row), target)(SimpleNamespace(context=context))


@pytest.mark.parametrize(
    ("comment", "target", "viewer"),
    [
        ("c_a_prv", "post", STRANGER),
        ("c_a_fol", "post", BEA),
        ("c_aw_prv", "artwork", FAN),
        ("c_bw_fol", "artwork", FAN),
    ],
)
async def test_a_comment_does_not_hand_out_a_hidden_target(
    world: World, comment: str, target: str, viewer: str
) -> None:
    assert await _comment_target(world, comment, viewer, target) is None


# --- live: the home feed and notifications ---------------------------------------------------

LIVE_FEED = """subscription($after: String) { homeFeed(after: $after) { kind deletedPostId
  post { id artworks { id } author { postCount artworkCount } } } }"""
# name: (author, visibility, attached artworks); published in this order, then deleted in it
LIVE_POSTS = {
    "l_pub": (ADA, "PUBLIC", ["aw_pub", "aw_fol", "aw_prv"]),
    "l_fol": (ADA, "FOLLOWERS", []),
    "l_prv": (ADA, "PRIVATE", []),
    "l_bea": (BEA, "FOLLOWERS", []),
    "l_fan": (FAN, "PUBLIC", []),
    "l_str": (STRANGER, "FOLLOWERS", []),
}
# What each subscriber receives: ("+", post, its artworks, its author's (postCount,
# artworkCount) as the subscriber may count them when it was posted) or ("-", tombstone). The
# last event is the subscriber's own private marker, posted after everything else was deleted.
LIVE: dict[str, list[tuple[Any, ...]]] = {
    STRANGER: [
        ("+", "l_bea", [], (3, 2)),
        ("+", "l_str", [], (2, 0)),
        ("-", "l_bea"),
        ("-", "l_str"),
        ("+", "m_stranger", [], (2, 0)),
    ],
    FAN: [
        ("+", "l_pub", ["aw_pub", "aw_fol"], (3, 2)),
        ("+", "l_fol", [], (4, 2)),
        ("+", "l_fan", [], (3, 0)),
        ("-", "l_pub"),
        ("-", "l_fol"),
        ("-", "l_fan"),
        ("+", "m_fan", [], (3, 0)),
    ],
    ADA: [
        ("+", "l_pub", ["aw_pub", "aw_fol", "aw_prv"], (5, 3)),
        ("+", "l_fol", [], (6, 3)),
        ("+", "l_prv", [], (7, 3)),
        ("+", "l_bea", [], (3, 2)),
        ("-", "l_pub"),
        ("-", "l_fol"),
        ("-", "l_prv"),
        ("-", "l_bea"),
        ("+", "m_ada", [], (5, 3)),
    ],
    BEA: [("+", "l_bea", [], (4, 3)), ("-", "l_bea"), ("+", "m_bea", [], (4, 3))],
}


def _live_event(world: World, data: dict[str, Any]) -> tuple[Any, ...]:
    event = data["homeFeed"]
    if event["kind"] == "DELETED":
        return ("-", world.name(event["deletedPostId"]))
    post, author = event["post"], event["post"]["author"]
    counts = (author["postCount"], author["artworkCount"])
    return ("+", world.name(post["id"]), world.named(post["artworks"]), counts)


@pytest.mark.parametrize("fast", [False, True], ids=["regular", "fastlane"])
async def test_live_home_feed(world: World, fast: bool) -> None:
    # given a live home feed for each signed-in viewer
    feeds = {
        viewer: Subscription(
            world.compiled, await models.User.get(handle=viewer), LIVE_FEED, fast=fast
        )
        for viewer in HANDLES
    }
    for feed in feeds.values():
        await feed.start()
    made: dict[str, str] = {}
    try:
        # when posts of every visibility come and go, then each viewer posts a private marker
        for name, (author, visibility, artworks) in LIVE_POSTS.items():
            fields = {
                "text": name,
                "visibility": visibility,
                "artworkIds": [world.ids[a] for a in artworks],
            }
            made[name] = (await world.mutate(author, CREATE_POST, {"i": fields}))["post"]["id"]
            world.names[made[name]] = name
        for name, (author, *_) in LIVE_POSTS.items():
            await world.mutate(author, DELETE_POST, {"p": made.pop(name)})
        for viewer in HANDLES:
            fields = {"text": "marker", "visibility": "PRIVATE"}
            marker = (await world.mutate(viewer, CREATE_POST, {"i": fields}))["post"]["id"]
            made[f"m_{viewer}"] = marker
            world.names[marker] = f"m_{viewer}"
        # then each receives exactly what it may see, and its marker last
        for viewer, feed in feeds.items():
            received = [_live_event(world, await feed.next_data()) for _ in LIVE[viewer]]
            assert received == LIVE[viewer], viewer
    finally:
        for feed in feeds.values():
            await feed.close()
        for name, post in made.items():
            author = LIVE_POSTS[name][0] if name in LIVE_POSTS else name.removeprefix("m_")
            await world.mutate(author, DELETE_POST, {"p": post})


@pytest.mark.parametrize("fast", [False, True], ids=["regular", "fastlane"])
async def test_live_home_feed_replays_what_the_viewer_may_see(world: World, fast: bool) -> None:
    # given each viewer resuming a live home feed from before the first post
    before_all = {"after": urlsafe_b64encode(b"post:1").decode().rstrip("=")}
    for viewer in HANDLES:
        user = await models.User.get(handle=viewer)
        feed = Subscription(world.compiled, user, LIVE_FEED, fast=fast, variables=before_all)
        await feed.start()
        try:
            # then the replay is the viewer's home feed, oldest first, and nothing more
            expected = [
                (
                    "+",
                    post,
                    POST_ARTWORKS[viewer].get(post, []),
                    (
                        len(USER_POSTS[AUTHORS[post]][viewer]),
                        len(PORTFOLIO[AUTHORS[post]][viewer]),
                    ),
                )
                for post in reversed(HOME_FEED[viewer] or [])
            ]
            received = [_live_event(world, data) for data in await feed.drain()]
            assert received == expected, viewer
        finally:
            await feed.close()


NOTIFICATIONS = """subscription { notifications { kind actor { handle } post { id } artwork { id }
  comment { id } } }"""


class Action(NamedTuple):
    actor: str
    verb: str  # like, comment or follow
    subject: str  # the post, artwork or account
    text: str | None = None  # a comment's text, its name in the tables
    refused: bool = False  # NOT_FOUND: the subject is hidden from the actor


ACTIONS = [
    Action(FAN, "like", "a_pub"),
    Action(STRANGER, "like", "b_fol"),
    Action(STRANGER, "like", "aw_pub"),
    Action(ADA, "like", "bw_fol"),
    Action(ADA, "like", "a_pub"),  # one's own work: nobody is told
    Action(FAN, "comment", "a_fol", "n_fan"),
    Action(BEA, "comment", "a_pub", "n_bea"),
    Action(STRANGER, "comment", "bw_fol", "n_str"),
    Action(ADA, "comment", "aw_prv", "n_ada"),  # one's own work
    Action(STRANGER, "follow", FAN),
    Action(STRANGER, "like", "a_fol", refused=True),
    Action(BEA, "comment", "aw_fol", "n_hidden", refused=True),
]
# Who is told what: (kind, actor, the post or artwork, the comment)
NOTIFIED: dict[str, list[tuple[str, str, str | None, str | None]]] = {
    ADA: [
        ("POST_LIKED", FAN, "a_pub", None),
        ("ARTWORK_LIKED", STRANGER, "aw_pub", None),
        ("COMMENT", FAN, "a_fol", "n_fan"),
        ("COMMENT", BEA, "a_pub", "n_bea"),
    ],
    BEA: [
        ("POST_LIKED", STRANGER, "b_fol", None),
        ("ARTWORK_LIKED", ADA, "bw_fol", None),
        ("COMMENT", STRANGER, "bw_fol", "n_str"),
    ],
    FAN: [("NEW_FOLLOWER", STRANGER, None, None)],
    STRANGER: [],
}


async def _act(world: World, action: Action) -> Result:
    target = world.ids[action.subject]
    variables: dict[str, Any]
    if action.verb == "follow":
        query, variables = FOLLOW, {"u": target}
    elif action.verb == "comment":
        query, variables = ADD_COMMENT, {"s": target, "t": action.text}
    elif action.subject in POSTS:
        query, variables = LIKE_POST, {"p": target}
    else:
        query, variables = LIKE_ARTWORK, {"a": target}
    return await world.compiled.execute(query, variables, as_=action.actor)


async def _undo(world: World, action: Action, payload: dict[str, Any]) -> None:
    target = world.ids[action.subject]
    if action.verb == "follow":
        await world.mutate(action.actor, UNFOLLOW, {"u": target})
    elif action.verb == "comment":
        await world.mutate(action.actor, DELETE_COMMENT, {"c": payload["comment"]["id"]})
    elif action.subject in POSTS:
        await world.mutate(action.actor, UNLIKE_POST, {"p": target})
    else:
        await world.mutate(action.actor, UNLIKE_ARTWORK, {"a": target})


def _notification(world: World, data: dict[str, Any]) -> tuple[Any, ...]:
    note = data["notifications"]
    subject = note["post"] or note["artwork"]
    return (
        note["kind"],
        note["actor"]["handle"],
        world.name(subject["id"]) if subject else None,
        world.name(note["comment"]["id"]) if note["comment"] else None,
    )


async def test_notifications(world: World) -> None:
    # given each signed-in viewer listening to their notifications
    inboxes = {
        viewer: Subscription(world.compiled, await models.User.get(handle=viewer), NOTIFICATIONS)
        for viewer in HANDLES
    }
    for inbox in inboxes.values():
        await inbox.start()
    done: list[tuple[Action, dict[str, Any]]] = []
    try:
        # when likes, comments and a follow happen, some of them refused
        for action in ACTIONS:
            (payload,) = (await _act(world, action)).data.values()
            codes = [error["code"] for error in payload["errors"]]
            assert codes == (["NOT_FOUND"] if action.refused else []), action
            if not action.refused:
                done.append((action, payload))
            if action.verb == "comment" and not action.refused:
                world.names[payload["comment"]["id"]] = str(action.text)
        # then exactly the artist whose work it is hears of it, and of nothing hidden
        for viewer, inbox in inboxes.items():
            received = [_notification(world, data) for data in await inbox.drain()]
            assert received == NOTIFIED[viewer], viewer
    finally:
        for inbox in inboxes.values():
            await inbox.close()
        for action, payload in reversed(done):
            await _undo(world, action, payload)


@pytest.mark.parametrize("query", [LIVE_FEED, NOTIFICATIONS], ids=["homeFeed", "notifications"])
async def test_anonymous_subscriptions_are_refused(world: World, query: str) -> None:
    context = Context(services=world.compiled.services)
    subscribed = await schema.subscribe(query, context_value=context)
    result: Any = subscribed
    if isinstance(subscribed, AsyncGenerator):
        async with contextlib.aclosing(subscribed) as stream:
            result = await anext(stream)
    errors = result.errors or []
    assert [getattr(e.original_error, "code", None) for e in errors] == ["UNAUTHENTICATED"]
