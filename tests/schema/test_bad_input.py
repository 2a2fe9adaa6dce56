"""Bad input: each gets a typed error (a payload ``UserError`` or a top-level error with a code),
changes nothing, and is never answered with HTTP 500."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher

from resolvers import passwords
from resolvers.accounts import hash_token
from storage.models import Artwork, AuthToken, Follow, Post, PostLike, User
from tests.graphql import GraphQLClient, Result, database_state, global_id, pk_of

PASSWORD = "correct horse"
NUL = "\x00"
LONE_SURROGATE = "\ud800"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at a token cost: these tests are about rules and sign up many accounts."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


# --- documents ----------------------------------------------------------------------------------

SIGN_UP = """mutation($i: SignUpInput!) {
  signUp(input: $i) { user { id } errors { field code } } }"""
LOG_IN = """mutation($i: LogInInput!) {
  logIn(input: $i) { token expiresAt user { id } errors { field code message } } }"""
LOG_OUT = "mutation { logOut { ok errors { field code } } }"
UPDATE_PROFILE = """mutation($i: UpdateProfileInput!) {
  updateProfile(input: $i) { user { id } errors { field code } } }"""
CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) {
  createArtwork(input: $i) { artwork { id } errors { field code } } }"""
UPDATE_ARTWORK = """mutation($a: ID!, $i: UpdateArtworkInput!) {
  updateArtwork(id: $a, input: $i) { artwork { id } errors { field code } } }"""
DELETE_ARTWORK = """mutation($a: ID!) {
  deleteArtwork(id: $a) { deletedId errors { field code } } }"""
REORDER = """mutation($a: [ID!]!) {
  reorderPortfolio(artworkIds: $a) { user { id } errors { field code } } }"""
CREATE_POST = """mutation($i: CreatePostInput!) {
  createPost(input: $i) { post { id } errors { field code } } }"""
DELETE_POST = """mutation($p: ID!) { deletePost(id: $p) { deletedId errors { field code } } }"""
FOLLOW = """mutation($u: ID!) {
  follow(userId: $u) { user { followerCount } errors { field code } } }"""
UNFOLLOW = """mutation($u: ID!) {
  unfollow(userId: $u) { user { followerCount } errors { field code } } }"""
LIKE_POST = """mutation($p: ID!) {
  likePost(postId: $p) { post { likeCount viewerHasLiked } errors { field code } } }"""
UNLIKE_POST = """mutation($p: ID!) {
  unlikePost(postId: $p) { post { likeCount viewerHasLiked } errors { field code } } }"""
LIKE_ARTWORK = """mutation($a: ID!) {
  likeArtwork(artworkId: $a) { artwork { likeCount viewerHasLiked } errors { field code } } }"""
UNLIKE_ARTWORK = """mutation($a: ID!) {
  unlikeArtwork(artworkId: $a) { artwork { likeCount viewerHasLiked } errors { field code } } }"""
ADD_COMMENT = """mutation($i: AddCommentInput!) {
  addComment(input: $i) { comment { id } errors { field code } } }"""
DELETE_COMMENT = """mutation($c: ID!) {
  deleteComment(id: $c) { deletedId errors { field code } } }"""


# --- a world to act in --------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """``ada`` has a public artwork and a public post. ``ben`` has a public and a private
    artwork; a public, a followers-only and a private post; and his own comment on the private
    post. Nobody follows anybody."""

    ada: str
    ben: str
    artwork: str
    post: str
    ben_artwork: str
    ben_private_artwork: str
    ben_post: str
    ben_followers_post: str
    ben_private_post: str
    ben_private_comment: str


async def ok(gql: GraphQLClient, document: str, variables: dict[str, Any], as_: str) -> Any:
    """Run a mutation that must succeed; its payload."""
    result = await gql.execute(document, variables, as_=as_)
    assert result.status == 200, result.body
    (payload,) = result.data.values()
    assert payload["errors"] == [], payload
    return payload


async def new_artwork(gql: GraphQLClient, as_: str, title: str, **fields: Any) -> str:
    created = await ok(gql, CREATE_ARTWORK, {"i": {"title": title, **fields}}, as_)
    return str(created["artwork"]["id"])


async def new_post(gql: GraphQLClient, as_: str, text: str, **fields: Any) -> str:
    created = await ok(gql, CREATE_POST, {"i": {"text": text, **fields}}, as_)
    return str(created["post"]["id"])


async def build_world(gql: GraphQLClient) -> World:
    ada = await gql.sign_up("ada", PASSWORD)
    ben = await gql.sign_up("ben", PASSWORD)
    private_post = await new_post(gql, "ben", "Just for me", visibility="PRIVATE")
    comment = await ok(
        gql, ADD_COMMENT, {"i": {"subjectId": private_post, "text": "a note"}}, "ben"
    )
    return World(
        ada=ada,
        ben=ben,
        artwork=await new_artwork(gql, "ada", "Harbour"),
        post=await new_post(gql, "ada", "Hello"),
        ben_artwork=await new_artwork(gql, "ben", "Dunes"),
        ben_private_artwork=await new_artwork(gql, "ben", "Sketch", visibility="PRIVATE"),
        ben_post=await new_post(gql, "ben", "Out now"),
        ben_followers_post=await new_post(gql, "ben", "Friends only", visibility="FOLLOWERS"),
        ben_private_post=private_post,
        ben_private_comment=str(comment["comment"]["id"]),
    )


def refused(
    result: Result, name: str, errors: Sequence[tuple[str | None, str]], what: str = ""
) -> None:
    """The mutation ``name`` answered 200 with exactly these ``(field, code)`` errors and a null
    object."""
    assert result.status == 200, (what, result.body)
    payload = result.data[name]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == list(errors), (what, payload)
    objects = {key: value for key, value in payload.items() if key != "errors"}
    assert objects == dict.fromkeys(objects), (what, payload)


def query_refused(
    result: Result, data: dict[str, Any] | None, path: list[str | int], what: str = ""
) -> None:
    """A query answered 200 with one top-level BAD_USER_INPUT error at ``path``, and ``data``."""
    assert result.status == 200, (what, result.body)
    assert result.body["data"] == data, (what, result.body)
    assert result.codes == ["BAD_USER_INPUT"], (what, result.body)
    assert result.errors[0]["path"] == path, (what, result.body)


# --- texts: too long, empty, unstorable -----------------------------------------------------------


TEXT_CASES = [
    # name, document, mutation, variables(world), expected (field, code) errors
    ("post-text-2001", CREATE_POST, "createPost", lambda w: {"i": {"text": "x" * 2001}},
     [("text", "TOO_LONG")]),
    ("post-text-empty", CREATE_POST, "createPost", lambda w: {"i": {"text": ""}},
     [("text", "REQUIRED")]),
    ("post-text-blank", CREATE_POST, "createPost", lambda w: {"i": {"text": " \n\t "}},
     [("text", "REQUIRED")]),
    ("post-text-nul", CREATE_POST, "createPost", lambda w: {"i": {"text": f"a{NUL}b"}},
     [("text", "INVALID")]),
    ("post-text-lone-surrogate", CREATE_POST, "createPost",
     lambda w: {"i": {"text": f"a{LONE_SURROGATE}b"}}, [("text", "INVALID")]),
    ("post-11-artworks", CREATE_POST, "createPost",
     lambda w: {"i": {"text": "many",
                      "artworkIds": [global_id("Artwork", n) for n in range(1, 12)]}},
     [("artworkIds", "TOO_MANY")]),
    ("post-artwork-twice", CREATE_POST, "createPost",
     lambda w: {"i": {"text": "twice", "artworkIds": [w.artwork, w.artwork]}},
     [("artworkIds", "DUPLICATE")]),
    ("post-every-problem-at-once", CREATE_POST, "createPost",
     lambda w: {"i": {"text": "x" * 2001, "artworkIds": [w.artwork, w.artwork]}},
     [("text", "TOO_LONG"), ("artworkIds", "DUPLICATE")]),
    ("title-201", CREATE_ARTWORK, "createArtwork", lambda w: {"i": {"title": "x" * 201}},
     [("title", "TOO_LONG")]),
    ("title-empty", CREATE_ARTWORK, "createArtwork", lambda w: {"i": {"title": ""}},
     [("title", "REQUIRED")]),
    ("title-blank", CREATE_ARTWORK, "createArtwork", lambda w: {"i": {"title": "   "}},
     [("title", "REQUIRED")]),
    ("title-nul", CREATE_ARTWORK, "createArtwork", lambda w: {"i": {"title": NUL}},
     [("title", "INVALID")]),
    ("description-5001", CREATE_ARTWORK, "createArtwork",
     lambda w: {"i": {"title": "t", "description": "x" * 5001}}, [("description", "TOO_LONG")]),
    ("medium-101", CREATE_ARTWORK, "createArtwork",
     lambda w: {"i": {"title": "t", "medium": "x" * 101}}, [("medium", "TOO_LONG")]),
    ("tag-with-a-space", CREATE_ARTWORK, "createArtwork",
     lambda w: {"i": {"title": "t", "tags": ["two words"]}}, [("tags", "INVALID")]),
    ("tag-only-hash", CREATE_ARTWORK, "createArtwork",
     lambda w: {"i": {"title": "t", "tags": ["#"]}}, [("tags", "INVALID")]),
    ("tags-31", CREATE_ARTWORK, "createArtwork",
     lambda w: {"i": {"title": "t", "tags": [f"tag{n}" for n in range(31)]}},
     [("tags", "TOO_MANY")]),
    ("artwork-every-problem-at-once", CREATE_ARTWORK, "createArtwork",
     lambda w: {"i": {"title": "", "description": "x" * 5001, "medium": "x" * 101}},
     [("title", "REQUIRED"), ("description", "TOO_LONG"), ("medium", "TOO_LONG")]),
    ("update-title-201", UPDATE_ARTWORK, "updateArtwork",
     lambda w: {"a": w.artwork, "i": {"title": "x" * 201}}, [("title", "TOO_LONG")]),
    ("update-title-blank", UPDATE_ARTWORK, "updateArtwork",
     lambda w: {"a": w.artwork, "i": {"title": " "}}, [("title", "REQUIRED")]),
    ("update-description-5001", UPDATE_ARTWORK, "updateArtwork",
     lambda w: {"a": w.artwork, "i": {"description": "x" * 5001}},
     [("description", "TOO_LONG")]),
    ("bio-501", UPDATE_PROFILE, "updateProfile", lambda w: {"i": {"bio": "x" * 501}},
     [("bio", "TOO_LONG")]),
    ("bio-lone-surrogate", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"bio": LONE_SURROGATE}}, [("bio", "INVALID")]),
    ("display-name-65", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"displayName": "x" * 65}}, [("displayName", "TOO_LONG")]),
    ("display-name-empty", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"displayName": ""}}, [("displayName", "REQUIRED")]),
    ("display-name-blank", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"displayName": "  "}}, [("displayName", "REQUIRED")]),
    ("links-6", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"links": [f"https://example.com/{n}" for n in range(6)]}},
     [("links", "TOO_MANY")]),
    ("link-not-http", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"links": ["ftp://example.com"]}}, [("links", "INVALID")]),
    ("link-not-a-url", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"links": ["my site"]}}, [("links", "INVALID")]),
    ("link-bad-ipv6-host", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"links": ["http://[oops/"]}}, [("links", "INVALID")]),
    ("link-201", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"links": ["https://example.com/" + "x" * 181]}}, [("links", "INVALID")]),
    ("link-nul", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"links": [f"https://example.com/{NUL}"]}}, [("links", "INVALID")]),
    ("profile-every-problem-at-once", UPDATE_PROFILE, "updateProfile",
     lambda w: {"i": {"displayName": "", "bio": "x" * 501, "links": ["ftp://x.org"]}},
     [("displayName", "REQUIRED"), ("bio", "TOO_LONG"), ("links", "INVALID")]),
    ("comment-1001", ADD_COMMENT, "addComment",
     lambda w: {"i": {"subjectId": w.post, "text": "x" * 1001}}, [("text", "TOO_LONG")]),
    ("comment-empty", ADD_COMMENT, "addComment",
     lambda w: {"i": {"subjectId": w.post, "text": ""}}, [("text", "REQUIRED")]),
    ("comment-blank", ADD_COMMENT, "addComment",
     lambda w: {"i": {"subjectId": w.artwork, "text": "\n"}}, [("text", "REQUIRED")]),
    ("comment-nul", ADD_COMMENT, "addComment",
     lambda w: {"i": {"subjectId": w.post, "text": NUL}}, [("text", "INVALID")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "name", "variables", "errors"),
    [pytest.param(*case[1:], id=case[0]) for case in TEXT_CASES],
)
async def test_bad_text_is_refused_by_field(
    gql: GraphQLClient, document: str, name: str, variables: Any, errors: Any
) -> None:
    # given two artists and their things
    world = await build_world(gql)
    before = await database_state()
    # when ada sends the bad input
    result = await gql.execute(document, variables(world), as_="ada")
    # then the payload names each problem, and nothing changed
    refused(result, name, errors)
    assert await database_state() == before


LIMIT_CASES = [
    ("post-text-2000", CREATE_POST, lambda w: {"i": {"text": "x" * 2000}}),
    ("title-200", CREATE_ARTWORK, lambda w: {"i": {"title": "x" * 200}}),
    ("description-5000-medium-100", CREATE_ARTWORK,
     lambda w: {"i": {"title": "t", "description": "x" * 5000, "medium": "x" * 100}}),
    ("tags-30", CREATE_ARTWORK,
     lambda w: {"i": {"title": "t", "tags": [f"tag{n}" for n in range(30)]}}),
    ("bio-500-name-64-links-5", UPDATE_PROFILE,
     lambda w: {"i": {"bio": "x" * 500, "displayName": "x" * 64,
                      "links": [f"https://example.com/{n}" for n in range(5)]}}),
    ("comment-1000", ADD_COMMENT, lambda w: {"i": {"subjectId": w.post, "text": "x" * 1000}}),
    ("password-8", SIGN_UP,
     lambda w: {"i": {"handle": "eight", "email": "e@example.com", "password": "x" * 8}}),
    ("password-256", SIGN_UP,
     lambda w: {"i": {"handle": "long_pw", "email": "l@example.com", "password": "x" * 256}}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "variables"), [pytest.param(*case[1:], id=case[0]) for case in LIMIT_CASES]
)
async def test_input_at_the_limit_is_accepted(
    gql: GraphQLClient, document: str, variables: Any
) -> None:
    # given two artists
    world = await build_world(gql)
    # when ada sends input exactly at a limit, then it is accepted
    await ok(gql, document, variables(world), "ada")


# --- accounts ---------------------------------------------------------------------------------

NEWCOMER = {"handle": "newcomer", "email": "newcomer@example.com", "password": "long enough"}

SIGN_UP_CASES = [
    ("handle-too-short", {"handle": "ab"}, [("handle", "INVALID_HANDLE")]),
    ("handle-too-long", {"handle": "a" * 31}, [("handle", "INVALID_HANDLE")]),
    ("handle-empty", {"handle": ""}, [("handle", "INVALID_HANDLE")]),
    ("handle-hyphen", {"handle": "new-comer"}, [("handle", "INVALID_HANDLE")]),
    ("handle-space", {"handle": "new comer"}, [("handle", "INVALID_HANDLE")]),
    ("handle-accent", {"handle": "émile"}, [("handle", "INVALID_HANDLE")]),
    ("handle-nul", {"handle": f"new{NUL}comer"}, [("handle", "INVALID_HANDLE")]),
    ("handle-reserved", {"handle": "admin"}, [("handle", "INVALID_HANDLE")]),
    ("handle-reserved-other-case", {"handle": "GraphQL"}, [("handle", "INVALID_HANDLE")]),
    ("email-no-at", {"email": "newcomer.example.com"}, [("email", "INVALID_EMAIL")]),
    ("email-no-dot", {"email": "newcomer@example"}, [("email", "INVALID_EMAIL")]),
    ("email-short-tld", {"email": "newcomer@example.c"}, [("email", "INVALID_EMAIL")]),
    ("email-two-ats", {"email": "new@comer@example.com"}, [("email", "INVALID_EMAIL")]),
    ("email-space", {"email": "new comer@example.com"}, [("email", "INVALID_EMAIL")]),
    ("email-empty", {"email": ""}, [("email", "INVALID_EMAIL")]),
    ("email-255", {"email": "x" * 64 + "@" + "y" * 186 + ".com"}, [("email", "INVALID_EMAIL")]),
    ("email-nul", {"email": f"new{NUL}@example.com"}, [("email", "INVALID_EMAIL")]),
    ("password-7", {"password": "x" * 7}, [("password", "TOO_SHORT")]),
    ("password-257", {"password": "x" * 257}, [("password", "TOO_LONG")]),
    ("password-empty", {"password": ""}, [("password", "TOO_SHORT")]),
    ("password-lone-surrogate", {"password": f"long enough{LONE_SURROGATE}"},
     [("password", "INVALID")]),
    ("display-name-65", {"displayName": "x" * 65}, [("displayName", "TOO_LONG")]),
    ("display-name-blank", {"displayName": "   "}, [("displayName", "REQUIRED")]),
    ("handle-taken-other-case", {"handle": "ADA"}, [("handle", "HANDLE_TAKEN")]),
    ("email-taken-other-case", {"email": "Ada@EXAMPLE.com"}, [("email", "EMAIL_TAKEN")]),
    ("both-taken", {"handle": "Ada", "email": "ADA@example.com"},
     [("handle", "HANDLE_TAKEN"), ("email", "EMAIL_TAKEN")]),
    ("every-problem-at-once", {"handle": "a", "email": "a", "password": "a"},
     [("handle", "INVALID_HANDLE"), ("email", "INVALID_EMAIL"), ("password", "TOO_SHORT")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "errors"), [pytest.param(*case[1:], id=case[0]) for case in SIGN_UP_CASES]
)
async def test_sign_up_refuses_bad_input(
    gql: GraphQLClient, changes: dict[str, str], errors: list[tuple[str, str]]
) -> None:
    # given an existing account ada (ada@example.com)
    await gql.sign_up("ada", PASSWORD)
    before = await database_state()
    # when someone signs up with one bad field
    result = await gql.execute(SIGN_UP, {"i": {**NEWCOMER, **changes}})
    # then it is refused by field, and no account was made
    refused(result, "signUp", errors)
    assert await database_state() == before


@pytest.mark.parametrize(
    ("login", "password"),
    [
        pytest.param("ada", "wrong horse", id="wrong-password"),
        pytest.param("ada@example.com", "wrong horse", id="wrong-password-by-email"),
        pytest.param("nobody", PASSWORD, id="unknown-handle"),
        pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
        pytest.param("", PASSWORD, id="empty-login"),
        pytest.param("ada", "", id="empty-password"),
        pytest.param("a" * 300, PASSWORD, id="login-300"),
        pytest.param("ada", PASSWORD + "x" * 250, id="password-257"),
        pytest.param(f"ada{NUL}", PASSWORD, id="nul-in-login"),
        pytest.param("ada", PASSWORD + LONE_SURROGATE, id="lone-surrogate-in-password"),
    ],
)
async def test_log_in_refuses_with_one_error(gql: GraphQLClient, login: str, password: str) -> None:
    # given an account ada
    await gql.sign_up("ada", PASSWORD)
    before = await database_state()
    # when someone signs in with a wrong password or an unknown account
    result = await gql.execute(LOG_IN, {"i": {"login": login, "password": password}})
    # then the error does not tell which one was wrong, and no token was issued
    assert result.status == 200, result.body
    assert result.data["logIn"] == {
        "token": None,
        "expiresAt": None,
        "user": None,
        "errors": [
            {
                "field": None,
                "code": "INVALID_CREDENTIALS",
                "message": "wrong handle, email or password",
            }
        ],
    }
    assert await database_state() == before


async def test_log_in_ignores_letter_case_of_the_login(gql: GraphQLClient) -> None:
    # given an account ada
    await gql.sign_up("ada", PASSWORD)
    # when she signs in with her handle and email in other letter case, then both work
    for login in ("ADA", " Ada@Example.COM "):
        signed = await ok(gql, LOG_IN, {"i": {"login": login, "password": PASSWORD}}, "ada")
        assert signed["token"] is not None


# --- tokens ---------------------------------------------------------------------------------------


async def test_expired_token_is_refused_with_401(gql: GraphQLClient) -> None:
    # given ada and a token of hers that expired a second ago
    await gql.sign_up("ada", PASSWORD)
    user = await User.get(handle_key="ada")
    token = "an-expired-token-of-ada"
    await AuthToken.create(
        user_id=user.id,
        token_hash=hash_token(token),
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    before = await database_state()
    # when a request comes with it
    result = await gql.execute(
        CREATE_POST, {"i": {"text": "too late"}}, headers={"Authorization": f"Bearer {token}"}
    )
    # then it is answered 401 TOKEN_EXPIRED, and the mutation did not run
    assert result.status == 401, result.body
    assert result.codes == ["TOKEN_EXPIRED"]
    assert "data" not in result.body
    assert await database_state() == before


async def test_token_is_refused_once_its_expiry_passes(gql: GraphQLClient) -> None:
    # given ada signed in, and then her token's expiry moved into the past
    await gql.sign_up("ada", PASSWORD)
    assert (await gql.execute("{ viewer { handle } }", as_="ada")).data == {
        "viewer": {"handle": "ada"}
    }
    await AuthToken.filter(token_hash=hash_token(gql.token_of("ada"))).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    # when she uses it, then it is refused as expired
    result = await gql.execute("{ viewer { handle } }", as_="ada")
    assert result.status == 401, result.body
    assert result.codes == ["TOKEN_EXPIRED"]


async def test_revoked_token_is_refused_with_401(gql: GraphQLClient) -> None:
    # given ada signed out
    await gql.sign_up("ada", PASSWORD)
    assert (await ok(gql, LOG_OUT, {}, "ada"))["ok"] is True
    before = await database_state()
    # when her old token is used again, for a query or a mutation
    for document, variables in (
        ("{ viewer { handle } }", {}),
        (CREATE_POST, {"i": {"text": "after sign-out"}}),
        (LOG_OUT, {}),
    ):
        result = await gql.execute(document, variables, as_="ada")
        # then it is answered 401 TOKEN_INVALID, and nothing ran
        assert result.status == 401, result.body
        assert result.codes == ["TOKEN_INVALID"], document
        assert "data" not in result.body
    assert await database_state() == before


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer ", id="scheme-and-space"),
        pytest.param("Basic YWRhOmNvcnJlY3QgaG9yc2U=", id="basic"),
        pytest.param("Token {token}", id="other-scheme-with-the-token"),
        pytest.param("{token}", id="token-without-scheme"),
        pytest.param("Bearer {token} {token}", id="two-tokens"),
        pytest.param("Bearer " + "x" * 129, id="too-long"),
        pytest.param("Bearer not-a-token-we-issued", id="unknown"),
    ],
)
async def test_malformed_authorization_is_refused_with_401(
    gql: GraphQLClient, authorization: str
) -> None:
    # given ada signed in
    await gql.sign_up("ada", PASSWORD)
    before = await database_state()
    # when a request comes with a malformed Authorization header
    header = authorization.format(token=gql.token_of("ada"))
    result = await gql.execute(
        CREATE_POST, {"i": {"text": "who am I"}}, headers={"Authorization": header}
    )
    # then it is answered 401 TOKEN_INVALID (not treated as anonymous), and nothing ran
    assert result.status == 401, result.body
    assert result.codes == ["TOKEN_INVALID"]
    assert await database_state() == before


# --- someone else's things ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "attach",
    [
        pytest.param(lambda w: [w.ben_artwork], id="another-artists-artwork"),
        pytest.param(lambda w: [w.artwork, w.ben_artwork], id="own-and-another-artists"),
        pytest.param(lambda w: [w.ben_private_artwork], id="another-artists-private-artwork"),
        pytest.param(lambda w: [global_id("Artwork", 1)], id="missing-artwork"),
    ],
)
async def test_attaching_an_artwork_not_yours_is_refused(gql: GraphQLClient, attach: Any) -> None:
    # given two artists
    world = await build_world(gql)
    before = await database_state()
    # when ada posts with an artwork that is not hers
    result = await gql.execute(
        CREATE_POST, {"i": {"text": "look", "artworkIds": attach(world)}}, as_="ada"
    )
    # then it is refused, and no post was made
    refused(result, "createPost", [("artworkIds", "NOT_OWNER")])
    assert await database_state() == before


@pytest.mark.parametrize(
    ("order", "code"),
    [
        pytest.param(lambda w, a: [a, w.artwork, w.ben_artwork], "NOT_OWNER", id="another's"),
        pytest.param(lambda w, a: [a, w.ben_private_artwork], "NOT_OWNER", id="another's-private"),
        pytest.param(lambda w, a: [a, global_id("Artwork", 1)], "NOT_OWNER", id="missing"),
        pytest.param(lambda w, a: [a], "INVALID", id="one-left-out"),
        pytest.param(lambda w, a: [], "INVALID", id="empty"),
        pytest.param(lambda w, a: [a, w.artwork, a], "DUPLICATE", id="one-twice"),
    ],
)
async def test_reorder_portfolio_refuses_a_list_that_is_not_your_portfolio(
    gql: GraphQLClient, order: Any, code: str
) -> None:
    # given ada with two artworks
    world = await build_world(gql)
    another = await new_artwork(gql, "ada", "Quay")
    before = await database_state()
    # when she reorders with a list that is not exactly her artworks
    result = await gql.execute(REORDER, {"a": order(world, another)}, as_="ada")
    # then it is refused, and the order did not change
    refused(result, "reorderPortfolio", [("artworkIds", code)])
    assert await database_state() == before


# --- what a viewer may not see ------------------------------------------------------------------

READ = """query($a: ID!, $p: ID!, $f: ID!, $c: ID!, $pa: ID!, $pp: ID!) {
  privateArtwork: artwork(id: $a) { title }
  privatePost: post(id: $p) { text }
  followersPost: post(id: $f) { text }
  privateArtworkNode: node(id: $a) { id }
  privatePostNode: node(id: $p) { id }
  followersPostNode: node(id: $f) { id }
  privateCommentNode: node(id: $c) { id }
  publicArtwork: artwork(id: $pa) { title }
  publicPost: post(id: $pp) { text }
  ben: user(handle: "ben") {
    email
    portfolio { nodes { title } }
    posts { nodes { text } }
  }
}"""


async def read_bens_things(gql: GraphQLClient, world: World, as_: str | None) -> dict[str, Any]:
    result = await gql.execute(
        READ,
        {
            "a": world.ben_private_artwork,
            "p": world.ben_private_post,
            "f": world.ben_followers_post,
            "c": world.ben_private_comment,
            "pa": world.ben_artwork,
            "pp": world.ben_post,
        },
        as_=as_,
    )
    assert result.status == 200, result.body
    return result.data


async def test_private_things_read_as_null(gql: GraphQLClient) -> None:
    # given ben's public, followers-only and private things
    world = await build_world(gql)
    hidden = {
        "privateArtwork": None,
        "privatePost": None,
        "followersPost": None,
        "privateArtworkNode": None,
        "privatePostNode": None,
        "followersPostNode": None,
        "privateCommentNode": None,
        "publicArtwork": {"title": "Dunes"},
        "publicPost": {"text": "Out now"},
        "ben": {
            "email": None,
            "portfolio": {"nodes": [{"title": "Dunes"}]},
            "posts": {"nodes": [{"text": "Out now"}]},
        },
    }
    # when someone anonymous and ada, who does not follow ben, read them
    # then they see only the public ones, and no errors
    assert await read_bens_things(gql, world, None) == hidden
    assert await read_bens_things(gql, world, "ada") == hidden
    # when ada follows ben, then she sees the followers-only post too, and still not the private
    await ok(gql, FOLLOW, {"u": world.ben}, "ada")
    following = await read_bens_things(gql, world, "ada")
    assert following["followersPost"] == {"text": "Friends only"}
    assert following["followersPostNode"] == {"id": world.ben_followers_post}
    assert following["ben"]["posts"] == {"nodes": [{"text": "Friends only"}, {"text": "Out now"}]}
    assert (following["privateArtwork"], following["privatePost"]) == (None, None)
    assert following["privateCommentNode"] is None
    # and ben himself sees everything of his
    own = await read_bens_things(gql, world, "ben")
    assert own["privateArtwork"] == {"title": "Sketch"}
    assert own["privatePost"] == {"text": "Just for me"}
    assert own["privateCommentNode"] == {"id": world.ben_private_comment}
    assert own["ben"]["email"] == "ben@example.com"


INVISIBLE_CASES = [
    ("like-private-artwork", LIKE_ARTWORK, "likeArtwork",
     lambda w: {"a": w.ben_private_artwork}, "artworkId"),
    ("unlike-private-artwork", UNLIKE_ARTWORK, "unlikeArtwork",
     lambda w: {"a": w.ben_private_artwork}, "artworkId"),
    ("like-private-post", LIKE_POST, "likePost", lambda w: {"p": w.ben_private_post}, "postId"),
    ("like-followers-post", LIKE_POST, "likePost",
     lambda w: {"p": w.ben_followers_post}, "postId"),
    ("unlike-private-post", UNLIKE_POST, "unlikePost",
     lambda w: {"p": w.ben_private_post}, "postId"),
    ("comment-on-private-post", ADD_COMMENT, "addComment",
     lambda w: {"i": {"subjectId": w.ben_private_post, "text": "hi"}}, "subjectId"),
    ("comment-on-followers-post", ADD_COMMENT, "addComment",
     lambda w: {"i": {"subjectId": w.ben_followers_post, "text": "hi"}}, "subjectId"),
    ("comment-on-private-artwork", ADD_COMMENT, "addComment",
     lambda w: {"i": {"subjectId": w.ben_private_artwork, "text": "hi"}}, "subjectId"),
    ("reply-to-private-post", CREATE_POST, "createPost",
     lambda w: {"i": {"text": "re", "replyTo": w.ben_private_post}}, "replyTo"),
    ("update-private-artwork", UPDATE_ARTWORK, "updateArtwork",
     lambda w: {"a": w.ben_private_artwork, "i": {"title": "mine"}}, "id"),
    ("delete-private-artwork", DELETE_ARTWORK, "deleteArtwork",
     lambda w: {"a": w.ben_private_artwork}, "id"),
    ("delete-private-post", DELETE_POST, "deletePost", lambda w: {"p": w.ben_private_post}, "id"),
    ("delete-comment-on-private-post", DELETE_COMMENT, "deleteComment",
     lambda w: {"c": w.ben_private_comment}, "id"),
    ("delete-missing-comment", DELETE_COMMENT, "deleteComment",
     lambda w: {"c": global_id("Comment", 1)}, "id"),
    ("follow-missing-user", FOLLOW, "follow", lambda w: {"u": global_id("User", 1)}, "userId"),
    ("unfollow-missing-user", UNFOLLOW, "unfollow",
     lambda w: {"u": global_id("User", 1)}, "userId"),
    ("like-missing-post", LIKE_POST, "likePost", lambda w: {"p": global_id("Post", 1)}, "postId"),
    ("reply-to-missing-post", CREATE_POST, "createPost",
     lambda w: {"i": {"text": "re", "replyTo": global_id("Post", 1)}}, "replyTo"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "name", "variables", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in INVISIBLE_CASES],
)
async def test_what_you_may_not_see_is_not_found(
    gql: GraphQLClient, document: str, name: str, variables: Any, field: str
) -> None:
    # given ben's private and followers-only things, which ada may not see
    world = await build_world(gql)
    before = await database_state()
    # when ada acts on one of them (or on something that does not exist)
    result = await gql.execute(document, variables(world), as_="ada")
    # then it reads as missing, not as forbidden, and nothing changed
    refused(result, name, [(field, "NOT_FOUND")])
    assert await database_state() == before


async def test_reply_to_a_deleted_post_is_not_found(gql: GraphQLClient) -> None:
    # given a post of ada's that she deleted
    world = await build_world(gql)
    await ok(gql, DELETE_POST, {"p": world.post}, "ada")
    before = await database_state()
    # when ben replies to it
    result = await gql.execute(CREATE_POST, {"i": {"text": "re", "replyTo": world.post}}, as_="ben")
    # then the reply is refused, and no post was made
    refused(result, "createPost", [("replyTo", "NOT_FOUND")])
    assert await database_state() == before


# --- malformed global ids -------------------------------------------------------------------------


def malformed_ids(type_name: str, wrong_type_id: str) -> dict[str, str]:
    """Ids that are not an id of ``type_name``, by what is wrong with them."""
    return {
        "not base64": "not an id!",
        "empty": "",
        "base64 of no colon": base64.b64encode(type_name.encode()).decode(),
        "unpadded": global_id(type_name, 12).rstrip("="),
        "wrong type": wrong_type_id,
        "unknown type": global_id("Gallery", 1),
        "non-numeric": global_id(type_name, "abc"),
        "negative": global_id(type_name, -1),
        "zero": global_id(type_name, 0),
        "leading zero": global_id(type_name, "012"),
        "signed": global_id(type_name, "+12"),
        "spaces": global_id(type_name, " 12"),
        "huge": global_id(type_name, 2**63),
        "very huge": global_id(type_name, "9" * 400),
    }


@dataclass(frozen=True)
class IdSpot:
    """Where a mutation takes a global id: ``variables`` puts ``bad`` there."""

    document: str
    name: str
    field: str
    type_name: str
    variables: Any
    wrong_type: Any


ID_SPOTS = [
    ("updateArtwork-id", IdSpot(UPDATE_ARTWORK, "updateArtwork", "id", "Artwork",
                                lambda w, bad: {"a": bad, "i": {"title": "t"}}, lambda w: w.post)),
    ("deleteArtwork-id", IdSpot(DELETE_ARTWORK, "deleteArtwork", "id", "Artwork",
                                lambda w, bad: {"a": bad}, lambda w: w.post)),
    ("reorderPortfolio-artworkIds", IdSpot(REORDER, "reorderPortfolio", "artworkIds", "Artwork",
                                           lambda w, bad: {"a": [w.artwork, bad]},
                                           lambda w: w.post)),
    ("createPost-artworkIds", IdSpot(CREATE_POST, "createPost", "artworkIds", "Artwork",
                                     lambda w, bad: {"i": {"text": "t", "artworkIds": [bad]}},
                                     lambda w: w.post)),
    ("createPost-replyTo", IdSpot(CREATE_POST, "createPost", "replyTo", "Post",
                                  lambda w, bad: {"i": {"text": "t", "replyTo": bad}},
                                  lambda w: w.artwork)),
    ("deletePost-id", IdSpot(DELETE_POST, "deletePost", "id", "Post",
                             lambda w, bad: {"p": bad}, lambda w: w.artwork)),
    ("follow-userId", IdSpot(FOLLOW, "follow", "userId", "User",
                             lambda w, bad: {"u": bad}, lambda w: w.post)),
    ("unfollow-userId", IdSpot(UNFOLLOW, "unfollow", "userId", "User",
                               lambda w, bad: {"u": bad}, lambda w: w.post)),
    ("likePost-postId", IdSpot(LIKE_POST, "likePost", "postId", "Post",
                               lambda w, bad: {"p": bad}, lambda w: w.artwork)),
    ("unlikePost-postId", IdSpot(UNLIKE_POST, "unlikePost", "postId", "Post",
                                 lambda w, bad: {"p": bad}, lambda w: w.artwork)),
    ("likeArtwork-artworkId", IdSpot(LIKE_ARTWORK, "likeArtwork", "artworkId", "Artwork",
                                     lambda w, bad: {"a": bad}, lambda w: w.post)),
    ("unlikeArtwork-artworkId", IdSpot(UNLIKE_ARTWORK, "unlikeArtwork", "artworkId", "Artwork",
                                       lambda w, bad: {"a": bad}, lambda w: w.post)),
    ("addComment-subjectId", IdSpot(ADD_COMMENT, "addComment", "subjectId", "Post",
                                    lambda w, bad: {"i": {"subjectId": bad, "text": "hi"}},
                                    lambda w: w.ada)),
    ("deleteComment-id", IdSpot(DELETE_COMMENT, "deleteComment", "id", "Comment",
                                lambda w, bad: {"c": bad}, lambda w: w.post)),
]  # fmt: skip


@pytest.mark.parametrize("spot", [pytest.param(spot, id=name) for name, spot in ID_SPOTS])
async def test_malformed_id_in_a_mutation_is_invalid_id(gql: GraphQLClient, spot: IdSpot) -> None:
    # given two artists and their things
    world = await build_world(gql)
    before = await database_state()
    for what, bad in malformed_ids(spot.type_name, spot.wrong_type(world)).items():
        # when ada sends a malformed id where the mutation takes an id
        result = await gql.execute(spot.document, spot.variables(world, bad), as_="ada")
        # then the payload names the field with INVALID_ID, and nothing changed
        refused(result, spot.name, [(spot.field, "INVALID_ID")], what)
    assert await database_state() == before


QUERY_ID_SPOTS = [
    pytest.param("artwork", "Artwork", lambda w: w.post, id="artwork"),
    pytest.param("post", "Post", lambda w: w.artwork, id="post"),
    pytest.param("node", "Post", lambda w: base64.b64encode(b"PageInfo:1").decode(), id="node"),
]


@pytest.mark.parametrize(("field", "type_name", "wrong_type"), QUERY_ID_SPOTS)
async def test_malformed_id_in_a_query_is_bad_user_input(
    gql: GraphQLClient, field: str, type_name: str, wrong_type: Any
) -> None:
    # given two artists and their things
    world = await build_world(gql)
    ids = malformed_ids(type_name, wrong_type(world))
    if field == "node":
        del ids["wrong type"]  # node takes any type; a type that is no node is "unknown type"
        ids["not a node"] = wrong_type(world)
    for what, bad in ids.items():
        # when anyone reads by a malformed id
        result = await gql.execute(f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": bad})
        # then the field is null with one BAD_USER_INPUT error at it
        query_refused(result, {field: None}, [field], what)


# --- pages and cursors ------------------------------------------------------------------------


@dataclass(frozen=True)
class ListField:
    """A connection field: the query to page it, what ``data`` is when the page is refused, the
    error path, and the kind of cursor it issues."""

    query: str
    refused_data: dict[str, Any] | None
    path: list[str | int]
    kind: str


def _user_list(field: str, kind: str) -> ListField:
    return ListField(
        f"""query($first: Int, $after: String) {{
              user(handle: "ada") {{ {field}(first: $first, after: $after) {{
                edges {{ cursor }} }} }} }}""",
        {"user": None},
        ["user", field],
        kind,
    )


def _comments(subject: str, variable: str) -> ListField:
    return ListField(
        f"""query($first: Int, $after: String, ${variable}: ID!) {{
              {subject}(id: ${variable}) {{ comments(first: $first, after: $after) {{
                edges {{ cursor }} }} }} }}""",
        {subject: None},
        [subject, "comments"],
        "comment",
    )


LIST_FIELDS = {
    "discoverFeed": ListField(
        """query($first: Int, $after: String) {
             discoverFeed(first: $first, after: $after) { edges { cursor } } }""",
        None,
        ["discoverFeed"],
        "post",
    ),
    "homeFeed": ListField(
        """query($first: Int, $after: String) {
             homeFeed(first: $first, after: $after) { edges { cursor } } }""",
        None,
        ["homeFeed"],
        "post",
    ),
    "tagFeed": ListField(
        """query($first: Int, $after: String) {
             tagFeed(tag: "harbour", first: $first, after: $after) { edges { cursor } } }""",
        None,
        ["tagFeed"],
        "post",
    ),
    "portfolio": _user_list("portfolio", "portfolio"),
    "posts": _user_list("posts", "post"),
    "followers": _user_list("followers", "follow"),
    "following": _user_list("following", "follow"),
    "postComments": _comments("post", "post"),
    "artworkComments": _comments("artwork", "artwork"),
}


async def build_lists(gql: GraphQLClient) -> tuple[World, dict[str, Any], dict[str, str]]:
    """A world where each list has an item; the variables every list query takes, and a cursor
    of each kind that the API issued."""
    world = await build_world(gql)
    await ok(gql, FOLLOW, {"u": world.ben}, "ada")
    await ok(gql, FOLLOW, {"u": world.ada}, "ben")
    await new_post(gql, "ada", "New #harbour")
    for subject in (world.post, world.artwork):
        await ok(gql, ADD_COMMENT, {"i": {"subjectId": subject, "text": "nice"}}, "ben")
    variables = {"post": world.post, "artwork": world.artwork}
    cursors = {}
    for list_field in LIST_FIELDS.values():
        used = {k: v for k, v in variables.items() if f"${k}:" in list_field.query}
        result = await gql.execute(list_field.query, {"first": 1, **used}, as_="ada")
        (edge,) = _edges(result.data)
        cursors[list_field.kind] = edge["cursor"]
    assert set(cursors) == {"post", "portfolio", "follow", "comment"}
    return world, variables, cursors


def _edges(data: Any) -> list[dict[str, Any]]:
    """The edges of the one connection in ``data``, however deep."""
    while "edges" not in data:
        (data,) = data.values()
    return list(data["edges"])


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("name", list(LIST_FIELDS))
async def test_page_size_out_of_range_is_bad_user_input(gql: GraphQLClient, name: str) -> None:
    # given lists that each have items
    _, variables, _ = await build_lists(gql)
    list_field = LIST_FIELDS[name]
    used = {k: v for k, v in variables.items() if f"${k}:" in list_field.query}
    for first in (101, -1, 1000):
        # when ada asks for a page of that size
        result = await gql.execute(list_field.query, {"first": first, **used}, as_="ada")
        # then the list is refused with BAD_USER_INPUT
        query_refused(result, list_field.refused_data, list_field.path, f"first={first}")
    # and the limits themselves are fine
    for first in (0, 100):
        assert (await gql.execute(list_field.query, {"first": first, **used}, as_="ada")).data


@pytest.mark.parametrize("name", list(LIST_FIELDS))
async def test_cursor_we_did_not_issue_is_bad_user_input(gql: GraphQLClient, name: str) -> None:
    # given lists that each have items, and a cursor of each kind
    _, variables, cursors = await build_lists(gql)
    list_field = LIST_FIELDS[name]
    used = {k: v for k, v in variables.items() if f"${k}:" in list_field.query}
    garbage = {
        "not base64": "!!not a cursor!!",
        "empty": "",
        "base64 of garbage": _encode("garbage"),
        "no key": _encode(list_field.kind),
        "non-numeric key": _encode(f"{list_field.kind}:abc"),
        "huge key": _encode(f"{list_field.kind}:{'9' * 30}"),
        "too many parts": _encode(f"{list_field.kind}:1:2:3"),
        "unknown kind": _encode("gallery:1"),
        "non-ascii": "é",
    }
    others = {f"{kind} cursor": c for kind, c in cursors.items() if kind != list_field.kind}
    for what, cursor in {**garbage, **others}.items():
        # when ada pages on with it
        result = await gql.execute(list_field.query, {"after": cursor, **used}, as_="ada")
        # then the list is refused with BAD_USER_INPUT
        query_refused(result, list_field.refused_data, list_field.path, what)
    # and its own kind of cursor is fine
    own = await gql.execute(
        list_field.query, {"after": cursors[list_field.kind], **used}, as_="ada"
    )
    assert own.data


async def test_anonymous_home_feed_is_unauthenticated(gql: GraphQLClient) -> None:
    # when someone anonymous reads the home feed, then it is refused
    result = await gql.execute(LIST_FIELDS["homeFeed"].query)
    assert result.status == 200, result.body
    assert result.body["data"] is None
    assert result.codes == ["UNAUTHENTICATED"]


# --- follows and likes: idempotent, never yourself ------------------------------------------------


async def test_self_follow_is_refused(gql: GraphQLClient) -> None:
    # given ada
    world = await build_world(gql)
    before = await database_state()
    # when she follows herself
    result = await gql.execute(FOLLOW, {"u": world.ada}, as_="ada")
    # then it is refused, and nothing changed
    refused(result, "follow", [("userId", "SELF_FOLLOW")])
    assert await database_state() == before


async def test_follow_twice_counts_once(gql: GraphQLClient) -> None:
    # given ada following ben
    world = await build_world(gql)
    first = await ok(gql, FOLLOW, {"u": world.ben}, "ada")
    # when she follows him again
    second = await ok(gql, FOLLOW, {"u": world.ben}, "ada")
    # then it is no error, and he has one follower
    assert first["user"] == second["user"] == {"followerCount": 1}
    assert await Follow.all().count() == 1
    ada = await User.get(handle_key="ada")
    ben = await User.get(handle_key="ben")
    assert (ada.following_count, ben.follower_count) == (1, 1)


async def test_unfollow_when_not_following_is_fine(gql: GraphQLClient) -> None:
    # given ada, who does not follow ben
    world = await build_world(gql)
    before = await database_state()
    # when she unfollows him (twice)
    for _ in range(2):
        unfollowed = await ok(gql, UNFOLLOW, {"u": world.ben}, "ada")
        # then it is no error, and nothing changed
        assert unfollowed["user"] == {"followerCount": 0}
    assert await database_state() == before


async def test_follow_then_unfollow_twice_ends_at_zero(gql: GraphQLClient) -> None:
    # given ada following ben
    world = await build_world(gql)
    before = await database_state()
    await ok(gql, FOLLOW, {"u": world.ben}, "ada")
    # when she unfollows him twice
    for _ in range(2):
        unfollowed = await ok(gql, UNFOLLOW, {"u": world.ben}, "ada")
        assert unfollowed["user"] == {"followerCount": 0}
    # then the counters are back where they were, never negative
    assert await database_state() == before


async def test_like_twice_counts_once(gql: GraphQLClient) -> None:
    # given ben's public post and artwork
    world = await build_world(gql)
    for like, unlike, key, subject in (
        (LIKE_POST, UNLIKE_POST, "p", world.ben_post),
        (LIKE_ARTWORK, UNLIKE_ARTWORK, "a", world.ben_artwork),
    ):
        before = await database_state()
        # when ada likes it twice
        for _ in range(2):
            liked = await ok(gql, like, {key: subject}, "ada")
            # then it is no error, and it has one like
            (node,) = (v for k, v in liked.items() if k != "errors")
            assert node == {"likeCount": 1, "viewerHasLiked": True}
        # when she unlikes it twice, then it has none, and all is as before
        for _ in range(2):
            unliked = await ok(gql, unlike, {key: subject}, "ada")
            (node,) = (v for k, v in unliked.items() if k != "errors")
            assert node == {"likeCount": 0, "viewerHasLiked": False}
        assert await database_state() == before


async def test_unlike_when_not_liked_is_fine(gql: GraphQLClient) -> None:
    # given ben's post, liked by ben himself and not by ada
    world = await build_world(gql)
    await ok(gql, LIKE_POST, {"p": world.ben_post}, "ben")
    before = await database_state()
    # when ada unlikes it
    unliked = await ok(gql, UNLIKE_POST, {"p": world.ben_post}, "ada")
    # then ben's like stays
    assert unliked["post"] == {"likeCount": 1, "viewerHasLiked": False}
    assert await PostLike.all().count() == 1
    assert await database_state() == before


# --- explicit null and omitted fields -------------------------------------------------------------

ARTWORK_STATE = """query($a: ID!) { artwork(id: $a) {
  title description medium tags visibility aiTrainingPolicyOverride aiTrainingPolicy } }"""


async def test_update_artwork_refuses_null_for_a_required_field(gql: GraphQLClient) -> None:
    # given ada's artwork
    world = await build_world(gql)
    before = await database_state()
    for field in ("title", "description", "medium", "tags", "visibility"):
        # when she sends null for a field that cannot be empty
        result = await gql.execute(
            UPDATE_ARTWORK, {"a": world.artwork, "i": {field: None}}, as_="ada"
        )
        # then it is refused by that field
        refused(result, "updateArtwork", [(field, "REQUIRED")])
    # and all at once, each is named
    result = await gql.execute(
        UPDATE_ARTWORK,
        {"a": world.artwork, "i": {"title": None, "tags": None, "aiTrainingPolicy": None}},
        as_="ada",
    )
    refused(result, "updateArtwork", [("title", "REQUIRED"), ("tags", "REQUIRED")])
    assert await database_state() == before


async def test_update_artwork_null_policy_clears_the_override(gql: GraphQLClient) -> None:
    # given ada's artwork that allows AI training against her default (disallowed)
    await gql.sign_up("ada", PASSWORD)
    artwork = await new_artwork(gql, "ada", "Harbour", aiTrainingPolicy="ALLOWED")
    # when she updates the description only, the override is kept
    await ok(gql, UPDATE_ARTWORK, {"a": artwork, "i": {"description": "Ink"}}, "ada")
    kept = (await gql.execute(ARTWORK_STATE, {"a": artwork}, as_="ada")).data["artwork"]
    assert kept == {
        "title": "Harbour",
        "description": "Ink",
        "medium": "",
        "tags": [],
        "visibility": "PUBLIC",
        "aiTrainingPolicyOverride": "ALLOWED",
        "aiTrainingPolicy": "ALLOWED",
    }
    # when she sends null for the policy
    await ok(gql, UPDATE_ARTWORK, {"a": artwork, "i": {"aiTrainingPolicy": None}}, "ada")
    # then the override is cleared and her default applies; nothing else changed
    cleared = (await gql.execute(ARTWORK_STATE, {"a": artwork}, as_="ada")).data["artwork"]
    assert cleared == {**kept, "aiTrainingPolicyOverride": None, "aiTrainingPolicy": "DISALLOWED"}
    assert (await Artwork.get(id=pk_of(artwork))).ai_training_policy is None


PROFILE = """query { viewer {
  displayName bio links openForCommissions aiTrainingPolicy } }"""


async def test_update_profile_null_is_refused_and_omitted_is_kept(gql: GraphQLClient) -> None:
    # given ada with a profile
    await gql.sign_up("ada", PASSWORD)
    await ok(
        gql,
        UPDATE_PROFILE,
        {
            "i": {
                "displayName": "Ada",
                "bio": "Ink",
                "links": ["https://ada.example.com"],
                "openForCommissions": True,
                "aiTrainingPolicy": "ALLOWED",
            }
        },
        "ada",
    )
    profile = (await gql.execute(PROFILE, as_="ada")).data["viewer"]
    before = await database_state()
    for field in ("displayName", "bio", "links", "openForCommissions", "aiTrainingPolicy"):
        # when she sends null for a field
        result = await gql.execute(UPDATE_PROFILE, {"i": {field: None}}, as_="ada")
        # then it is refused by that field, since a profile field cannot be unset
        refused(result, "updateProfile", [(field, "REQUIRED")])
    assert await database_state() == before
    # when she changes the bio only, then the fields she omitted are kept
    await ok(gql, UPDATE_PROFILE, {"i": {"bio": "Ink and paper"}}, "ada")
    assert (await gql.execute(PROFILE, as_="ada")).data["viewer"] == {
        **profile,
        "bio": "Ink and paper",
    }


# --- lookups by text ------------------------------------------------------------------------------


async def test_unstorable_text_in_lookups_finds_nothing(gql: GraphQLClient) -> None:
    # given ada
    await gql.sign_up("ada", PASSWORD)
    for handle in (f"ada{NUL}", f"ada{LONE_SURROGATE}"):
        # when someone looks up a handle no account can have
        result = await gql.execute("query($h: String!) { user(handle: $h) { id } }", {"h": handle})
        # then there is no such user, and no error
        assert result.status == 200, result.body
        assert result.body == {"data": {"user": None}}
    for tag in (f"ink{NUL}", LONE_SURROGATE):
        result = await gql.execute(
            "query($t: String!) { tagFeed(tag: $t) { nodes { id } } }", {"t": tag}
        )
        assert result.status == 200, result.body
        assert result.codes == ["BAD_USER_INPUT"]
    assert await Post.all().count() == 0
