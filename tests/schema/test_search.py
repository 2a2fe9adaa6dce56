"""Search answers the same on SQLite (FTS5) and PostgreSQL (tsvector, pg_trgm): each test runs on
both backends against the same expected answers, which are written out by hand."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from resolvers import passwords
from resolvers.search import Item, TextScorer, parse, similarity
from tests.graphql import GraphQLClient

SEARCH = """query($q: String!, $k: SearchKind!, $first: Int, $after: String) {
  search(query: $q, kind: $k, first: $first, after: $after) {
    edges { cursor node { __typename ... on User { handle } ... on Artwork { title }
      ... on Post { text } } }
    pageInfo { hasNextPage endCursor } } }"""
SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { user { id } errors { code } } }"""
LOG_IN = """mutation($i: LogInInput!) { logIn(input: $i) { token errors { code } } }"""
PROFILE = """mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { errors { code } } }"""
POST = """mutation($i: CreatePostInput!) {
  createPost(input: $i) { post { id } errors { code } } }"""
ARTWORK = """mutation($i: CreateArtworkInput!) {
  createArtwork(input: $i) { artwork { id } errors { code } } }"""
UPDATE_ARTWORK = """mutation($id: ID!, $i: UpdateArtworkInput!) {
  updateArtwork(id: $id, input: $i) { errors { code } } }"""
DELETE_POST = "mutation($id: ID!) { deletePost(id: $id) { errors { code } } }"
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


async def _ok(gql: GraphQLClient, document: str, variables: dict[str, Any], handle: str) -> Any:
    done = await gql.execute(document, variables, as_=handle)
    (payload,) = done.data.values()
    assert payload["errors"] == [], done.body
    return payload


async def _member(gql: GraphQLClient, handle: str, name: str, followers: int = 0) -> str:
    user = await gql.sign_up(handle)
    await _ok(gql, PROFILE, {"i": {"displayName": name}}, handle)
    return user


async def _found(
    gql: GraphQLClient, query: str, kind: str, as_: str | None = None, **page: Any
) -> list[str]:
    result = await gql.execute(SEARCH, {"q": query, "k": kind, **page}, as_=as_)
    names = []
    for edge in result.data["search"]["edges"]:
        node = edge["node"]
        names.append(node.get("handle") or node.get("title") or node.get("text"))
    return names


async def test_members_by_handle_and_name(gql: GraphQLClient) -> None:
    # given members with names alike
    ada = await _member(gql, "ada_inks", "Ada Inks")
    await _member(gql, "adamant", "Adam Ant")
    await _member(gql, "lena_prints", "Lena Prints")
    await _member(gql, "mira", "Mira Lena")
    await _member(gql, "kofi_draws", "Kofi Draws")
    await _ok(gql, FOLLOW, {"u": ada}, "mira")
    # then a handle comes first, then handles that start with the query, then names
    assert await _found(gql, "ada_inks", "USERS") == ["ada_inks"]
    assert await _found(gql, "@Ada", "USERS") == ["adamant", "ada_inks"]
    assert await _found(gql, "lena", "USERS") == ["lena_prints", "mira"]
    assert await _found(gql, "Lena Prints", "USERS") == ["lena_prints"]
    # and a name spelled nearly right still finds its member
    assert await _found(gql, "kofi_drows", "USERS") == ["kofi_draws"]
    assert await _found(gql, "lena_prinst", "USERS") == ["lena_prints"]
    # and what meets nothing finds nothing
    assert await _found(gql, "zzzzzz", "USERS") == []
    assert await _found(gql, "   ", "USERS") == []
    assert await _found(gql, "100%_", "USERS") == []


async def test_posts_by_words_phrases_exclusions_and_or(gql: GraphQLClient) -> None:
    # given posts of an artist
    await gql.sign_up("ada")
    texts = [
        "Harbour at dusk, ink wash #sketchbook",
        "Storm over the harbour, oil study",
        "Fox in the orchard, ink and gouache",
        "Still-life with lemons",
        "ink ink ink: testing a new ink",
    ]
    for text in texts:
        await _ok(gql, POST, {"i": {"text": text}}, "ada")
    # then words must all be there, best first (more often, in fewer words)
    assert await _found(gql, "ink", "POSTS") == [texts[4], texts[0], texts[2]]
    assert await _found(gql, "harbour ink", "POSTS") == [texts[0]]
    assert await _found(gql, "HARBOUR", "POSTS") == [texts[1], texts[0]]
    # a hashtag is a word, a phrase is whole, a word with a dash is a phrase of its parts
    assert await _found(gql, "#sketchbook", "POSTS") == [texts[0]]
    assert await _found(gql, '"oil study"', "POSTS") == [texts[1]]
    assert await _found(gql, '"study oil"', "POSTS") == []
    assert await _found(gql, "still-life", "POSTS") == [texts[3]]
    # an excluded word takes away, or gives a choice
    assert await _found(gql, "ink -harbour", "POSTS") == [texts[4], texts[2]]
    assert await _found(gql, "lemons or fox", "POSTS") == [texts[3], texts[2]]
    # and a query of nothing but exclusions or punctuation finds nothing
    assert await _found(gql, "-ink", "POSTS") == []
    assert await _found(gql, '!!! "" ()', "POSTS") == []
    assert await _found(gql, 'ink"', "POSTS") == [texts[4], texts[0], texts[2]]


async def test_artworks_by_title_tags_and_description(gql: GraphQLClient) -> None:
    # given artworks where a word stands in the title, the tags or the description
    await gql.sign_up("ada")
    for title, tags, description in (
        ("Moth", ["night"], "charcoal on paper"),
        ("Night garden", [], "gouache"),
        ("Lantern", ["moth", "night"], "a moth at the window at night"),
    ):
        made = await _ok(
            gql,
            ARTWORK,
            {"i": {"title": title, "tags": tags, "description": description}},
            "ada",
        )
        assert made["artwork"]["id"]
    # then a title counts most, then tags, then the description
    assert await _found(gql, "moth", "ARTWORKS") == ["Moth", "Lantern"]
    assert await _found(gql, "night", "ARTWORKS") == ["Night garden", "Lantern", "Moth"]
    assert await _found(gql, "charcoal", "ARTWORKS") == ["Moth"]


async def test_what_a_viewer_may_not_see_is_not_found(gql: GraphQLClient) -> None:
    # given an artist's public, followers-only and private posts and artworks, and a follower
    ada = await gql.sign_up("ada")
    await gql.sign_up("fan")
    await gql.sign_up("stranger")
    await _ok(gql, FOLLOW, {"u": ada}, "fan")
    for visibility in ("PUBLIC", "FOLLOWERS", "PRIVATE"):
        text = f"lantern {visibility.lower()}"
        await _ok(gql, POST, {"i": {"text": text, "visibility": visibility}}, "ada")
        await _ok(gql, ARTWORK, {"i": {"title": text, "visibility": visibility}}, "ada")
    # then each viewer finds what they may see, and no more
    expected = {
        None: ["lantern public"],
        "stranger": ["lantern public"],
        "fan": ["lantern followers", "lantern public"],
        "ada": ["lantern private", "lantern followers", "lantern public"],
    }
    for viewer, seen in expected.items():
        assert await _found(gql, "lantern", "POSTS", as_=viewer) == seen, viewer
        assert await _found(gql, "lantern", "ARTWORKS", as_=viewer) == seen, viewer


async def test_the_index_follows_changes(gql: GraphQLClient) -> None:
    # given a post and an artwork found by a word
    await gql.sign_up("ada")
    post = (await _ok(gql, POST, {"i": {"text": "kiln day"}}, "ada"))["post"]["id"]
    made = await _ok(gql, ARTWORK, {"i": {"title": "Kiln"}}, "ada")
    assert await _found(gql, "kiln", "POSTS") == ["kiln day"]
    # when the post is deleted and the artwork renamed, and a member renamed
    await _ok(gql, DELETE_POST, {"id": post}, "ada")
    await _ok(gql, UPDATE_ARTWORK, {"id": made["artwork"]["id"], "i": {"title": "Glaze"}}, "ada")
    await _ok(gql, PROFILE, {"i": {"displayName": "Potter Ada"}}, "ada")
    # then search follows
    assert await _found(gql, "kiln", "POSTS") == []
    assert await _found(gql, "kiln", "ARTWORKS") == []
    assert await _found(gql, "glaze", "ARTWORKS") == ["Glaze"]
    assert await _found(gql, "potter", "USERS") == ["ada"]


EDIT_POST = "mutation($id: ID!, $t: String!) { updatePost(id: $id, text: $t) { errors { code } } }"


async def test_an_edit_ranks_again_a_query_searched_before(gql: GraphQLClient) -> None:
    # given two posts and two artworks ranked by a query, searched once (their scores kept)
    await gql.sign_up("ada")
    once = (await _ok(gql, POST, {"i": {"text": "moth"}}, "ada"))["post"]["id"]
    await _ok(gql, POST, {"i": {"text": "moth and moth again"}}, "ada")
    plain = (await _ok(gql, ARTWORK, {"i": {"title": "Study"}}, "ada"))["artwork"]["id"]
    await _ok(gql, ARTWORK, {"i": {"title": "Moth", "tags": ["moth"]}}, "ada")
    await _ok(gql, UPDATE_ARTWORK, {"id": plain, "i": {"description": "a moth"}}, "ada")
    assert await _found(gql, "moth", "POSTS") == ["moth and moth again", "moth"]
    assert await _found(gql, "moth", "ARTWORKS") == ["Moth", "Study"]
    # when the weaker of each is edited to meet the query better
    await _ok(gql, EDIT_POST, {"id": once, "t": "moth moth moth moth moth"}, "ada")
    await _ok(
        gql, UPDATE_ARTWORK, {"id": plain, "i": {"title": "Moth moth", "tags": ["moth"]}}, "ada"
    )
    # then the same query ranks them by their new text
    assert await _found(gql, "moth", "POSTS") == ["moth moth moth moth moth", "moth and moth again"]
    assert await _found(gql, "moth", "ARTWORKS") == ["Moth moth", "Moth"]


async def test_pages(gql: GraphQLClient) -> None:
    # given five posts with one word
    await gql.sign_up("ada")
    for n in range(5):
        await _ok(gql, POST, {"i": {"text": f"fern {n}"}}, "ada")
    # when they are read two at a time
    seen: list[str] = []
    after = None
    while True:
        result = await gql.execute(SEARCH, {"q": "fern", "k": "POSTS", "first": 2, "after": after})
        connection = result.data["search"]
        seen += [edge["node"]["text"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # then each comes once, newest first among equals
    assert seen == [f"fern {n}" for n in range(4, -1, -1)]
    # and bad arguments are refused
    for variables in (
        {"q": "fern", "k": "POSTS", "first": 101},
        {"q": "fern", "k": "POSTS", "after": "cG9zdDox"},
        {"q": "x" * 201, "k": "POSTS"},
        {"q": "x" * 201, "k": "USERS"},
    ):
        refused = await gql.execute(SEARCH, variables)
        assert refused.codes == ["BAD_USER_INPUT"], variables


def test_a_query_is_read_as_web_search_engines_read_it() -> None:
    query = parse('Ink "oil study" -harbour fox or moth still-life or')
    assert query.groups == (
        (Item(("ink",)),),
        (Item(("oil", "study")),),
        (Item(("fox",)), Item(("moth",))),
        (Item(("still", "life")),),
    )
    assert query.excluded == (Item(("harbour",), excluded=True),)
    assert query.websearch() == 'ink "oil study" fox or moth "still life" -harbour'
    assert query.fts5() == (
        '("ink") AND ("oil study") AND ("fox" OR "moth") AND ("still life") NOT "harbour"'
    )


def test_ascii_text_scores_as_any_text_does() -> None:
    # ASCII text is split into words by a byte table, other text by the regular expression: a
    # character that is no word's (an ellipsis) takes the text to the other path, same words
    scorer = TextScorer(parse('ink "morning light" -fox still-life or café A_b'))
    texts = [
        "Ink, INK and ink-wash: morning light (morning-light) #wip still life",
        "a_b A b 3.5x ink_ink   morning\tlight\nink",
        "",
        "__--",
        "cafe ink",
    ]
    for text in texts:
        for weight in (1.0, 2.0, 3.0):
            fields = [(text, weight), ("morning light", 1.0)]
            assert scorer(fields) == scorer([(text + " \u2026", weight), ("morning light", 1.0)])
        assert scorer.one(text) == scorer([(text + " \u2026", 1.0)])
    assert scorer.one(texts[0]) > scorer.one(texts[4]) > 0


def test_similarity_is_pg_trgms() -> None:
    # reference values from PostgreSQL 15's pg_trgm: SELECT similarity(a, b)
    assert similarity("word", "two words") == pytest.approx(0.36363637)
    assert similarity("kofi_draws", "kofi_drows") == pytest.approx(0.5714286)
    assert similarity("ada", "adx") == pytest.approx(0.33333334)
    assert similarity("", "ada") == 0.0


async def test_an_exclusion_of_the_visibility_rule_hides_a_member_and_their_work(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the visibility rule with an exclusion tying a member to those she follows (a
    # stand-in for a block, whose table is not this test's business)
    from resolvers import rules, search

    ada = await gql.sign_up("ada_moth")
    await gql.sign_up("bea_moth")
    await gql.sign_up("cyd")
    for handle in ("ada_moth", "bea_moth"):
        await _ok(gql, POST, {"i": {"text": f"moth by {handle}"}}, handle)
        await _ok(gql, ARTWORK, {"i": {"title": f"moth by {handle}"}}, handle)
    await _ok(gql, FOLLOW, {"u": ada}, "cyd")
    stand_in = rules.ReadRule("visible", rules.VISIBLE.passes, exclusions=(rules.FOLLOWS,))
    monkeypatch.setattr(search, "VISIBLE", stand_in)
    # then the member hidden from cyd is not found by cyd, nor her work; others still find her
    assert await _found(gql, "moth", "USERS", as_="cyd") == ["bea_moth"]
    assert await _found(gql, "moth", "POSTS", as_="cyd") == ["moth by bea_moth"]
    assert await _found(gql, "moth", "ARTWORKS", as_="cyd") == ["moth by bea_moth"]
    assert await _found(gql, "ada", "USERS", as_="bea_moth") == ["ada_moth"]
    assert await _found(gql, "moth", "POSTS") == ["moth by bea_moth", "moth by ada_moth"]
