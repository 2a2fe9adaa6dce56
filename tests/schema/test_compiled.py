"""Compiled plans (schema.compiled) answer exactly what the regular GraphQL execution answers.

Two apps share one database: one with compiled plans, one without. Every document is sent to
the compiled app twice (the first run is the regular path, after which the document is compiled;
the second is served by the plan) and once to the other app, and the three answers must be
identical, byte for byte once decoded: same data, same order of keys, same errors and status.
"""

from __future__ import annotations

import difflib
import json
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from schema.base import decode_id
from schema.fields import (
    REGISTRY,
    Attached,
    Avatar,
    Comments,
    Images,
    MediaUrl,
    Mentions,
    NotCovered,
    Page,
    Related,
    ReplyTo,
    Variants,
)
from schema.planner import compile_plan
from storage import models
from tests.graphql import GraphQLClient, QueryCounter, global_id


def _answered(type_name: str) -> list[str]:
    """The fields of ``type_name`` a plan answers from its own row and the viewer's flags (the
    objects they reach are added by ``random_document``), as ``schema.fields`` has them."""
    table = REGISTRY[type_name]
    return [n for n, how in table.items() if not isinstance(how, ObjectFields)] + ["__typename"]


ObjectFields = (
    NotCovered,
    Related,
    Attached,
    Images,
    Avatar,
    MediaUrl,
    Variants,
    ReplyTo,
    Comments,
    Mentions,
    Page,
)
POST_FIELDS = _answered("Post")
USER_FIELDS = _answered("User")
ARTWORK_FIELDS = _answered("Artwork")
# An image's URL with each spelling of its arguments, each under its own response key (fields of
# one key must ask the same), and its variants.
URL_FIELDS = (
    "url",
    "thumb: url(size: THUMBNAIL)",
    "medium: url(format: WEBP, size: MEDIUM)",
    "jpeg: url(size: DISPLAY, format: JPEG)",
    "url_1: url(size: DISPLAY)",
    "missing: url(size: THUMBNAIL, format: JPEG)",  # no such variant: null
)
MEDIA_FIELDS = _answered("MediaAsset")
VARIANT_FIELDS = (
    "size",
    "format",
    "contentType",
    "width",
    "height",
    "byteSize",
    "url",
    "__typename",
)
PAGE_INFO_FIELDS = (
    "hasNextPage",
    "hasPreviousPage",
    "startCursor",
    "endCursor",
    "__typename",
)

BENCH_QUERY = (
    "query HomeFeed($first: Int!, $after: String) {"
    " homeFeed(first: $first, after: $after) {"
    " edges { cursor node { id text createdAt likeCount commentCount viewerHasLiked"
    " author { id handle displayName isFollowedByViewer } artworks { id title } } }"
    " pageInfo { hasNextPage endCursor } } }"
)


@pytest.fixture
async def pair(clean_db: str) -> AsyncIterator[tuple[GraphQLClient, GraphQLClient]]:
    # one secret, so both sign the same image URLs
    secret = {"GESSO_SECRET_KEY": "compiled-and-regular-" * 3}
    async with (
        GraphQLClient.for_app(**secret) as compiled,
        GraphQLClient.for_app(GESSO_COMPILED_QUERIES="false", **secret) as regular,
    ):
        regular._tokens = compiled._tokens  # same database, same accounts
        yield compiled, regular


def plans_of(client: GraphQLClient) -> Any:
    return client.app.state.graphql.plans


async def _mutate(gql: GraphQLClient, query: str, variables: dict[str, Any], as_: str) -> Any:
    result = await gql.execute(query, variables, as_=as_)
    payload = next(iter(result.data.values()))
    assert not payload.get("errors"), payload
    return payload


async def _artwork(gql: GraphQLClient, as_: str, **fields: Any) -> str:
    made = await _mutate(
        gql,
        "mutation($i: CreateArtworkInput!) { createArtwork(input: $i) { artwork { id } errors"
        " { code } } }",
        {"i": fields},
        as_,
    )
    return str(made["artwork"]["id"])


async def _post(gql: GraphQLClient, as_: str, **fields: Any) -> str:
    made = await _mutate(
        gql,
        "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }",
        {"i": fields},
        as_,
    )
    return str(made["post"]["id"])


async def seed(gql: GraphQLClient) -> None:
    """A reader following ana and ben (not cyd); every visibility of posts and of attached
    artworks, policies set on the artist and on artworks, likes, a reply, links and a bio."""
    ids = {handle: await gql.sign_up(handle) for handle in ("reader", "ana", "ben", "cyd")}
    for followee in ("ana", "ben"):
        await _mutate(
            gql,
            "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
            {"u": ids[followee]},
            "reader",
        )
    await _mutate(
        gql,
        "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { errors { code } } }",
        {
            "i": {
                "bio": "paints \u00e0 l'huile",
                "links": ["https://ana.example", "https://ana.example/shop"],
                "openForCommissions": True,
                "aiTrainingPolicy": "ALLOWED",
            }
        },
        "ana",
    )
    public = await _artwork(gql, "ana", title="Harbour", tags=["oil", "sea"], medium="oil")
    followers = await _artwork(
        gql, "ana", title="Sketch", visibility="FOLLOWERS", aiTrainingPolicy="DISALLOWED"
    )
    private = await _artwork(gql, "ana", title="Draft", visibility="PRIVATE", description="wip")
    first = await _post(gql, "ana", text="new work #oil", artworkIds=[public, followers, private])
    # a public post tagged only through its followers-only artwork: tagFeed shows it to those
    # who may see the artwork
    study = await _artwork(gql, "ana", title="Study", visibility="FOLLOWERS", tags=["oil"])
    await _post(gql, "ana", text="a study", artworkIds=[study])
    await _post(gql, "ana", text="for followers", visibility="FOLLOWERS", artworkIds=[followers])
    await _post(gql, "ana", text="note to self", visibility="PRIVATE", artworkIds=[private])
    await _post(gql, "ana", text="a reply", replyTo=first)
    ben_art = await _artwork(gql, "ben", title="Ink", visibility="FOLLOWERS")
    for n in range(4):
        post = await _post(gql, "ben", text=f"ben {n}", artworkIds=[ben_art] if n % 2 else [])
        if n % 2 == 0:
            await _mutate(
                gql,
                "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }",
                {"p": post},
                "reader",
            )
    await _post(gql, "cyd", text="hello from cyd")
    await _post(gql, "cyd", text="cyd followers only", visibility="FOLLOWERS")
    mine = await _artwork(gql, "reader", title="Mine", visibility="PRIVATE")
    await _post(gql, "reader", text="my own", visibility="PRIVATE", artworkIds=[mine])
    await _mutate(
        gql,
        "mutation($a: ID!) { likeArtwork(artworkId: $a) { errors { code } } }",
        {"a": public},
        "reader",
    )
    # images: on artworks (policies of their own and the artist's), on posts, and avatars (the
    # newest of an account's avatar rows is the current one; cyd has none)
    users = {handle: decode_id(gid, "id", "User") for handle, gid in ids.items()}
    await _image(users["ana"], artwork=decode_id(public, "id", "Artwork"), position=1)
    await _image(users["ana"], artwork=decode_id(public, "id", "Artwork"), position=0)
    await _image(users["ana"], artwork=decode_id(followers, "id", "Artwork"), jpeg=False)
    await _image(users["ben"], artwork=decode_id(ben_art, "id", "Artwork"))
    await _image(users["ana"], post=decode_id(first, "id", "Post"))
    await _image(users["ana"], post=decode_id(first, "id", "Post"), jpeg=False)
    for handle in ("ana", "ana", "ben", "reader"):
        await _image(users[handle], avatar=True)


_images_made = [0]


async def _image(
    owner: int,
    *,
    artwork: int | None = None,
    post: int | None = None,
    avatar: bool = False,
    position: int = 0,
    jpeg: bool = True,
) -> None:
    """A media row as the pipeline stores it (its objects are not needed to sign URLs)."""
    _images_made[0] += 1
    n = _images_made[0]
    formats = ("webp", "jpeg") if jpeg else ("webp",)
    kind = "avatar" if avatar else "artwork" if artwork else "post"
    await models.MediaAsset.create(
        owner_id=owner,
        artwork_id=artwork,
        post_id=post,
        kind=kind,
        position=position,
        watermark_id=10_000 + n,
        width=800 + n,
        height=600,
        alt_text=f"image {n}",
        dominant_color=f"#{n:06x}",
        variants=[
            {
                "size": size,
                "format": image_format,
                "content_type": f"image/{image_format}",
                "width": width,
                "height": width * 3 // 4,
                "byte_size": 1000 * n + width,
                "key": f"m/{n}-{size}.{image_format}",
            }
            for size, width in (("display", 800), ("medium", 400), ("thumbnail", 120))
            for image_format in formats
        ],
    )


def random_document(rng: random.Random) -> str:
    """A feed query with a random selection, aliases, fragments and ``__typename``."""
    fragments: list[str] = []

    def pick(fields: Sequence[str], low: int = 1) -> list[str]:
        return rng.sample(fields, rng.randint(low, min(len(fields), 6)))

    def alias(name: str) -> str:
        return f"{name}_{rng.randint(0, 9)}: {name}" if rng.random() < 0.2 else name

    def wrap(type_name: str, body: str) -> str:
        roll = rng.random()
        if roll < 0.15:
            name = f"F{len(fragments)}"
            fragments.append(f"fragment {name} on {type_name} {{ {body} }}")
            return f"...{name}"
        if roll < 0.25:
            return f"... on {type_name} {{ {body} }}"
        if roll < 0.3 and type_name not in ("PageInfo", "MediaVariant"):
            return f"... on Node {{ id }} {body}"
        return body

    def image() -> str:
        fields = [alias(f) for f in pick(MEDIA_FIELDS)] + pick(URL_FIELDS, 0)
        if rng.random() < 0.3:
            fields.append(f"{alias('variants')} {{ {' '.join(pick(VARIANT_FIELDS))} }}")
        rng.shuffle(fields)
        return wrap("MediaAsset", " ".join(fields))

    def user() -> str:
        fields = [alias(f) for f in pick(USER_FIELDS)]
        if rng.random() < 0.4:
            fields.append(f"{alias('avatar')} {{ {image()} }}")
        return wrap("User", " ".join(fields))

    def artwork() -> str:
        fields = [alias(f) for f in pick(ARTWORK_FIELDS)]
        if rng.random() < 0.3:
            fields.append(f"owner {{ {user()} }}")
        if rng.random() < 0.4:
            fields.append(f"{alias('images')} {{ {image()} }}")
        return wrap("Artwork", " ".join(fields))

    def post() -> str:
        fields = [alias(f) for f in pick(POST_FIELDS)]
        if rng.random() < 0.6:
            fields.append(f"{alias('author')} {{ {user()} }}")
        if rng.random() < 0.5:
            fields.append(f"artworks {{ {artwork()} }}")
        if rng.random() < 0.4:
            fields.append(f"{alias('images')} {{ {image()} }}")
        rng.shuffle(fields)
        return wrap("Post", " ".join(fields))

    parts = []
    if rng.random() < 0.8:
        edge = ["cursor"] if rng.random() < 0.7 else []
        edge.append(f"node {{ {post()} }}")
        if rng.random() < 0.2:
            edge.append("__typename")
        parts.append(f"edges {{ {' '.join(edge)} }}")
    if rng.random() < 0.3 or not parts:
        parts.append(f"nodes {{ {post()} }}")
    if rng.random() < 0.8:
        parts.append(f"pageInfo {{ {' '.join(pick(PAGE_INFO_FIELDS))} }}")
    if rng.random() < 0.2:
        parts.append("__typename")
    root = rng.choice(["homeFeed", "discoverFeed", "tagFeed"])
    head = "query Feed($first: Int, $after: String)"
    tag = ""
    if root == "tagFeed":
        tag = rng.choice(['tag: "oil", ', 'tag: "#OIL", ', "tag: $tag, "])
        if "$tag" in tag:
            head = "query Feed($first: Int, $after: String, $tag: String!)"
    root_alias = "feed: " if rng.random() < 0.2 else ""
    typename = " __typename" if rng.random() < 0.1 else ""
    body = f"{root_alias}{root}({tag}first: $first, after: $after) {{ {' '.join(parts)} }}"
    return f"{head} {{ {body}{typename} }} {' '.join(fragments)}"


async def _same(
    compiled: GraphQLClient,
    regular: GraphQLClient,
    query: str,
    variables: dict[str, Any],
    as_: str | None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Send ``query`` to both apps; the answers must be identical. Returns the answer."""
    answers = []
    for client in (compiled, compiled, regular):
        extra = dict(headers or {})
        if as_ is not None:
            extra["Authorization"] = f"Bearer {client.token_of(as_)}"
        result = await client.execute(query, variables, headers=extra)
        answers.append((result.status, list(result.body.items())))
    for answer in answers[:2]:
        assert answer == answers[2], _diff(answer, answers[2], query, variables, as_)
    return dict(answers[2][1])


def _diff(got: Any, expected: Any, *about: Any) -> str:
    got_lines, expected_lines = (json.dumps(x, indent=1).splitlines() for x in (got, expected))
    diff = difflib.unified_diff(got_lines, expected_lines, lineterm="", n=2)
    return "\n".join([repr(about), *diff])


async def _cursors(regular: GraphQLClient, root: str, as_: str | None) -> list[str]:
    tag = 'tag: "oil", ' if root == "tagFeed" else ""
    query = f"{{ {root}({tag}first: 100) {{ edges {{ cursor }} }} }}"
    result = await regular.execute(query, as_=as_)
    return [edge["cursor"] for edge in result.data[root]["edges"]]


async def test_random_documents_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],
) -> None:
    compiled, regular = pair
    await seed(compiled)
    rng = random.Random(20261128)
    expected_served = 0
    for _ in range(40):
        query = random_document(rng)
        assert compile_plan(query, None) is not None, query
        root = next(r for r in ("homeFeed", "discoverFeed", "tagFeed") if f"{r}(" in query)
        learned = False
        for as_ in ("reader", "ana", None):
            cursors = await _cursors(regular, root, as_) if (as_ or root != "homeFeed") else []
            variable_sets: list[dict[str, Any]] = [{}, {"first": 3}]
            if cursors:
                variable_sets.append({"first": 2, "after": cursors[len(cursors) // 2]})
            if "$tag:" in query:
                variable_sets = [{**v, "tag": "oil"} for v in variable_sets]
            for variables in variable_sets:
                answer = await _same(compiled, regular, query, variables, as_)
                if "errors" not in answer:
                    # two requests to the compiled app; the very first one teaches it the plan
                    expected_served += 1 if not learned else 2
                    learned = True
    assert plans_of(compiled).served == expected_served


@pytest.mark.parametrize(
    ("variables", "as_", "fails"),
    [
        ({"first": 20}, "reader", False),
        ({"first": 100}, "ana", False),
        ({"first": 0}, "reader", False),
        ({"first": 2.0}, "reader", False),  # coerces to 2 (the regular path answers)
        ({"first": 101}, "reader", True),  # over the cap
        ({"first": -1}, "reader", True),
        ({"first": "20"}, "reader", True),  # does not coerce
        ({"first": 2**31}, "reader", True),  # not a GraphQL Int
        ({"first": None}, "reader", True),  # $first is Int!
        ({}, "reader", True),  # $first is Int!: missing
        ({"first": 5, "after": "bm90IGEgY3Vyc29y"}, "reader", True),  # not our cursor
        ({"first": 5, "after": 12}, "reader", True),
        ({"first": 20}, None, True),  # anonymous home feed
    ],
)
async def test_edge_inputs_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],
    variables: dict[str, Any],
    as_: str | None,
    fails: bool,
) -> None:
    compiled, regular = pair
    await seed(compiled)
    await _same(compiled, regular, BENCH_QUERY, {"first": 3}, "reader")  # compiled from here on
    body = await _same(compiled, regular, BENCH_QUERY, variables, as_)
    assert ("errors" in body) == fails, body


async def test_graphql_response_media_type_is_kept(
    pair: tuple[GraphQLClient, GraphQLClient],
) -> None:
    compiled, _regular = pair
    await seed(compiled)
    accept = {"Accept": "application/graphql-response+json"}
    for _ in range(2):
        result = await compiled.http.post(
            "/graphql",
            json={"query": BENCH_QUERY, "variables": {"first": 2}},
            headers={**accept, "Authorization": f"Bearer {compiled.token_of('reader')}"},
        )
        assert result.status_code == 200
        assert result.headers["content-type"] == "application/graphql-response+json"
    assert plans_of(compiled).served == 1


FIXED = [
    # fragments spread twice, merged fields, literal arguments, a root alias
    """query { a: discoverFeed(first: 4) { edges { node { ...P } } edges { node { id ...P }
       cursor } pageInfo { endCursor } } }
       fragment P on Post { text author { handle } author { displayName } }""",
    # inline fragments on the interface and on the type, nested fragments
    """{ homeFeed { nodes { ... on Node { id } ... on Post { ...Q } } } }
       fragment Q on Post { artworks { ...A } } fragment A on Artwork { title owner { id } }""",
    # defaults on the variables
    """query($first: Int = 2, $after: String = null) { homeFeed(first: $first, after: $after) {
       edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }""",
]


@pytest.mark.parametrize("query", FIXED)
async def test_fixed_documents_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient], query: str
) -> None:
    compiled, regular = pair
    await seed(compiled)
    for as_ in ("reader", "ben"):
        await _same(compiled, regular, query, {}, as_)
    assert plans_of(compiled).served == 3  # four requests, the first teaches the plan


NOT_COMPILED = [
    "{ homeFeed { edges { node { id images { protection { ssim } } } } } }",  # reaches further
    # an image size given by a variable (the regular path coerces it)
    "query($s: MediaSize!) { homeFeed { edges { node { images { url(size: $s) } } } } }",
    "{ homeFeed { edges { node { replyTo { id } } } } }",
    "{ homeFeed { edges { node { author { posts { edges { cursor } } } } } } }",
    "query($s: Boolean!) { homeFeed { edges { cursor @include(if: $s) } } }",  # directive
    "{ homeFeed { edges { cursor } } discoverFeed { edges { cursor } } }",  # two feeds
    # a tag given by a variable of another type than the argument's
    "query($t: ID!) { tagFeed(tag: $t) { edges { cursor } } }",
    "{ viewer { handle } homeFeed { edges { cursor } } }",
    "query($x: ID) { homeFeed { edges { cursor } } }",  # a variable the feed does not use
    "mutation { logOut { errors { code } } }",
    "{ homeFeed { edges { node { author { email } } } } }",
]


@pytest.mark.parametrize("query", NOT_COMPILED)
def test_documents_a_plan_does_not_cover(query: str) -> None:
    assert compile_plan(query, None) is None


async def test_compiled_page_statement_count_is_constant(gql: GraphQLClient) -> None:
    # given the seeded graph, and the full page document compiled by a first run
    await seed(gql)
    query = BENCH_QUERY.replace("artworks { id title }", "artworks { id title aiTrainingPolicy }")
    await gql.execute(query, {"first": 1}, as_="reader")
    counts = {}
    for first in (1, 5, 20):
        with QueryCounter.capture() as counter:
            result = await gql.execute(query, {"first": first}, as_="reader")
        assert result.data["homeFeed"]["edges"]
        counts[first] = len(counter.statements)
    # then a page costs the token and one statement (authors, likes, follows and attached
    # artworks joined in; the artworks' owners are the authors, already read)
    assert counts == dict.fromkeys(counts, 2), counter.statements
    assert plans_of(gql).served == 3


async def test_an_artwork_of_someone_else_answers_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],
) -> None:
    # given a post carrying another artist's followers-only artwork (the API attaches only one's
    # own; older data or an admin tool might not), so its owner is not among the page's authors
    compiled, regular = pair
    await seed(compiled)
    ana = await models.User.get(handle="ana")
    cyd = await models.User.get(handle="cyd")
    post = await models.Post.filter(author_id=ana.id, text="a reply").get()
    for visibility in (models.Visibility.FOLLOWERS, models.Visibility.PUBLIC):
        artwork = await models.Artwork.create(
            owner_id=cyd.id, title=f"cyd {visibility.value}", visibility=visibility
        )
        await models.PostArtwork.create(post_id=post.id, artwork_id=artwork.id, position=5)
    query = (
        "{ homeFeed { edges { node { text artworks { title aiTrainingPolicy"
        " owner { handle isFollowedByViewer aiTrainingPolicy } } } } } }"
    )
    # when a follower of ana reads the page, first not following cyd, then following cyd
    seen = []
    for follows_cyd in (False, True):
        if follows_cyd:
            await _mutate(
                compiled,
                "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
                {"u": global_id("User", cyd.id)},
                "reader",
            )
        body = await _same(compiled, regular, query, {}, "reader")
        seen.append(
            {
                artwork["title"]
                for edge in body["data"]["homeFeed"]["edges"]
                for artwork in edge["node"]["artworks"]
                if artwork["title"].startswith("cyd")
            }
        )
    # then both paths agree: the followers-only artwork shows once the reader follows its owner
    assert seen == [{"cyd public"}, {"cyd public", "cyd followers"}]
    assert plans_of(compiled).served == 3


async def _hidden_replies(gql: GraphQLClient) -> None:
    """Replies of every visibility to ana's first post: by ben (whom the reader follows), by
    cyd (whom the reader does not follow) and by the reader."""
    ana = await models.User.get(handle="ana")
    first = await models.Post.filter(author_id=ana.id, text="new work #oil").get()
    replied_to = global_id("Post", first.id)
    for author in ("ben", "cyd", "reader"):
        for visibility in ("PUBLIC", "FOLLOWERS", "PRIVATE"):
            await _post(gql, author, text="re", replyTo=replied_to, visibility=visibility)


async def test_reply_counts_answer_the_same(pair: tuple[GraphQLClient, GraphQLClient]) -> None:
    # given posts with replies a viewer may or may not see
    compiled, regular = pair
    await seed(compiled)
    await _hidden_replies(compiled)
    rng = random.Random(20261205)
    documents = [
        "query($first: Int) { homeFeed(first: $first) { nodes { text replyCount } } }",
        "query($first: Int) { discoverFeed(first: $first) { edges { node { replyCount } } } }",
    ]
    while len(documents) < 8:
        query = random_document(rng)
        if "replyCount" in query and "$tag:" not in query:
            documents.append(query)
    # then both paths count the same replies for each viewer
    counts: dict[str | None, set[int]] = {}
    for query in documents:
        for as_ in ("reader", "ana", "cyd", None):
            if as_ is None and "homeFeed(" in query:
                continue
            body = await _same(compiled, regular, query, {"first": 30}, as_)
            page = next(iter(body["data"].values()))
            nodes = page.get("nodes") or [edge["node"] for edge in page.get("edges", [])]
            if query in documents[:2]:
                counts.setdefault(as_, set()).update(n["replyCount"] for n in nodes)
    # and they differ by viewer: 4 public (ana's seeded reply, ben's, cyd's, the reader's), and
    # the viewer's own hidden 2, and for the reader ben's followers-only one
    assert max(counts["reader"]) == 7
    assert max(counts["ana"]) == 4
    assert max(counts["cyd"]) == 6
    assert max(counts[None]) == 4


async def test_hidden_replies_cost_one_statement_per_page(gql: GraphQLClient) -> None:
    # given a compiled feed page whose posts have replies the reader may not all see
    await seed(gql)
    await _hidden_replies(gql)
    query = "query($first: Int) { homeFeed(first: $first) { nodes { text replyCount } } }"
    await gql.execute(query, {"first": 1}, as_="reader")
    counts = {}
    for first in (1, 20, 30):
        with QueryCounter.capture() as counter:
            result = await gql.execute(query, {"first": first}, as_="reader")
        texts = [n["text"] for n in result.data["homeFeed"]["nodes"]]
        counts[first] = (len(counter.statements), "new work #oil" in texts)
    # then a page without such posts costs the token and the page; with them, one more
    assert counts == {1: (2, False), 20: (3, True), 30: (3, True)}, counter.statements


def _reference(name: str) -> str:
    """An operation of the reference client, as it sends it (with the fragments it spreads)."""
    from pathlib import Path

    from server.persisted import client_operations

    files = sorted(
        (Path(__file__).resolve().parents[2] / "client" / "operations").glob("*.graphql")
    )
    return next(op.text for op in client_operations(files) if op.name == name)


@pytest.mark.parametrize("name", ["HomeFeed", "Discover", "TagFeed"])
async def test_the_reference_card_pages_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient], name: str
) -> None:
    # given the reference client's card (avatar, the post's images, its artworks' images,
    # likes): a plan covers it
    compiled, regular = pair
    await seed(compiled)
    query = _reference(name)
    assert compile_plan(query, name) is not None
    # then every page of it answers what the regular path answers, for each viewer
    root = {"HomeFeed": "homeFeed", "Discover": "discoverFeed", "TagFeed": "tagFeed"}[name]
    shown: list[str] = []  # the image URLs the pages showed
    asked = 0
    for as_ in ("reader", "ana", "cyd"):
        cursors = await _cursors(regular, root, as_)
        pages: list[dict[str, Any]] = [{}, {"first": 2}]
        if len(cursors) > 1:
            pages.append({"first": 2, "after": cursors[1]})
        for variables in pages:
            asked += 1
            if name == "TagFeed":
                variables = {**variables, "tag": "oil"}
            body = await _same(compiled, regular, query, variables, as_)
            assert "errors" not in body, body
            for edge in body["data"][root]["edges"]:
                card = edge["node"]
                avatar = card["author"]["avatar"]
                shown += [avatar["url"]] if avatar else []
                shown += [i["url"] for i in card["images"]]
                shown += [i["url"] for a in card["artworks"] for i in a["images"]]
    assert plans_of(compiled).served == asked * 2 - 1
    # and the pages did show images: a post's, an artwork's and avatars
    assert any("/media/m/" in url for url in shown), shown


async def test_the_reference_card_page_costs_a_statement_per_kind(gql: GraphQLClient) -> None:
    # given the seeded graph and the home feed's card document, compiled by a first run
    await seed(gql)
    query = _reference("HomeFeed")
    await gql.execute(query, {"first": 1}, as_="reader")
    counts = {}
    for first in (1, 5, 20):
        with QueryCounter.capture() as counter:
            result = await gql.execute(query, {"first": first}, as_="reader")
        assert result.data["homeFeed"]["edges"]
        counts[first] = len(counter.statements)
    # then a page costs the token, the page, one statement for all its images (the posts', the
    # artworks' and the avatars') and one for the viewer's artwork likes; whatever its size
    assert counts == dict.fromkeys(counts, 4), counter.statements
    assert plans_of(gql).served == 3


@pytest.mark.parametrize(
    ("tag", "fails"),
    [("oil", False), ("#Oil", False), (" oil ", False), ("no such", True), ("", True), (7, True)],
)
async def test_tag_inputs_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient], tag: Any, fails: bool
) -> None:
    # given a tag page compiled by a first run
    compiled, regular = pair
    await seed(compiled)
    query = (
        "query($t: String!, $n: Int) { tagFeed(tag: $t, first: $n) { edges { node { text"
        " artworks { title tags } } } } }"
    )
    await _same(compiled, regular, query, {"t": "oil"}, "reader")
    # then a tag the regular path normalizes or refuses answers the same from the plan
    for as_ in ("reader", None):
        body = await _same(compiled, regular, query, {"t": tag, "n": 5}, as_)
        assert ("errors" in body) == fails, body


async def test_sensitive_and_unready_images_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],
) -> None:
    # given ana's public post with a sensitive image and an image still being protected, and
    # reader (who follows ana) with the sensitive setting off
    compiled, regular = pair
    await seed(compiled)
    ana = await models.User.get(handle="ana")
    post = await models.Post.filter(author_id=ana.id, visibility="public").first()
    assert post is not None
    before = await models.MediaAsset.filter(post_id=post.id).count()
    await _image(ana.id, post=post.id, position=10)
    await _image(ana.id, post=post.id, position=11)
    sensitive, processing = await models.MediaAsset.filter(post_id=post.id).order_by("-id").limit(2)
    await models.MediaAsset.filter(id=sensitive.id).update(sensitive=True)
    await models.MediaAsset.filter(id=processing.id).update(status=models.MediaStatus.PROCESSING)
    query = _reference("HomeFeed")

    def card_images(body: dict[str, Any]) -> list[dict[str, Any]]:
        for edge in body["data"]["homeFeed"]["edges"]:
            if edge["node"]["id"] == global_id("Post", post.id):
                return list(edge["node"]["images"])
        raise AssertionError(f"the post is not on the page: {body}")

    served = plans_of(compiled).served
    # then the plan answers what the regular path answers: the unready image is not shown,
    # the sensitive one without its URL for reader and with it for its artist
    for as_, url_shown in (("reader", False), ("ana", True)):
        images = card_images(await _same(compiled, regular, query, {"first": 50}, as_))
        assert len(images) == before + 1
        (last,) = [i for i in images if i["id"] == global_id("MediaAsset", sensitive.id)]
        assert (last["url"] is not None) is url_shown
    # and once reader turns the setting on, the URL is theirs too
    await _mutate(
        compiled,
        "mutation { updateSettings(input: {showSensitive: true}) { errors { code } } }",
        {},
        "reader",
    )
    images = card_images(await _same(compiled, regular, query, {"first": 50}, "reader"))
    (last,) = [i for i in images if i["id"] == global_id("MediaAsset", sensitive.id)]
    assert last["url"] is not None
    assert plans_of(compiled).served == served + 3 * 2 - 1  # the first request compiles


SEARCHES = {
    "SearchPosts": ("ben", "oil", "followers", "cyd or study", "zebra", "x" * 201, ""),
    "SearchUsers": ("ana", "@cyd", "be", "reader", "anna", "zzzzzz", "x" * 201, "   "),
    "SearchArtworks": ("oil", "harbour or study or ink", "mine", "draft or wip", "zebra", ""),
}


@pytest.mark.parametrize("name", sorted(SEARCHES))
async def test_the_reference_searches_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient], name: str
) -> None:
    # given the seeded graph and a search of the reference client: a plan covers it
    compiled, regular = pair
    await seed(compiled)
    query = _reference(name)
    assert compile_plan(query, name) is not None
    # then every page of it answers what the regular path answers, for each viewer, and so do
    # the queries the regular path refuses or finds nothing for
    asked, found = 0, 0
    for as_ in (None, "reader", "ana", "cyd"):
        for text in SEARCHES[name]:
            pages: list[dict[str, Any]] = [{"query": text}, {"query": text, "first": 2}]
            first = await regular.execute(query, {"query": text, "first": 2}, as_=as_)
            connection = (first.body.get("data") or {}).get("search") or {}
            if (connection.get("pageInfo") or {}).get("hasNextPage"):
                after = connection["pageInfo"]["endCursor"]
                pages.append({"query": text, "first": 2, "after": after})
            pages.append({"query": text, "after": "cG9zdDox"})  # not a search cursor
            for variables in pages:
                asked += 1
                body = await _same(compiled, regular, query, variables, as_)
                found += len(((body.get("data") or {}).get("search") or {}).get("edges", []))
    assert found > 20
    assert plans_of(compiled).served > asked


@pytest.mark.parametrize(
    ("name", "text", "follows"), [("SearchUsers", "ana", True), ("SearchArtworks", "oil", False)]
)
async def test_a_search_page_reads_its_people_and_the_viewers_follows_at_once(
    gql: GraphQLClient, name: str, text: str, follows: bool
) -> None:
    # given a search of the reference client, compiled by a first run
    await seed(gql)
    query = _reference(name)
    await gql.execute(query, {"query": text}, as_="reader")
    with QueryCounter.capture() as counter:
        result = await gql.execute(query, {"query": text}, as_="reader")
    assert result.data["search"]["edges"]
    # then whether the viewer follows each person (when the document asks) comes with the
    # people, not in a statement of its own
    people = [sql for sql in counter.statements if "FROM users WHERE id = ANY" in sql]
    assert len(people) == 1, counter.statements
    assert ("viewer_follows" in people[0]) is follows
    assert not [sql for sql in counter.statements if sql.startswith("SELECT followee_id")]
