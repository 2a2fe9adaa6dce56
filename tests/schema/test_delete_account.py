"""deleteAccount: the password first; at once the account is gone for every reader and its
sign-ins end; then every row and every stored object of it goes, and what others keep is right.

The big case deletes an account of 500 posts and 200 images (seeded as the upload job publishes
them: ``tests.leaving``) tangled with two other members (follows both ways, likes grouped with a
stranger's, comments, a reply, a mention, a block, a mute, reports both ways), and holds the
database to what it was before the account existed (but the deletion's own record and its line
in the moderation log) and the store to the objects it held before. The crash halfway is
``tests/e2e/test_account_deletion.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from resolvers import leaving, passwords
from resolvers.rules import DELETED, HIDDEN_FROM_ALL
from storage.models import (
    AccountDeletion,
    Comment,
    DeletionState,
    Follow,
    ModerationAction,
    Notification,
    Post,
    PostLike,
    User,
)
from storage.objects import LocalObjectStore
from tests.graphql import GraphQLClient, database_state, global_id, pk_of
from tests.leaving import seed_account
from tests.security.subscriptions import HOME_FEED, Subscription

PASSWORD = "correct horse"
DELETE = "mutation($p: String!) { deleteAccount(password: $p) { deletedId errors { field code } } }"
LOG_IN = 'mutation($l: String!) { logIn(input: {login: $l, password: "correct horse"}) {'
LOG_IN += " token errors { code } } }"
POST = (
    "mutation($t: String!, $r: ID, $v: Visibility!) { createPost(input: {text: $t, replyTo: $r,"
    " visibility: $v}) { post { id } errors { code } } }"
)
REPORT = "mutation($s: ID!) { report(input: {subjectId: $s, reason: SPAM}) { errors { code } } }"
BLOCK = "mutation($u: ID!) { blockUser(userId: $u) { errors { code } } }"
MUTE = "mutation($u: ID!) { muteUser(userId: $u) { errors { code } } }"
READS = (
    'query($p: ID!) { user(handle: "leaver") { id } node(id: $p) { id }'
    " discoverFeed { nodes { author { handle } } }"
    ' search(query: "leaving", kind: POSTS) { nodes { ... on Post { id } } } }'
)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


@pytest.fixture
async def client(clean_db: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient.for_app(GESSO_KEEP_ORIGINALS="true") as gql:
        yield gql


def stored_keys(gql: GraphQLClient) -> list[str]:
    store = gql.services.media.store
    assert isinstance(store, LocalObjectStore)
    root = Path(store._objects)
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name[0] != "."
    )


async def rows() -> dict[str, list[dict[str, Any]]]:
    """Every row, but the deletion's own records, a session's last use and a notification's id
    (a group takes a new id when it gains an actor: it is compared by what it says)."""
    state = await database_state()
    del state["account_deletions"]
    state["moderation_actions"] = [
        a for a in state["moderation_actions"] if a["action"] != leaving.ACCOUNT_DELETED
    ]
    for token in state["auth_tokens"]:
        token.pop("last_used_at")
    said = [
        {k: v for k, v in n.items() if k not in ("id", "created_at")}
        for n in state["notifications"]
    ]
    state["notifications"] = sorted(said, key=repr)
    return state


async def until_done(account_id: int, seconds: float = 300) -> AccountDeletion:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = await AccountDeletion.get(id=account_id)
        if row.state is DeletionState.DONE:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"the deletion did not finish: {row.step} {row.removed}")


def test_the_deletion_is_a_hold_of_the_rules() -> None:
    # the one place rules live hides an account being deleted like a suspended one, on every
    # engine that renders the holds
    assert DELETED in HIDDEN_FROM_ALL
    assert DELETED.model is AccountDeletion


async def test_a_wrong_password_deletes_nothing_and_counts_as_a_failed_sign_in(
    client: GraphQLClient,
) -> None:
    gql = client
    await gql.sign_up("leaver", PASSWORD)
    before = await database_state()
    for _ in range(10):
        wrong = await gql.execute(DELETE, {"p": "not my password"}, as_="leaver")
        assert wrong.data["deleteAccount"] == {
            "deletedId": None,
            "errors": [{"field": "password", "code": "INVALID_CREDENTIALS"}],
        }
    assert await database_state() == before
    # the eleventh try is refused before the password is even checked, the right one too
    limited = await gql.execute(DELETE, {"p": PASSWORD}, as_="leaver")
    assert limited.codes == ["RATE_LIMITED"]
    assert not await AccountDeletion.exists()
    assert (await gql.execute("{ viewer { handle } }", as_="leaver")).data == {
        "viewer": {"handle": "leaver"}
    }


async def test_deleting_an_account_leaves_no_row_and_no_object(client: GraphQLClient) -> None:
    gql = client
    # given two members with their own things, and a stranger's like of the friend's post
    friend = await gql.sign_up("friend", PASSWORD)
    stranger = await gql.sign_up("stranger", PASSWORD)
    posted = await gql.execute(POST, {"t": "friend's post", "v": "PUBLIC"}, as_="friend")
    friend_post = posted.data["createPost"]["post"]["id"]
    like = "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }"
    assert (await gql.execute(like, {"p": friend_post}, as_="stranger")).status == 200
    follow = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
    await gql.execute(follow, {"u": stranger}, as_="friend")
    before_rows = await rows()
    before_keys = stored_keys(gql)
    # and an account of 500 posts and 200 images, tangled with them
    leaver_gid = await gql.sign_up("leaver", PASSWORD)
    leaver = pk_of(leaver_gid)
    seeded = await seed_account(gql.services.media.store, leaver, posts=500, images=200)
    await User.filter(id=leaver).update(post_count=500, artwork_count=50)
    first_post = await gql.execute(
        POST, {"t": "first words, hello @friend", "v": "FOLLOWERS"}, as_="leaver"
    )
    leaver_post = first_post.data["createPost"]["post"]["id"]
    reply = await gql.execute(POST, {"t": "a reply", "r": friend_post, "v": "PUBLIC"}, as_="leaver")
    assert reply.data["createPost"]["errors"] == []
    for actor, query, variables in [
        ("leaver", follow, {"u": friend}),
        ("friend", follow, {"u": leaver_gid}),
        ("leaver", like, {"p": friend_post}),
        ("friend", like, {"p": leaver_post}),
        (
            "leaver",
            'mutation($p: ID!) { addComment(input: {subjectId: $p, text: "hi"}) {'
            " errors { code } } }",
            {"p": friend_post},
        ),
        (
            "friend",
            'mutation($p: ID!) { addComment(input: {subjectId: $p, text: "yo"}) {'
            " errors { code } } }",
            {"p": leaver_post},
        ),
        ("leaver", BLOCK, {"u": stranger}),
        ("leaver", MUTE, {"u": friend}),
        ("leaver", REPORT, {"s": friend_post}),
        ("friend", REPORT, {"s": leaver_gid}),
    ]:
        done = await gql.execute(query, variables, as_=actor)
        assert done.status == 200, done.body
        assert not done.body.get("errors"), done.body
        assert all(not v["errors"] for v in done.data.values()), done.body
    grouped = await Notification.get(group_key=f"post_liked:{pk_of(friend_post)}")
    assert grouped.actor_count == 2
    assert (await Post.get(id=pk_of(friend_post))).reply_count == 1
    # and the friend's live home feed, which follows the leaver
    feed = Subscription(gql, await User.get(handle_key="friend"), HOME_FEED)
    await feed.start()
    try:
        # when the leaver deletes the account with the right password
        started = time.perf_counter()
        deleted = await gql.execute(DELETE, {"p": PASSWORD}, as_="leaver")
        assert deleted.data["deleteAccount"] == {"deletedId": leaver_gid, "errors": []}
        # then at once it can no longer sign in, and its token is refused
        assert (await gql.execute("{ viewer { handle } }", as_="leaver")).status == 401
        again = await gql.execute(LOG_IN, {"l": "leaver"})
        assert again.data["logIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
        # and once it is done, nothing of it reads, for a member or anonymously
        finished = await until_done(leaver)
        seconds = time.perf_counter() - started
        print(f"deleted 500 posts and 200 images in {seconds:.2f} s: {finished.removed}")
        for viewer in (None, "friend"):
            hidden = await gql.execute(READS, {"p": leaver_post}, as_=viewer)
            assert hidden.data["user"] is None, hidden.body
            assert hidden.data["node"] is None, hidden.body
            assert hidden.data["search"]["nodes"] == []
            assert all(
                n["author"]["handle"] != "leaver" for n in hidden.data["discoverFeed"]["nodes"]
            )
        # the friend's live feed took tombstones of its posts
        tombstones = set()
        while True:
            try:
                event = await feed.next_data(wait=1)
            except TimeoutError:
                break
            if event["homeFeed"]["kind"] == "DELETED":
                tombstones.add(pk_of(event["homeFeed"]["deletedPostId"]))
        assert pk_of(leaver_post) in tombstones
        assert set(seeded.posts) & tombstones
    finally:
        await feed.close()
    # then no row is left but the deletion's record and its line in the moderation log, and
    # every counter of the others is as before (followers, likes, comments, replies)
    assert await rows() == before_rows
    record = await AccountDeletion.get(id=leaver)
    assert (record.handle_key, record.state, record.step) == ("leaver", DeletionState.DONE, "done")
    assert (record.removed["posts"], record.removed["artworks"]) == (502, 50)
    logged = await ModerationAction.get(action=leaving.ACCOUNT_DELETED)
    assert logged.subject_id == leaver
    assert len(logged.reports) == 1
    # and no object: the store holds what it held before the account existed
    assert stored_keys(gql) == before_keys
    # the handle stays reserved; the address is free again
    taken = await gql.execute(
        'mutation { signUp(input: {handle: "Leaver", email: "new@example.com",'
        ' password: "correct horse"}) { errors { code } } }'
    )
    assert taken.data["signUp"]["errors"] == [{"code": "HANDLE_TAKEN"}]
    await gql.sign_up("returning", PASSWORD)  # (its address is returning@example.com)
    reused = await gql.execute(
        'mutation { signUp(input: {handle: "newname", email: "leaver@example.com",'
        ' password: "correct horse"}) { errors { code } } }'
    )
    assert reused.data["signUp"]["errors"] == []


async def test_a_deletion_resumes_where_it_stopped(client: GraphQLClient) -> None:
    gql = client
    leaver_gid = await gql.sign_up("leaver", PASSWORD)
    leaver = pk_of(leaver_gid)
    before_keys = stored_keys(gql)
    await seed_account(gql.services.media.store, leaver, posts=30, images=20, artworks=5)
    # given a deletion recorded and stopped in the middle of its posts (as a crash leaves it:
    # some posts gone, the step not finished)
    await AccountDeletion.create(id=leaver, handle_key="leaver", step="posts")
    (posts,) = [step for step in leaving.STEPS if step.name == "posts"]
    assert await posts.run(gql.services, leaver, 10) == 10
    assert await Post.filter(author_id=leaver).count() == 20
    # when a job runs it again (and then once more, as a duplicate delivery would)
    assert await leaving.run(gql.services, leaver) == "deleted"
    assert await leaving.run(gql.services, leaver) == "skipped"
    # then it finished from there
    assert not await User.exists(id=leaver)
    assert stored_keys(gql) == before_keys


HELD_READS = (
    'query($p: ID!) { user(handle: "leaver") { id } node(id: $p) { id }'
    ' users: search(query: "leaver", kind: USERS) { nodes { ... on User { handle } } }'
    ' posts: search(query: "farewell", kind: POSTS) { nodes { ... on Post { id } } } }'
)
DISCOVER = "query Discover { discoverFeed { nodes { text } } }"
INBOX = "{ notifications { nodes { kind actorCount } } }"


async def test_from_the_request_on_the_account_reads_as_missing_on_every_path(
    client: GraphQLClient,
) -> None:
    gql = client
    await gql.sign_up("friend", PASSWORD)
    friend = await User.get(handle_key="friend")
    leaver_gid = await gql.sign_up("leaver", PASSWORD)
    posted = await gql.execute(POST, {"t": "farewell tour", "v": "PUBLIC"}, as_="leaver")
    post = posted.data["createPost"]["post"]["id"]
    follow = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
    await gql.execute(follow, {"u": await gql.sign_up("other", PASSWORD)}, as_="leaver")
    await gql.execute(follow, {"u": pk_global(friend.id)}, as_="leaver")
    # given everything of the leaver readable, and the discover feed's plan learned
    plans = gql.app.state.graphql.plans
    for viewer in (None, "friend"):
        shown = await gql.execute(HELD_READS, {"p": post}, as_=viewer)
        assert shown.data["user"] == {"id": leaver_gid}
        assert shown.data["node"] == {"id": post}
        assert shown.data["users"]["nodes"] == [{"handle": "leaver"}]
        assert shown.data["posts"]["nodes"] == [{"id": post}]
        assert (await gql.execute(DISCOVER, as_=viewer)).data["discoverFeed"]["nodes"]
    assert (await gql.execute(INBOX, as_="friend")).data["notifications"]["nodes"] == [
        {"kind": "NEW_FOLLOWER", "actorCount": 1}
    ]
    # when the deletion is recorded (as deleteAccount does first), no job having run yet
    await AccountDeletion.create(id=pk_of(leaver_gid), handle_key="leaver")
    # then nothing of it reads, for a member or anonymously, on the regular and compiled paths
    for viewer in (None, "friend"):
        hidden = await gql.execute(HELD_READS, {"p": post}, as_=viewer)
        assert hidden.data == {
            "user": None,
            "node": None,
            "users": {"nodes": []},
            "posts": {"nodes": []},
        }
        served = plans.served
        compiled = await gql.execute(DISCOVER, as_=viewer)
        assert plans.served == served + 1
        assert compiled.data["discoverFeed"]["nodes"] == []
    # and the inbox no longer shows what it did
    assert (await gql.execute(INBOX, as_="friend")).data["notifications"]["nodes"] == []
    # and it cannot sign in
    refused = await gql.execute(LOG_IN, {"l": "leaver"})
    assert refused.data["logIn"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]


def pk_global(pk: int) -> str:
    return global_id("User", pk)


@pytest.fixture
async def small_batches(clean_db: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient.for_app(GESSO_DELETION_BATCH="5") as gql:
        yield gql


async def test_two_runs_of_one_deletion_at_once_change_each_counter_once(
    small_batches: GraphQLClient,
) -> None:
    # given a leaver tied to 12 others: follows both ways, a like and a comment on a post of
    # each, and a reply to one of them
    gql = small_batches
    leaver = pk_of(await gql.sign_up("leaver", PASSWORD))
    others = [pk_of(await gql.sign_up(f"other{n}", PASSWORD)) for n in range(12)]
    posts = [await Post.create(author_id=other, text="a post") for other in others]
    for other, post in zip(others, posts, strict=True):
        await Follow.create(follower_id=leaver, followee_id=other)
        await Follow.create(follower_id=other, followee_id=leaver)
        await PostLike.create(user_id=leaver, post_id=post.id)
        await Comment.create(author_id=leaver, post_id=post.id, text="hi")
    await Post.create(author_id=leaver, text="a reply", reply_to_id=posts[0].id)
    await User.filter(id__in=others).update(follower_count=1, following_count=1)
    await Post.filter(id__in=[p.id for p in posts]).update(like_count=1, comment_count=1)
    await Post.filter(id=posts[0].id).update(reply_count=1, public_reply_count=1)
    await AccountDeletion.create(id=leaver, handle_key="leaver")
    # when two workers run its job at once (a delivery after a lease ran out, say), in
    # batches of 5
    outcomes = await asyncio.gather(
        leaving.run(gql.services, leaver), leaving.run(gql.services, leaver)
    )
    assert "deleted" in outcomes
    # then every counter of the others lost exactly what the leaver gave it
    for user in await User.filter(id__in=others):
        assert (user.follower_count, user.following_count) == (0, 0), user.handle
    for post in await Post.filter(id__in=[p.id for p in posts]):
        assert (post.like_count, post.comment_count) == (0, 0), post.id
    first = await Post.get(id=posts[0].id)
    assert (first.reply_count, first.public_reply_count) == (0, 0)
    assert not await User.exists(id=leaver)
