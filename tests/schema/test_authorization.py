"""Who may run each mutation: every mutation of the schema as anonymous, as another signed-in user
and as the owner of what it acts on, with the exact outcome and its side effect (or its absence).

A new mutation fails ``test_matrix_covers_every_mutation`` until it gets a row in ``MATRIX``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from argon2 import PasswordHasher

from resolvers import credentials, passwords
from schema.root import schema
from storage.models import (
    AccountDeletion,
    AccountExport,
    AccountToken,
    AccountTokenPurpose,
    Artwork,
    ArtworkLike,
    AuthToken,
    Block,
    Comment,
    Follow,
    MediaAsset,
    MediaKind,
    Mute,
    Notification,
    Post,
    PostLike,
    Report,
    User,
)
from tests.graphql import GraphQLClient, Result, database_state, global_id, pk_of
from tests.images import photo

PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at a token cost: these tests are about rules and sign up many accounts."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


# --- the world each case starts from ----------------------------------------------------------


@dataclass(frozen=True)
class World:
    """``olga`` owns two artworks ("First", then "Second"), a post and her comment on it; ``otto``
    is another artist; ``tess`` is an artist both may follow."""

    gql: GraphQLClient
    olga: str
    otto: str
    tess: str
    first: str
    second: str
    post: str
    comment: str


async def build_world(gql: GraphQLClient) -> World:
    olga = await gql.sign_up("olga", PASSWORD)
    otto = await gql.sign_up("otto", PASSWORD)
    tess = await gql.sign_up("tess", PASSWORD)
    artworks = []
    for title in ("First", "Second"):
        created = await gql.execute(
            "mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {"
            " artwork { id } errors { code } } }",
            {"i": {"title": title}},
            as_="olga",
        )
        artworks.append(created.data["createArtwork"]["artwork"]["id"])
    posted = await gql.execute(
        'mutation { createPost(input: {text: "Opening night"}) { post { id } errors { code } } }',
        as_="olga",
    )
    post = posted.data["createPost"]["post"]["id"]
    commented = await gql.execute(
        ADD_COMMENT,
        {"i": {"subjectId": post, "text": "Thanks for coming"}},
        as_="olga",
    )
    comment = commented.data["addComment"]["comment"]["id"]
    return World(gql, olga, otto, tess, artworks[0], artworks[1], post, comment)


# --- what each mutation does, and how to see that it did ----------------------------------------


@dataclass(frozen=True)
class Spec:
    """One mutation: its document, its variables in a world, and a probe of its effect that reads
    ``after`` once it succeeded (and is unchanged when it was refused)."""

    document: str
    variables: Callable[[World], dict[str, Any]]
    probe: Callable[[], Awaitable[object]]
    after: object
    prepare: Callable[[World], Awaitable[None]] | None = None
    # uploads: variable path -> (filename, bytes, content type), sent as a multipart request
    files: dict[str, tuple[str, bytes, str]] | None = None
    # variables only known once ``prepare`` ran (e.g. the id of an uploaded image)
    late_variables: Callable[[], Awaitable[dict[str, Any]]] | None = None


# A spec whose mutation changes nothing (a read that needs an upload): only the outcome counts.
READ_ONLY = object()


def mutation(name: str, params: str = "", args: str = "") -> str:
    signature = f"({params})" if params else ""
    arguments = f"({args})" if args else ""
    return f"mutation{signature} {{ {name}{arguments} {{ errors {{ field code }} }} }}"


async def handles() -> object:
    return sorted(await User.all().values_list("handle", flat=True))


async def olga_tokens() -> object:
    return await AuthToken.filter(user__handle_key="olga").count()


async def tokens() -> object:
    return await AuthToken.all().count()


async def bios() -> object:
    return sorted(await User.all().values_list("bio", flat=True))


async def titles_by_id() -> object:
    return await Artwork.all().order_by("id").values_list("title", flat=True)


async def titles_and_count() -> object:
    olga = await User.get(handle_key="olga")
    return await titles_by_id(), olga.artwork_count


async def portfolio_order() -> object:
    return (
        await Artwork.filter(owner__handle_key="olga")
        .order_by("position")
        .values_list("title", flat=True)
    )


async def post_texts() -> object:
    return sorted(await Post.all().values_list("text", flat=True))


async def posts_and_count() -> object:
    olga = await User.get(handle_key="olga")
    return await post_texts(), olga.post_count


async def tess_followers() -> object:
    tess = await User.get(handle_key="tess")
    return await Follow.filter(followee_id=tess.id).count(), tess.follower_count


async def post_likes() -> object:
    post = await Post.get(text="Opening night")
    return await PostLike.filter(post_id=post.id).count(), post.like_count


async def artwork_likes() -> object:
    artwork = await Artwork.get(title="First")
    return await ArtworkLike.filter(artwork_id=artwork.id).count(), artwork.like_count


async def comment_texts() -> object:
    post = await Post.get(text="Opening night")
    return sorted(await Comment.all().values_list("text", flat=True)), post.comment_count


async def first_images() -> object:
    return await MediaAsset.filter(artwork__title="First").count()


async def avatars() -> object:
    return await MediaAsset.filter(kind=MediaKind.AVATAR).count()


async def tess_blocked() -> object:
    return await Block.filter(blocked__handle_key="tess").count()


async def deletions() -> object:
    return await AccountDeletion.all().count()


async def tess_muted() -> object:
    return await Mute.filter(muted__handle_key="tess").count()


async def sensitive_settings() -> object:
    return sorted(await User.all().values_list("show_sensitive", flat=True))


async def reports_on_tess() -> object:
    return await Report.filter(subject_owner__handle_key="tess").count()


async def open_reports() -> object:
    return await Report.filter(status="open").count()


async def tess_is_reported(world: World) -> None:
    done = await world.gql.execute(
        mutation("report", "$i: ReportInput!", "input: $i"),
        {"i": {"subjectId": world.tess, "reason": "SPAM"}},
        as_="otto",
    )
    assert done.data["report"]["errors"] == [], done.body


async def the_report() -> dict[str, Any]:
    return {"r": global_id("Report", (await Report.get()).id)}


async def tess_suspended() -> object:
    return (await User.get(handle_key="tess")).suspended_at is not None


async def tess_is_suspended(world: World) -> None:
    await User.filter(handle_key="tess").update(suspended_at=datetime.now(UTC))


async def post_labelled() -> object:
    return (await Post.get(text="Opening night")).ai_generated


async def nothing() -> object:
    return None


async def olga_read_mark() -> object:
    olga = await User.get(handle_key="olga")
    newest = await Notification.filter(recipient_id=olga.id).order_by("-id").first()
    return newest is not None and olga.notifications_read_id == newest.id


async def otto_likes_olgas_post(world: World) -> None:
    done = await world.gql.execute(LIKE_POST, {"p": world.post}, as_="otto")
    assert done.data["likePost"]["errors"] == [], done.body


NEW_PASSWORD = "brand new password"
# The token a ``prepare`` step mailed, for the mutation that spends it.
MAILED: dict[str, str] = {}


async def new_passwords() -> object:
    hashes = await User.all().values_list("password_hash", flat=True)
    return sum([await passwords.verify_password(str(h), NEW_PASSWORD) for h in hashes])


async def reset_tokens() -> object:
    return await AccountToken.filter(purpose=AccountTokenPurpose.PASSWORD_RESET).count()


async def olga_verified() -> object:
    return (await User.get(handle_key="olga")).email_verified


async def newest_verification_is_an_actors() -> object:
    newest = await AccountToken.filter(purpose=AccountTokenPurpose.VERIFY_EMAIL).order_by("-id")
    owner = await User.get(id=newest[0].user_id)
    return owner.handle in ("olga", "otto")


async def newest_export_is_an_actors() -> object:
    newest = await AccountExport.all().order_by("-id").first()
    if newest is None:
        return False
    owner = await User.get(id=newest.user_id)
    return owner.handle in ("olga", "otto")


def olga_is_mailed(purpose: AccountTokenPurpose) -> Callable[[World], Awaitable[None]]:
    async def prepare(world: World) -> None:
        olga = await User.get(handle_key="olga")
        MAILED["token"] = await credentials._issue(olga, purpose, credentials.RESET_TTL)

    return prepare


async def mailed_token() -> dict[str, Any]:
    return {"t": MAILED["token"]}


async def olgas_session() -> dict[str, Any]:
    (row,) = await AuthToken.filter(user__handle_key="olga")
    return {"s": global_id("Session", row.id)}


async def olgas_notification() -> dict[str, Any]:
    (row,) = await Notification.filter(recipient__handle_key="olga")
    return {"n": global_id("Notification", row.id)}


async def olga_uploads_an_image(world: World) -> None:
    done = await world.gql.upload(
        mutation("addArtworkImage", "$a: ID!, $i: ImageInput!", "artworkId: $a, image: $i"),
        {"a": world.first, "i": {"file": None}},
        {"i.file": ("first.jpg", IMAGE, "image/jpeg")},
        as_="olga",
    )
    assert done.data["addArtworkImage"]["errors"] == [], done.body


async def the_image() -> dict[str, Any]:
    image = await MediaAsset.get(artwork__title="First")
    return {"m": global_id("MediaAsset", image.id)}


IMAGE = photo(320, 256, seed=4)

ADD_COMMENT = """mutation($i: AddCommentInput!) {
  addComment(input: $i) { comment { id } errors { code } } }"""


def both_run(document: str, variables: Callable[[World], dict[str, Any]]) -> Any:
    """A ``prepare`` step: olga and otto both run ``document`` first (follow, like)."""

    async def prepare(world: World) -> None:
        for handle in ("olga", "otto"):
            done = await world.gql.execute(document, variables(world), as_=handle)
            assert done.status == 200, done.body
            assert "errors" not in done.body, done.body

    return prepare


FOLLOW = mutation("follow", "$u: ID!", "userId: $u")
LIKE_POST = mutation("likePost", "$p: ID!", "postId: $p")
LIKE_ARTWORK = mutation("likeArtwork", "$a: ID!", "artworkId: $a")

BLOCK = mutation("blockUser", "$u: ID!", "userId: $u")
MUTE = mutation("muteUser", "$u: ID!", "userId: $u")

SPECS: dict[str, Spec] = {
    "signUp": Spec(
        mutation("signUp", "$i: SignUpInput!", "input: $i"),
        lambda w: {"i": {"handle": "newcomer", "email": "new@example.com", "password": PASSWORD}},
        handles,
        ["newcomer", "olga", "otto", "tess"],
    ),
    "logIn": Spec(
        mutation("logIn", "$i: LogInInput!", "input: $i"),
        lambda w: {"i": {"login": "olga", "password": PASSWORD}},
        olga_tokens,
        2,
    ),
    "logOut": Spec(mutation("logOut"), lambda w: {}, tokens, 2),
    "updateProfile": Spec(
        mutation("updateProfile", "$i: UpdateProfileInput!", "input: $i"),
        lambda w: {"i": {"bio": "Ink and paper"}},
        bios,
        ["", "", "Ink and paper"],
    ),
    "createArtwork": Spec(
        mutation("createArtwork", "$i: CreateArtworkInput!", "input: $i"),
        lambda w: {"i": {"title": "Fresh"}},
        titles_by_id,
        ["First", "Second", "Fresh"],
    ),
    "updateArtwork": Spec(
        mutation("updateArtwork", "$a: ID!, $i: UpdateArtworkInput!", "id: $a, input: $i"),
        lambda w: {"a": w.first, "i": {"title": "Renamed"}},
        titles_by_id,
        ["Renamed", "Second"],
    ),
    "deleteArtwork": Spec(
        mutation("deleteArtwork", "$a: ID!", "id: $a"),
        lambda w: {"a": w.first},
        titles_and_count,
        (["Second"], 1),
    ),
    "reorderPortfolio": Spec(
        mutation("reorderPortfolio", "$a: [ID!]!", "artworkIds: $a"),
        lambda w: {"a": [w.first, w.second]},
        portfolio_order,
        ["First", "Second"],
    ),
    "createPost": Spec(
        mutation("createPost", "$i: CreatePostInput!", "input: $i"),
        lambda w: {"i": {"text": "Hello", "artworkIds": [w.first]}},
        post_texts,
        ["Hello", "Opening night"],
    ),
    "deletePost": Spec(
        mutation("deletePost", "$p: ID!", "id: $p"),
        lambda w: {"p": w.post},
        posts_and_count,
        ([], 0),
    ),
    "follow": Spec(FOLLOW, lambda w: {"u": w.tess}, tess_followers, (1, 1)),
    "unfollow": Spec(
        mutation("unfollow", "$u: ID!", "userId: $u"),
        lambda w: {"u": w.tess},
        tess_followers,
        (1, 1),
        prepare=both_run(FOLLOW, lambda w: {"u": w.tess}),
    ),
    "likePost": Spec(LIKE_POST, lambda w: {"p": w.post}, post_likes, (1, 1)),
    "unlikePost": Spec(
        mutation("unlikePost", "$p: ID!", "postId: $p"),
        lambda w: {"p": w.post},
        post_likes,
        (1, 1),
        prepare=both_run(LIKE_POST, lambda w: {"p": w.post}),
    ),
    "likeArtwork": Spec(LIKE_ARTWORK, lambda w: {"a": w.first}, artwork_likes, (1, 1)),
    "unlikeArtwork": Spec(
        mutation("unlikeArtwork", "$a: ID!", "artworkId: $a"),
        lambda w: {"a": w.first},
        artwork_likes,
        (1, 1),
        prepare=both_run(LIKE_ARTWORK, lambda w: {"a": w.first}),
    ),
    "addComment": Spec(
        mutation("addComment", "$i: AddCommentInput!", "input: $i"),
        lambda w: {"i": {"subjectId": w.post, "text": "Lovely"}},
        comment_texts,
        (["Lovely", "Thanks for coming"], 2),
    ),
    "deleteComment": Spec(
        mutation("deleteComment", "$c: ID!", "id: $c"),
        lambda w: {"c": w.comment},
        comment_texts,
        ([], 0),
    ),
    "addArtworkImage": Spec(
        mutation("addArtworkImage", "$a: ID!, $i: ImageInput!", "artworkId: $a, image: $i"),
        lambda w: {"a": w.first, "i": {"file": None, "altText": "detail"}},
        first_images,
        1,
        files={"i.file": ("detail.jpg", IMAGE, "image/jpeg")},
    ),
    "removeArtworkImage": Spec(
        mutation("removeArtworkImage", "$m: ID!", "id: $m"),
        lambda w: {},
        first_images,
        0,
        prepare=olga_uploads_an_image,
        late_variables=the_image,
    ),
    "setAvatar": Spec(
        mutation("setAvatar", "$i: ImageInput!", "image: $i"),
        lambda w: {"i": {"file": None}},
        avatars,
        1,
        files={"i.file": ("me.jpg", IMAGE, "image/jpeg")},
    ),
    "blockUser": Spec(BLOCK, lambda w: {"u": w.tess}, tess_blocked, 1),
    "unblockUser": Spec(
        mutation("unblockUser", "$u: ID!", "userId: $u"),
        lambda w: {"u": w.tess},
        tess_blocked,
        1,
        prepare=both_run(BLOCK, lambda w: {"u": w.tess}),
    ),
    "muteUser": Spec(MUTE, lambda w: {"u": w.tess}, tess_muted, 1),
    "unmuteUser": Spec(
        mutation("unmuteUser", "$u: ID!", "userId: $u"),
        lambda w: {"u": w.tess},
        tess_muted,
        1,
        prepare=both_run(MUTE, lambda w: {"u": w.tess}),
    ),
    "updateSettings": Spec(
        mutation("updateSettings", "$i: UpdateSettingsInput!", "input: $i"),
        lambda w: {"i": {"showSensitive": True}},
        sensitive_settings,
        [False, False, True],
    ),
    "report": Spec(
        mutation("report", "$i: ReportInput!", "input: $i"),
        lambda w: {"i": {"subjectId": w.tess, "reason": "SPAM"}},
        reports_on_tess,
        1,
    ),
    "resolveReport": Spec(
        mutation("resolveReport", "$r: ID!", "id: $r, action: DISMISS"),
        lambda w: {},
        open_reports,
        0,
        prepare=tess_is_reported,
        late_variables=the_report,
    ),
    "unsuspendUser": Spec(
        mutation("unsuspendUser", "$u: ID!", "userId: $u"),
        lambda w: {"u": w.tess},
        tess_suspended,
        False,
        prepare=tess_is_suspended,
    ),
    "setAiGenerated": Spec(
        mutation("setAiGenerated", "$p: ID!", "subjectId: $p, aiGenerated: true"),
        lambda w: {"p": w.post},
        post_labelled,
        True,
    ),
    "markNotificationsRead": Spec(
        mutation("markNotificationsRead", "$n: ID", "upTo: $n"),
        lambda w: {},
        olga_read_mark,
        True,
        prepare=otto_likes_olgas_post,
        late_variables=olgas_notification,
    ),
    "changePassword": Spec(
        mutation(
            "changePassword", "$c: String!, $n: String!", "currentPassword: $c, newPassword: $n"
        ),
        lambda w: {"c": PASSWORD, "n": NEW_PASSWORD},
        new_passwords,
        1,
    ),
    "requestPasswordReset": Spec(
        mutation("requestPasswordReset", "$e: String!", "email: $e"),
        lambda w: {"e": "olga@example.com"},
        reset_tokens,
        1,
    ),
    "resetPassword": Spec(
        mutation("resetPassword", "$t: String!, $n: String!", "token: $t, newPassword: $n"),
        lambda w: {"n": NEW_PASSWORD},
        new_passwords,
        1,
        prepare=olga_is_mailed(AccountTokenPurpose.PASSWORD_RESET),
        late_variables=mailed_token,
    ),
    "verifyEmail": Spec(
        mutation("verifyEmail", "$t: String!", "token: $t"),
        lambda w: {},
        olga_verified,
        True,
        prepare=olga_is_mailed(AccountTokenPurpose.VERIFY_EMAIL),
        late_variables=mailed_token,
    ),
    "resendVerification": Spec(
        mutation("resendVerification"), lambda w: {}, newest_verification_is_an_actors, True
    ),
    "updatePost": Spec(
        mutation("updatePost", "$p: ID!, $t: String!", "id: $p, text: $t"),
        lambda w: {"p": w.post, "t": "Closing night"},
        post_texts,
        ["Closing night"],
    ),
    "revokeSession": Spec(
        mutation("revokeSession", "$s: ID!", "id: $s"),
        lambda w: {},
        olga_tokens,
        0,
        late_variables=olgas_session,
    ),
    "exportAccount": Spec(
        mutation("exportAccount"), lambda w: {}, newest_export_is_an_actors, True
    ),
    "deleteAccount": Spec(
        mutation("deleteAccount", "$p: String!", "password: $p"),
        lambda w: {"p": PASSWORD},
        deletions,
        1,
    ),
    "identifyImage": Spec(
        mutation("identifyImage", "$f: Upload!", "file: $f"),
        lambda w: {"f": None},
        nothing,
        READ_ONLY,
        files={"f": ("found.jpg", IMAGE, "image/jpeg")},
    ),
}


# --- the matrix ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ok:
    """The mutation ran: ``errors == []`` and its effect is visible."""

    def __str__(self) -> str:
        return "ok"


@dataclass(frozen=True)
class TopLevel:
    """Refused before it ran: ``data`` null, one GraphQL error with this code, nothing changed."""

    code: str

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class Refused:
    """Refused in the payload: one ``UserError`` with this field and code, nothing changed."""

    code: str
    field: str | None = None

    def __str__(self) -> str:
        return self.code


OK = Ok()
UNAUTHENTICATED = TopLevel("UNAUTHENTICATED")
FORBIDDEN = TopLevel("FORBIDDEN")
NOT_OWNER = Refused("NOT_OWNER", "artworkIds")

Outcome = Ok | TopLevel | Refused
ROLES = ("anonymous", "other", "owner")
ACTOR = {"anonymous": None, "other": "otto", "owner": "olga"}

# The objects acted on are olga's (or, for follows, tess the third artist).
MATRIX: list[tuple[str, Outcome, Outcome, Outcome]] = [
    # mutation          anonymous        other user  owner
    ("signUp", OK, OK, OK),
    ("logIn", OK, OK, OK),
    ("logOut", UNAUTHENTICATED, OK, OK),
    ("updateProfile", UNAUTHENTICATED, OK, OK),
    ("createArtwork", UNAUTHENTICATED, OK, OK),
    ("updateArtwork", UNAUTHENTICATED, FORBIDDEN, OK),
    ("deleteArtwork", UNAUTHENTICATED, FORBIDDEN, OK),
    ("reorderPortfolio", UNAUTHENTICATED, NOT_OWNER, OK),
    ("createPost", UNAUTHENTICATED, NOT_OWNER, OK),
    ("deletePost", UNAUTHENTICATED, FORBIDDEN, OK),
    ("follow", UNAUTHENTICATED, OK, OK),
    ("unfollow", UNAUTHENTICATED, OK, OK),
    ("likePost", UNAUTHENTICATED, OK, OK),
    ("unlikePost", UNAUTHENTICATED, OK, OK),
    ("likeArtwork", UNAUTHENTICATED, OK, OK),
    ("unlikeArtwork", UNAUTHENTICATED, OK, OK),
    ("addComment", UNAUTHENTICATED, OK, OK),
    ("deleteComment", UNAUTHENTICATED, FORBIDDEN, OK),
    ("addArtworkImage", UNAUTHENTICATED, FORBIDDEN, OK),
    ("removeArtworkImage", UNAUTHENTICATED, FORBIDDEN, OK),
    ("setAvatar", UNAUTHENTICATED, OK, OK),
    ("identifyImage", OK, OK, OK),
    ("blockUser", UNAUTHENTICATED, OK, OK),
    ("unblockUser", UNAUTHENTICATED, OK, OK),
    ("muteUser", UNAUTHENTICATED, OK, OK),
    ("unmuteUser", UNAUTHENTICATED, OK, OK),
    ("updateSettings", UNAUTHENTICATED, OK, OK),
    # reports and moderation: the moderator and admin columns are in test_moderation_matrix
    ("report", UNAUTHENTICATED, OK, OK),
    ("resolveReport", UNAUTHENTICATED, FORBIDDEN, FORBIDDEN),
    ("unsuspendUser", UNAUTHENTICATED, FORBIDDEN, FORBIDDEN),
    ("setAiGenerated", UNAUTHENTICATED, FORBIDDEN, FORBIDDEN),
    ("markNotificationsRead", UNAUTHENTICATED, Refused("NOT_FOUND", "upTo"), OK),
    # one's own password and address; a mailed token is the right to use it, whoever holds it
    ("changePassword", UNAUTHENTICATED, OK, OK),
    ("requestPasswordReset", OK, OK, OK),
    ("resetPassword", OK, OK, OK),
    ("verifyEmail", OK, OK, OK),
    ("resendVerification", UNAUTHENTICATED, OK, OK),
    ("revokeSession", UNAUTHENTICATED, Refused("NOT_FOUND", "id"), OK),
    ("updatePost", UNAUTHENTICATED, FORBIDDEN, OK),
    ("exportAccount", UNAUTHENTICATED, OK, OK),
    # one's own account, whoever one is (the password says it is)
    ("deleteAccount", UNAUTHENTICATED, OK, OK),
]

CASES = [
    pytest.param(name, role, outcome, id=f"{name}-{role}-{outcome}")
    for name, *outcomes in MATRIX
    for role, outcome in zip(ROLES, outcomes, strict=True)
]


def schema_mutations() -> set[str]:
    introspection = schema.introspect()["__schema"]
    root = introspection["mutationType"]["name"]
    (mutation_type,) = [t for t in introspection["types"] if t["name"] == root]
    return {f["name"] for f in mutation_type["fields"]}


def test_matrix_covers_every_mutation() -> None:
    # given the mutations the schema exposes
    exposed = schema_mutations()
    # then the matrix has exactly one row per mutation, and each row a spec to run it
    rows = [name for name, *_ in MATRIX]
    assert len(rows) == len(set(rows))
    assert set(rows) == exposed
    assert set(SPECS) == exposed


@pytest.mark.parametrize(("name", "role", "outcome"), CASES)
async def test_mutation_authorization(
    gql: GraphQLClient, name: str, role: str, outcome: Outcome
) -> None:
    # given olga's things, otto and tess
    world = await build_world(gql)
    spec = SPECS[name]
    if spec.prepare is not None:
        await spec.prepare(world)
    before_probe = await spec.probe()
    before = await database_state()
    # when the actor of this role runs the mutation
    variables = spec.variables(world)
    if spec.late_variables is not None:
        variables |= await spec.late_variables()
    if spec.files is not None:
        result = await gql.upload(spec.document, variables, spec.files, as_=ACTOR[role])
    else:
        result = await gql.execute(spec.document, variables, as_=ACTOR[role])
    # then the outcome is exactly the expected one, and so is its effect
    assert result.status == 200, result.body
    if isinstance(outcome, Ok):
        assert result.data[name]["errors"] == []
        if spec.after is READ_ONLY:
            return
        assert before_probe != spec.after
        assert await spec.probe() == spec.after
        return
    assert_refused(result, name, outcome)
    assert await database_state() == before


def assert_refused(result: Result, name: str, outcome: TopLevel | Refused) -> None:
    if isinstance(outcome, TopLevel):
        assert result.body["data"] is None, result.body
        assert result.codes == [outcome.code], result.body
        assert result.errors[0]["path"] == [name]
        return
    assert result.data[name]["errors"] == [{"field": outcome.field, "code": outcome.code}]


# --- deleteComment: the author or the artist, nobody else -------------------------------------


DELETE_COMMENT = mutation("deleteComment", "$c: ID!", "id: $c")


@pytest.mark.parametrize(
    ("commenter", "deleter", "code"),
    [
        pytest.param("otto", "otto", None, id="the-author-on-another-artists-post"),
        pytest.param("otto", "olga", None, id="the-artist-under-her-post"),
        pytest.param("otto", "tess", "FORBIDDEN", id="a-third-artist"),
        pytest.param("olga", "otto", "FORBIDDEN", id="another-artist-on-the-authors-post"),
    ],
)
async def test_who_may_delete_a_comment(
    gql: GraphQLClient, commenter: str, deleter: str, code: str | None
) -> None:
    # given a comment by the commenter on olga's post
    world = await build_world(gql)
    commented = await gql.execute(
        ADD_COMMENT,
        {"i": {"subjectId": world.post, "text": "A remark"}},
        as_=commenter,
    )
    comment = commented.data["addComment"]["comment"]["id"]
    before = await database_state()
    # when the deleter deletes it
    result = await gql.execute(DELETE_COMMENT, {"c": comment}, as_=deleter)
    # then only the author and the artist may
    assert result.status == 200, result.body
    remaining = await Comment.filter(id=pk_of(comment)).exists()
    if code is None:
        assert result.data["deleteComment"]["errors"] == []
        assert remaining is False
        assert (await Post.get(id=pk_of(world.post))).comment_count == 1
    else:
        assert result.body["data"] is None
        assert result.codes == [code]
        assert await database_state() == before


async def test_comment_on_a_work_turned_private(gql: GraphQLClient) -> None:
    # given otto's comment on olga's artwork, which she then made private
    world = await build_world(gql)
    commented = await gql.execute(
        ADD_COMMENT, {"i": {"subjectId": world.first, "text": "Lovely"}}, as_="otto"
    )
    comment = commented.data["addComment"]["comment"]["id"]
    hidden = await gql.execute(
        mutation("updateArtwork", "$a: ID!, $i: UpdateArtworkInput!", "id: $a, input: $i"),
        {"a": world.first, "i": {"visibility": "PRIVATE"}},
        as_="olga",
    )
    assert hidden.data["updateArtwork"]["errors"] == []
    before = await database_state()
    # when tess, who cannot see it, deletes the comment
    refused = await gql.execute(DELETE_COMMENT, {"c": comment}, as_="tess")
    # then it reads as missing (not forbidden), and stays
    assert refused.status == 200, refused.body
    assert refused.data["deleteComment"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert await database_state() == before
    # when otto, its author, deletes it, then he may, though he no longer sees the artwork
    deleted = await gql.execute(DELETE_COMMENT, {"c": comment}, as_="otto")
    assert deleted.status == 200, deleted.body
    assert deleted.data["deleteComment"]["errors"] == []
    assert await Comment.filter(id=pk_of(comment)).exists() is False
    assert (await Artwork.get(id=pk_of(world.first))).comment_count == 0
