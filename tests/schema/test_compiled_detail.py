"""Compiled plans of one post or artwork by id (schema.plan_detail) answer exactly what the regular
GraphQL execution answers: the reference client's post and artwork pages, and documents written
otherwise (other field orders, aliases, fragments, subsets), for every kind of viewer.

As in ``test_compiled``: two apps share one database, one with compiled plans and one without;
every request goes twice to the first (the first run teaches the plan) and once to the second,
and the answers must be identical.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from schema.plan_detail import DetailPlan
from schema.planner import compile_plan
from storage import models
from tests.graphql import GraphQLClient, QueryCounter, global_id
from tests.schema.test_compiled import (
    ARTWORK_FIELDS,
    MEDIA_FIELDS,
    PAGE_INFO_FIELDS,
    POST_FIELDS,
    URL_FIELDS,
    USER_FIELDS,
    VARIANT_FIELDS,
    _hidden_replies,
    _image,
    _mutate,
    _post,
    _reference,
    _same,
    pair,  # noqa: F401 (a fixture)
    plans_of,
    seed,
)
from tests.security.conftest import PRODUCTION

COMMENT_FIELDS = ["id", "text", "createdAt", "__typename"]
VIEWERS = ("reader", "ana", "ben", "cyd", None)
ADD_COMMENT = (
    "mutation($s: ID!, $t: String!) { addComment(input: {subjectId: $s, text: $t})"
    " { comment { id } errors { code } } }"
)
OMIT = object()  # a variable left out
BLOCK = "mutation($u: ID!) { blockUser(userId: $u) { errors { code } } }"


async def seed_detail(gql: GraphQLClient) -> None:
    """``test_compiled.seed``, replies of every visibility to ana's first post, and comments by
    everyone on each of ana's posts and artworks."""
    await seed(gql)
    await _hidden_replies(gql)
    ana = await models.User.get(handle="ana")
    subjects = [global_id("Post", p.id) for p in await models.Post.filter(author_id=ana.id)]
    subjects += [global_id("Artwork", a.id) for a in await models.Artwork.filter(owner_id=ana.id)]
    for subject in subjects:
        for n, author in enumerate(("reader", "ben", "cyd", "ana", "reader")):
            result = await gql.execute(ADD_COMMENT, {"s": subject, "t": f"c{n}"}, as_=author)
            payload = result.data["addComment"]
            # a work the commenter may not see refuses the comment
            assert payload["errors"] in ([], [{"code": "NOT_FOUND"}]), payload


async def _subjects(type_name: str) -> list[str]:
    model = models.Post if type_name == "Post" else models.Artwork
    return [global_id(type_name, row.id) for row in await model.all().order_by("id")]


async def _comment_cursors(regular: GraphQLClient, root: str, subject: str) -> list[str]:
    query = f"query($id: ID!) {{ {root}(id: $id) {{ comments {{ edges {{ cursor }} }} }} }}"
    result = await regular.execute(query, {"id": subject}, as_="ana")
    found = result.data[root]
    return [] if found is None else [e["cursor"] for e in found["comments"]["edges"]]


@pytest.mark.parametrize("name", ["PostPage", "ArtworkPage"])
async def test_the_reference_detail_pages_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],  # noqa: F811
    name: str,
) -> None:
    # given the reference client's post or artwork page, and works of every visibility with
    # replies, images and comments
    compiled, regular = pair
    await seed_detail(compiled)
    query = _reference(name)
    assert isinstance(compile_plan(query, name), DetailPlan)
    root, type_name = ("post", "Post") if name == "PostPage" else ("artwork", "Artwork")
    # then every work, for every viewer, first page of comments and a later one, answers the same
    asked, shown, comments = 0, 0, 0
    for subject in await _subjects(type_name):
        cursors = await _comment_cursors(regular, root, subject)
        pages: list[dict[str, Any]] = [{}, {"commentsFirst": 2}]
        if len(cursors) > 1:
            pages.append({"commentsFirst": 2, "commentsAfter": cursors[1]})
        for as_ in VIEWERS:
            for page in pages:
                asked += 1
                body = await _same(compiled, regular, query, {"id": subject, **page}, as_)
                assert "errors" not in body, body
                found = body["data"][root]
                shown += found is not None
                comments += len(found["comments"]["edges"]) if found else 0
    assert plans_of(compiled).served == asked * 2 - 1
    # and the viewers saw some of the works and not others, with comments
    assert 0 < shown < asked
    assert comments > 0


async def test_a_reply_shows_the_post_it_replies_to_as_the_viewer_may_see_it(
    pair: tuple[GraphQLClient, GraphQLClient],  # noqa: F811
) -> None:
    # given replies to posts of every visibility
    compiled, regular = pair
    await seed(compiled)
    ana = await models.User.get(handle="ana")
    targets = await models.Post.filter(author_id=ana.id).order_by("id")
    replies = [
        await _post(compiled, "ben", text="re", replyTo=global_id("Post", target.id))
        for target in targets
        if target.visibility == models.Visibility.PUBLIC
    ]
    for target in targets:  # ana answers her own hidden posts too
        replies.append(
            await _post(compiled, "ana", text="me", replyTo=global_id("Post", target.id))
        )
    query = _reference("PostPage")
    # then the plan answers what the regular path answers: replyTo null where it is hidden
    seen: set[bool] = set()
    for reply in replies:
        for as_ in VIEWERS:
            body = await _same(compiled, regular, query, {"id": reply}, as_)
            post = body["data"]["post"]
            if post is not None:
                seen.add(post["replyTo"] is None)
    assert seen == {True, False}


def random_detail(rng: random.Random, root: str) -> str:
    """A post or artwork page with a random selection, order, aliases and fragments."""
    fragments: list[str] = []

    def pick(fields: Sequence[str], low: int = 1) -> list[str]:
        return rng.sample(fields, rng.randint(low, min(len(fields), 6)))

    def alias(name: str) -> str:
        return f"{name}_{rng.randint(0, 9)}: {name}" if rng.random() < 0.2 else name

    def wrap(type_name: str, body: str) -> str:
        roll = rng.random()
        if roll < 0.2:
            name = f"F{len(fragments)}"
            fragments.append(f"fragment {name} on {type_name} {{ {body} }}")
            return f"...{name}"
        if roll < 0.3:
            return f"... on {type_name} {{ {body} }}"
        if roll < 0.35 and type_name not in ("PageInfo", "MediaVariant"):
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

    def artwork(top: bool = False) -> str:
        fields = [alias(f) for f in pick([f for f in ARTWORK_FIELDS if f != "comments"])]
        if rng.random() < 0.5:
            fields.append(f"owner {{ {user()} }}")
        if rng.random() < 0.5:
            fields.append(f"{alias('images')} {{ {image()} }}")
        if top and rng.random() < 0.7:
            fields.append(comments())
        rng.shuffle(fields)
        return wrap("Artwork", " ".join(fields))

    def post(top: bool = False) -> str:
        plain = [f for f in POST_FIELDS if f not in ("comments", "replyTo")]
        fields = [alias(f) for f in pick(plain)]
        if rng.random() < 0.6:
            fields.append(f"{alias('author')} {{ {user()} }}")
        if rng.random() < 0.5:
            fields.append(f"artworks {{ {artwork()} }}")
        if rng.random() < 0.4:
            fields.append(f"{alias('images')} {{ {image()} }}")
        if top and rng.random() < 0.6:
            fields.append(f"{alias('replyTo')} {{ {post()} }}")
        if top and rng.random() < 0.7:
            fields.append(comments())
        rng.shuffle(fields)
        return wrap("Post", " ".join(fields))

    def comment() -> str:
        fields = [alias(f) for f in pick(COMMENT_FIELDS)]
        if rng.random() < 0.7:
            fields.append(f"{alias('author')} {{ {user()} }}")
        rng.shuffle(fields)
        return wrap("Comment", " ".join(fields))

    def comments() -> str:
        parts = []
        if rng.random() < 0.8:
            edge = ["cursor"] if rng.random() < 0.7 else []
            edge.append(f"node {{ {comment()} }}")
            parts.append(f"edges {{ {' '.join(edge)} }}")
        if rng.random() < 0.3 or not parts:
            parts.append(f"nodes {{ {comment()} }}")
        if rng.random() < 0.7:
            parts.append(f"pageInfo {{ {' '.join(pick(PAGE_INFO_FIELDS))} }}")
        rng.shuffle(parts)
        arguments = rng.choice(["(first: $n, after: $a)", "(after: $a, first: $n)"])
        return f"{alias('comments')}{arguments} {{ {' '.join(parts)} }}"

    body = post(top=True) if root == "post" else artwork(top=True)
    paged = "$n" in body + " ".join(fragments)
    variables = "$id: ID!, $n: Int, $a: String" if paged else "$id: ID!"
    head = f"query Page({variables})"
    root_alias = "it: " if rng.random() < 0.2 else ""
    typename = " __typename" if rng.random() < 0.1 else ""
    return f"{head} {{ {root_alias}{root}(id: $id) {{ {body} }}{typename} }} {' '.join(fragments)}"


async def test_random_detail_documents_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],  # noqa: F811
) -> None:
    # given documents not in the repository: each its own order, aliases, fragments, subset
    compiled, regular = pair
    await seed_detail(compiled)
    posts, artworks = await _subjects("Post"), await _subjects("Artwork")
    rng = random.Random(20261205)
    expected_served = 0
    for n in range(24):
        root = "post" if n % 2 == 0 else "artwork"
        query = random_detail(rng, root)
        assert compile_plan(query, None) is not None, query
        learned = False
        subjects = rng.sample(posts if root == "post" else artworks, 3)
        for as_ in ("reader", "ana", None):
            for subject in subjects:
                variables: dict[str, Any] = {"id": subject}
                if "$n" in query:
                    variables.update(n=rng.choice([None, 0, 1, 3, 20]))
                answer = await _same(compiled, regular, query, variables, as_)
                assert "errors" not in answer, answer
                expected_served += 1 if not learned else 2
                learned = True
    # then every one took the plan, from its second request on
    assert plans_of(compiled).served == expected_served


@pytest.mark.parametrize(
    ("name", "variables", "fails"),
    [
        ("PostPage", {"id": "bm90IGFuIGlk"}, True),  # not a global id
        ("PostPage", {"id": 12}, True),  # a number: the regular path converts, then refuses
        ("PostPage", {"id": OMIT}, True),  # $id is ID!: missing
        ("PostPage", {"id": None}, True),
        ("PostPage", {"commentsFirst": 101}, True),
        ("PostPage", {"commentsFirst": -1}, True),
        ("PostPage", {"commentsFirst": "3"}, True),
        ("PostPage", {"commentsAfter": "bm90IGEgY3Vyc29y"}, True),  # not our cursor
        ("PostPage", {"commentsAfter": "cG9zdDox"}, True),  # a cursor of another list
        ("PostPage", {"commentsFirst": 0}, False),
        ("PostPage", {"commentsFirst": None}, False),
        ("ArtworkPage", {"id": "UG9zdDox"}, True),  # a Post's id
        ("ArtworkPage", {"id": "QXJ0d29yazo5OTk5OTk5"}, False),  # no such artwork: null
        ("ArtworkPage", {"commentsFirst": 101}, True),
        ("ArtworkPage", {"commentsFirst": 2.0}, False),  # coerces to 2 (the regular path)
    ],
)
async def test_edge_inputs_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],  # noqa: F811
    name: str,
    variables: dict[str, Any],
    fails: bool,
) -> None:
    # given a page compiled by a first run
    compiled, regular = pair
    await seed_detail(compiled)
    query = _reference(name)
    subject = (await _subjects("Post" if name == "PostPage" else "Artwork"))[0]
    await _same(compiled, regular, query, {"id": subject}, "reader")
    # then an input the regular path refuses or converts answers the same
    sent = {k: v for k, v in {"id": subject, **variables}.items() if v is not OMIT}
    body = await _same(compiled, regular, query, sent, "reader")
    assert ("errors" in body) == fails, body


async def test_a_page_over_the_cost_limit_answers_the_same(clean_db: str) -> None:
    # given production apps, and a document whose comments cost some 160 each: a page of one
    # is within the cost limit, a page of 100 is not
    authors = " ".join(
        f"a{n}: author {{ avatar {{ variants {{ url size }} url }} }}" for n in range(10)
    )
    query = (
        "query($id: ID!, $n: Int) { post(id: $id) { comments(first: $n) {"
        f" nodes {{ id {authors} }} }} }} }}"
    )
    async with (
        GraphQLClient.for_app(**PRODUCTION) as compiled,
        GraphQLClient.for_app(GESSO_COMPILED_QUERIES="false", **PRODUCTION) as regular,
    ):
        regular._tokens = compiled._tokens
        await seed_detail(compiled)
        subject = (await _subjects("Post"))[0]
        small = await _same(compiled, regular, query, {"id": subject, "n": 1}, "ana")
        assert "errors" not in small, small
        big = await _same(compiled, regular, query, {"id": subject, "n": 100}, "ana")
        # then the big page is refused, by the regular path, and the plan answered the small
        assert [e["extensions"]["code"] for e in big["errors"]] == ["QUERY_TOO_COSTLY"]
        assert plans_of(compiled).served == 1


async def test_blocks_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],  # noqa: F811
) -> None:
    # given comments by everyone on ana's works, and cyd who blocked ben
    compiled, regular = pair
    await seed_detail(compiled)
    ben = await models.User.get(handle="ben")
    await _mutate(compiled, BLOCK, {"u": global_id("User", ben.id)}, "cyd")
    # then for cyd, ben's comments are gone, for ben cyd's, and ben's own works read as
    # missing to cyd, on both paths alike
    authors: dict[str, set[str]] = {}
    for name, root in (("PostPage", "post"), ("ArtworkPage", "artwork")):
        query = _reference(name)
        for subject in await _subjects("Post" if root == "post" else "Artwork"):
            for as_ in ("cyd", "ben"):
                body = await _same(compiled, regular, query, {"id": subject}, as_)
                found = body["data"][root]
                if found is not None:
                    authors.setdefault(as_, set()).update(
                        e["node"]["author"]["handle"] for e in found["comments"]["edges"]
                    )
    assert "ben" not in authors["cyd"]
    assert "cyd" not in authors["ben"]
    ana = await models.User.get(handle="ana")
    ana_post = global_id("Post", (await models.Post.get(author_id=ana.id, text="new work #oil")).id)
    ben_post = await models.Post.filter(author_id=ben.id).first()
    assert ben_post is not None
    body = await _same(
        compiled, regular, _reference("PostPage"), {"id": global_id("Post", ben_post.id)}, "cyd"
    )
    assert body["data"]["post"] is None
    # and once ben is suspended, his comments are gone for everyone and his works read as
    # missing, on both paths alike
    await models.User.filter(id=ben.id).update(suspended_at=datetime.now(UTC))
    for viewer in ("reader", "ana", None):
        body = await _same(compiled, regular, _reference("PostPage"), {"id": ana_post}, viewer)
        handles = {e["node"]["author"]["handle"] for e in body["data"]["post"]["comments"]["edges"]}
        assert "ben" not in handles
        assert "reader" in handles
        body = await _same(
            compiled,
            regular,
            _reference("PostPage"),
            {"id": global_id("Post", ben_post.id)},
            viewer,
        )
        assert body["data"]["post"] is None


async def test_sensitive_and_unready_images_answer_the_same(
    pair: tuple[GraphQLClient, GraphQLClient],  # noqa: F811
) -> None:
    # given ana's public artwork with a sensitive image and one still being protected
    compiled, regular = pair
    await seed_detail(compiled)
    ana = await models.User.get(handle="ana")
    artwork = await models.Artwork.get(owner_id=ana.id, title="Harbour")
    await _image(ana.id, artwork=artwork.id, position=10)
    await _image(ana.id, artwork=artwork.id, position=11)
    sensitive, processing = (
        await models.MediaAsset.filter(artwork_id=artwork.id).order_by("-id").limit(2)
    )
    await models.MediaAsset.filter(id=sensitive.id).update(sensitive=True)
    await models.MediaAsset.filter(id=processing.id).update(status=models.MediaStatus.PROCESSING)
    query = _reference("ArtworkPage")
    variables = {"id": global_id("Artwork", artwork.id)}
    # then the unready image is not shown, the sensitive one without its URLs for reader and
    # with them for its artist, on both paths alike
    for as_, url_shown in (("reader", False), ("ana", True), (None, False)):
        body = await _same(compiled, regular, query, variables, as_)
        images = body["data"]["artwork"]["display"]
        ids = [i["id"] for i in images]
        assert global_id("MediaAsset", processing.id) not in ids
        (last,) = [i for i in images if i["id"] == global_id("MediaAsset", sensitive.id)]
        assert (last["url"] is not None) is url_shown
        assert bool(last["variants"]) is url_shown


@pytest.mark.parametrize("name", ["PostPage", "ArtworkPage"])
async def test_a_detail_page_costs_the_same_statements_whatever_its_size(
    gql: GraphQLClient, name: str
) -> None:
    # given the reference page, compiled by a first run
    await seed_detail(gql)
    query = _reference(name)
    ana = await models.User.get(handle="ana")
    if name == "PostPage":
        subject = global_id(
            "Post", (await models.Post.get(author_id=ana.id, text="new work #oil")).id
        )
    else:
        subject = global_id(
            "Artwork", (await models.Artwork.get(owner_id=ana.id, title="Harbour")).id
        )
    await gql.execute(query, {"id": subject}, as_="reader")
    counts = {}
    for first in (1, 3, 20):
        with QueryCounter.capture() as counter:
            result = await gql.execute(query, {"id": subject, "commentsFirst": first}, as_="reader")
        root = result.data["post" if name == "PostPage" else "artwork"]
        assert root["comments"]["edges"]
        counts[first] = len(counter.statements)
    # then a page of any size costs the same statements
    assert len(set(counts.values())) == 1, counts
    assert plans_of(gql).served == 3


DETAIL_NOT_COMPILED = [
    # a replyTo of a replyTo, comments of a post replied to, of an attached artwork
    'query { post(id: "UG9zdDox") { replyTo { replyTo { id } } } }',
    'query { post(id: "UG9zdDox") { replyTo { comments { nodes { id } } } } }',
    'query { post(id: "UG9zdDox") { artworks { comments { nodes { id } } } } }',
    # two roots; the comment's post; an id given as a number literal
    'query { post(id: "UG9zdDox") { id } artwork(id: "QXJ0d29yazox") { id } }',
    'query { post(id: "UG9zdDox") { comments { nodes { post { id } } } } }',
    "query { post(id: 1) { id } }",
    # two pages of comments
    'query { post(id: "UG9zdDox") { a: comments(first: 1) { nodes { id } }'
    " b: comments(first: 2) { nodes { id } } } }",
    # a variable the plan does not use
    'query($x: Int) { post(id: "UG9zdDox") { id } }',
]


@pytest.mark.parametrize("query", DETAIL_NOT_COMPILED)
def test_detail_documents_a_plan_does_not_cover(query: str) -> None:
    assert compile_plan(query, None) is None
