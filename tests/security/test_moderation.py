"""Reports and moderation: members report, moderators work the queue and act, admins read the
audit log, reporters hear the outcome; a suspended account cannot sign in, its sockets close and
its things are hidden from everyone until it is unsuspended."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from resolvers import moderation
from resolvers.moderation import Action
from storage.models import ModerationAction, Post, Report, Role, User
from storage.persisted import sha256_of
from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient, global_id
from tests.security.conftest import PRODUCTION
from tests.security.subscriptions import Subscription

REPORT = """mutation($i: ReportInput!) { report(input: $i) {
  report { id reason status note } errors { field code } } }"""
RESOLVE = """mutation($r: ID!, $a: ModerationActionKind!, $n: String) {
  resolveReport(id: $r, action: $a, note: $n) {
    report { status action } errors { field code } } }"""
UNSUSPEND = """mutation($u: ID!) { unsuspendUser(userId: $u, note: "appeal upheld") {
  user { handle } errors { code } } }"""
SET_AI = """mutation($s: ID!, $v: Boolean!) { setAiGenerated(subjectId: $s, aiGenerated: $v) {
  subject { id ... on Artwork { aiGenerated } ... on Post { aiGenerated } } errors { code } } }"""
QUEUE = """query($s: ReportStatus, $r: ReportReason) { moderationQueue(status: $s, reason: $r) {
  nodes { subjectType reasons subject { id } reports { reason note reporter { handle } } } } }"""
LOG = "{ moderationLog { nodes { action subjectType note moderator { handle } } } }"
CREATE_POST = """mutation($t: String!) { createPost(input: {text: $t}) { post { id } } }"""
LOG_IN = """mutation($l: String!) { logIn(input: {login: $l, password: "correct horse"}) {
  token errors { code } } }"""
NOTIFICATIONS = "subscription { notifications { kind outcome actor { handle } report { id } } }"


@pytest.fixture
async def town(clean_db: str) -> AsyncIterator[tuple[GraphQLClient, dict[str, str]]]:
    """``rex`` posts; ``amy`` and ``bob`` are members; ``mona`` a moderator, ``ada`` an admin
    (granted with the command line)."""
    async with GraphQLClient.for_app(**PRODUCTION) as gql:
        ids = {h: await gql.sign_up(h) for h in ("rex", "amy", "bob", "mona", "ada")}
        await moderation.set_role("mona", Role.MODERATOR, granted=True)
        await moderation.set_role("ada", Role.ADMIN, granted=True)
        made = await gql.execute(CREATE_POST, {"t": "buy followers cheap"}, as_="rex")
        ids["post"] = made.data["createPost"]["post"]["id"]
        yield gql, ids


async def _report(
    gql: GraphQLClient, who: str, subject: str, reason: str, note: str = ""
) -> dict[str, Any]:
    done = await gql.execute(
        REPORT, {"i": {"subjectId": subject, "reason": reason, "note": note}}, as_=who
    )
    payload: dict[str, Any] = done.data["report"]
    return payload


# --- reports ---------------------------------------------------------------------------------


async def test_one_open_report_per_reporter_and_subject(
    town: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = town
    first = await _report(gql, "amy", ids["post"], "SPAM", "a bot")
    assert first["errors"] == []
    assert first["report"] == {
        "id": first["report"]["id"], "reason": "SPAM", "status": "OPEN", "note": "a bot",
    }  # fmt: skip
    again = await _report(gql, "amy", ids["post"], "HARASSMENT")
    assert again == {"report": None, "errors": [{"field": "subjectId", "code": "DUPLICATE"}]}
    # another reporter, and the same reporter on another subject, may
    assert (await _report(gql, "bob", ids["post"], "SPAM"))["errors"] == []
    assert (await _report(gql, "amy", ids["rex"], "SPAM"))["errors"] == []
    assert await Report.all().count() == 3


@pytest.mark.parametrize(
    ("subject", "reporter", "code"),
    [
        ("post", "rex", "INVALID"),  # one's own
        ("missing", "amy", "NOT_FOUND"),
    ],
)
async def test_bad_reports_are_refused(
    town: tuple[GraphQLClient, dict[str, str]], subject: str, reporter: str, code: str
) -> None:
    gql, ids = town
    target = ids.get(subject, global_id("Post", 1))
    refused = await _report(gql, reporter, target, "OTHER")
    assert refused["errors"] == [{"field": "subjectId", "code": code}]
    assert await Report.all().count() == 0


async def test_a_private_post_cannot_be_reported_by_who_cannot_see_it(
    town: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, _ = town
    made = await gql.execute(
        'mutation { createPost(input: {text: "mine", visibility: PRIVATE}) { post { id } } }',
        as_="rex",
    )
    refused = await _report(gql, "amy", made.data["createPost"]["post"]["id"], "SPAM")
    assert refused["errors"] == [{"field": "subjectId", "code": "NOT_FOUND"}]


async def test_reports_are_rate_limited(clean_db: str) -> None:
    async with GraphQLClient.for_app(**PRODUCTION, GESSO_RATE_LIMITS="report=2/1h") as gql:
        await gql.sign_up("amy")
        targets = [await gql.sign_up(f"target{n}") for n in range(3)]
        codes = []
        for target in targets:
            done = await gql.execute(
                REPORT, {"i": {"subjectId": target, "reason": "SPAM"}}, as_="amy"
            )
            codes.append(done.codes[0] if done.errors else "OK")
        assert codes == ["OK", "OK", "RATE_LIMITED"]
        assert await Report.all().count() == 2


# --- the queue -------------------------------------------------------------------------------


async def test_the_queue_groups_reports_by_subject_oldest_first(
    town: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = town
    await _report(gql, "amy", ids["post"], "SPAM", "a bot")
    await _report(gql, "amy", ids["rex"], "HARASSMENT", "keeps messaging me")
    await _report(gql, "bob", ids["post"], "OTHER", "odd")
    queue = (await gql.execute(QUEUE, as_="mona")).data["moderationQueue"]["nodes"]
    assert queue == [
        {
            "subjectType": "POST",
            "reasons": ["SPAM", "OTHER"],
            "subject": {"id": ids["post"]},
            "reports": [
                {"reason": "SPAM", "note": "a bot", "reporter": {"handle": "amy"}},
                {"reason": "OTHER", "note": "odd", "reporter": {"handle": "bob"}},
            ],
        },
        {
            "subjectType": "USER",
            "reasons": ["HARASSMENT"],
            "subject": {"id": ids["rex"]},
            "reports": [
                {
                    "reason": "HARASSMENT",
                    "note": "keeps messaging me",
                    "reporter": {"handle": "amy"},
                }
            ],
        },
    ]
    harassment = await gql.execute(QUEUE, {"r": "HARASSMENT"}, as_="ada")
    assert [c["subjectType"] for c in harassment.data["moderationQueue"]["nodes"]] == ["USER"]


@pytest.mark.parametrize(
    ("who", "code"), [(None, "UNAUTHENTICATED"), ("amy", "FORBIDDEN"), ("rex", "FORBIDDEN")]
)
async def test_only_moderators_read_the_queue(
    town: tuple[GraphQLClient, dict[str, str]], who: str | None, code: str
) -> None:
    gql, ids = town
    await _report(gql, "amy", ids["post"], "SPAM")
    refused = await gql.execute(QUEUE, as_=who)
    assert refused.codes == [code]


@pytest.mark.parametrize(
    ("who", "code"),
    [(None, "UNAUTHENTICATED"), ("amy", "FORBIDDEN"), ("mona", "FORBIDDEN"), ("ada", None)],
)
async def test_only_admins_read_the_audit_log(
    town: tuple[GraphQLClient, dict[str, str]], who: str | None, code: str | None
) -> None:
    gql, _ = town
    result = await gql.execute(LOG, as_=who)
    if code is not None:
        assert result.codes == [code]
        return
    # the grants made from the command line are there, with no moderator
    assert result.data["moderationLog"]["nodes"] == [
        {"action": "GRANT_ROLE", "subjectType": "USER", "note": "admin", "moderator": None},
        {"action": "GRANT_ROLE", "subjectType": "USER", "note": "moderator", "moderator": None},
    ]


# --- actions ---------------------------------------------------------------------------------


async def _report_id(gql: GraphQLClient, ids: dict[str, str], subject: str = "post") -> str:
    done = await _report(gql, "amy", ids[subject], "SPAM")
    return str(done["report"]["id"])


async def test_removing_content_resolves_every_report_and_tells_each_reporter(
    town: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = town
    report = await _report_id(gql, ids)
    await _report(gql, "bob", ids["post"], "OTHER")
    inboxes = {
        h: Subscription(gql, await User.get(handle_key=h), NOTIFICATIONS) for h in ("amy", "bob")
    }
    for inbox in inboxes.values():
        await inbox.start()
    try:
        done = await gql.execute(
            RESOLVE, {"r": report, "a": "REMOVE_CONTENT", "n": "spam"}, as_="mona"
        )
        assert done.data["resolveReport"] == {
            "report": {"status": "RESOLVED", "action": "REMOVE_CONTENT"},
            "errors": [],
        }
        assert await Post.all().count() == 0
        assert await Report.filter(status="open").count() == 0
        for handle, inbox in inboxes.items():
            told = (await inbox.next_data())["notifications"]
            assert told["kind"] == "REPORT_RESOLVED", handle
            assert told["outcome"] == "REMOVE_CONTENT"
            assert told["actor"] is None  # the moderator is not named
            assert told["report"] is not None
    finally:
        for inbox in inboxes.values():
            await inbox.close()
    entry = await ModerationAction.get(action="remove_content")
    assert (entry.note, len(entry.reports)) == ("spam", 2)
    assert entry.moderator_id == (await User.get(handle_key="mona")).id
    # resolving again is refused, and changes nothing
    again = await gql.execute(RESOLVE, {"r": report, "a": "DISMISS"}, as_="mona")
    assert again.data["resolveReport"]["errors"] == [{"field": "id", "code": "INVALID"}]


@pytest.mark.parametrize(
    ("action", "column"),
    [("LABEL_AI_GENERATED", "ai_generated"), ("MARK_SENSITIVE", "sensitive"), ("DISMISS", None)],
)
async def test_labels_and_dismissals(
    town: tuple[GraphQLClient, dict[str, str]], action: str, column: str | None
) -> None:
    gql, ids = town
    report = await _report_id(gql, ids)
    done = await gql.execute(RESOLVE, {"r": report, "a": action}, as_="ada")  # an admin may too
    assert done.data["resolveReport"]["errors"] == []
    post = await Post.get()
    assert (post.ai_generated, post.sensitive) == (
        column == "ai_generated",
        column == "sensitive",
    )
    assert await ModerationAction.filter(action=Action[action].value).count() == 1


async def test_a_moderator_sets_and_clears_the_ai_label(
    town: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = town
    on = await gql.execute(SET_AI, {"s": ids["post"], "v": True}, as_="mona")
    assert on.data["setAiGenerated"] == {
        "subject": {"id": ids["post"], "aiGenerated": True},
        "errors": [],
    }
    off = await gql.execute(SET_AI, {"s": ids["post"], "v": False}, as_="mona")
    assert off.data["setAiGenerated"]["subject"]["aiGenerated"] is False
    actions = [entry.action for entry in await ModerationAction.all().order_by("id")]
    assert actions[-2:] == ["label_ai_generated", "clear_ai_label"]


SUSPENDED_READS = (
    '{ user(handle: "rex") { id } discoverFeed { nodes { text } } post(id: "%s") { id } }'
)


async def test_a_suspension_hides_everything_until_lifted(
    town: tuple[GraphQLClient, dict[str, str]],
) -> None:
    gql, ids = town
    reads = SUSPENDED_READS % ids["post"]
    feed = "query Discover { discoverFeed { nodes { text } } }"
    # given the discover feed's plan learned, and rex's open socket
    for viewer in (None, "amy"):
        await gql.execute(feed, as_=viewer)
    plans = gql.app.state.graphql.plans
    assert plans.get(sha256_of(feed), None) is not None
    inbox = Subscription(gql, await User.get(handle_key="rex"), NOTIFICATIONS)
    await inbox.start()
    try:
        report = await _report_id(gql, ids, "rex")
        done = await gql.execute(RESOLVE, {"r": report, "a": "SUSPEND_ACCOUNT"}, as_="mona")
        assert done.data["resolveReport"]["errors"] == []
        # then rex's token no longer signs in, and rex cannot sign in again
        gone = await gql.execute("{ viewer { handle } }", as_="rex")
        assert gone.status == 401
        again = await gql.execute(LOG_IN, {"l": "rex"})
        assert again.data["logIn"]["errors"] == [{"code": "ACCOUNT_SUSPENDED"}]
        # and everything of rex reads as missing, for members and anonymous, on both paths
        for viewer in (None, "amy"):
            hidden = await gql.execute(reads, as_=viewer)
            assert hidden.data == {"user": None, "discoverFeed": {"nodes": []}, "post": None}
            served = plans.served
            compiled = await gql.execute(feed, as_=viewer)
            assert plans.served == served + 1
            assert compiled.data["discoverFeed"]["nodes"] == []
        # moderators see the suspended account in the queue's history
        queue = await gql.execute(QUEUE, {"s": "RESOLVED"}, as_="mona")
        assert queue.data["moderationQueue"]["nodes"][0]["subject"] == {"id": ids["rex"]}
    finally:
        await inbox.close()
    # when a moderator lifts the suspension, everything shows again
    lifted = await gql.execute(UNSUSPEND, {"u": ids["rex"]}, as_="mona")
    assert lifted.data["unsuspendUser"] == {"user": {"handle": "rex"}, "errors": []}
    shown = await gql.execute(reads)
    assert shown.data["user"] == {"id": ids["rex"]}
    assert shown.data["discoverFeed"]["nodes"] == [{"text": "buy followers cheap"}]
    assert (await gql.execute(LOG_IN, {"l": "rex"})).data["logIn"]["errors"] == []


@pytest.mark.e2e
async def test_a_suspension_closes_the_accounts_sockets(tmp_path: Path) -> None:
    # given a live server, a moderator granted with the command line, and rex's socket open
    database = tmp_path / "gesso.sqlite3"
    server = LiveServer(tmp_path, {"DATABASE_URL": f"sqlite://{database}"}).start()
    try:
        async with GraphQLClient.for_url(server.url) as gql:
            rex = await gql.sign_up("rex")
            for handle in ("amy", "mona"):
                await gql.sign_up(handle)
            granted = await _cli(tmp_path, database, "admin", "grant", "mona", "moderator")
            assert granted == (0, "@mona is now moderator")
            socket = await Subscriber.open(server.ws_url, gql.token_of("rex"))
            await socket.acknowledged()
            await socket.subscribe(NOTIFICATIONS)
            await asyncio.sleep(0.3)
            # when a moderator suspends rex
            report = await _report(gql, "amy", rex, "HARASSMENT")
            done = await gql.execute(
                RESOLVE, {"r": report["report"]["id"], "a": "SUSPEND_ACCOUNT"}, as_="mona"
            )
            assert done.data["resolveReport"]["errors"] == []
            # then rex's socket is closed within a second, its token revoked
            with pytest.raises(ConnectionClosed) as closed:
                await _drain(socket)
            frame = closed.value.rcvd
            assert frame is not None
            assert (frame.code, frame.reason.split(":")[0]) == (4401, "TOKEN_REVOKED")
            # and the command line refuses what it cannot do
            assert (await _cli(tmp_path, database, "admin", "grant", "nobody", "admin"))[0] == 1
            wrong = await _cli(tmp_path, database, "admin", "revoke", "mona", "admin")
            assert wrong[0] == 1
            revoked = await _cli(tmp_path, database, "admin", "revoke", "mona", "moderator")
            assert revoked == (0, "@mona is now member")
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


async def _drain(socket: Subscriber) -> None:
    """Read until the server closes the socket (a second at most between messages)."""
    while True:
        await socket.receive(within=1.0)


async def _cli(tmp_path: Path, database: Path, *args: str) -> tuple[int, str]:
    """``gesso ARGS`` on the database: its exit code and its output."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{database}",
        "GESSO_DATA_DIR": str(tmp_path / "cli"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode().strip()
