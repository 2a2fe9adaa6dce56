"""``Post.mentions`` and ``Comment.mentions`` (resolvers.mentions): the members an ``@handle``
names whom the viewer may see, with UTF-16 offsets; the compiled plans answer them as the regular
path does, in one statement per page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from resolvers.mentions import spans
from resolvers.validation import MENTIONS_MAX
from storage import models
from tests.graphql import GraphQLClient, QueryCounter
from tests.schema.test_compiled import (
    _mutate,
    _post,
    _reference,
    _same,
    pair,  # noqa: F401 (a fixture)
    plans_of,
)

# an emoji before the first mention (two UTF-16 code units each, one flag of two), repeated
# mentions in any case, punctuation around them, a member who does not exist, one suspended, one
# blocked, and what is no mention (an e-mail address, a handle inside a word)
TEXT = "\U0001f3a8\U0001f1eb\U0001f1f7 (@Ben), @ben! @nobody @cyd @dee \u00e9t\u00e9 a@ben @ana."
COMMENT = "\u00e0 @ana\u2014@ben?"


def _utf16(text: str, start: int, end: int) -> str:
    """``text.slice(start, end)`` in JavaScript."""
    units = text.encode("utf-16-le")
    return units[start * 2 : end * 2].decode("utf-16-le")


def test_spans_count_utf16_code_units() -> None:
    found = spans(TEXT)
    assert [(s.handle, _utf16(TEXT, s.start, s.end)) for s in found] == [
        ("Ben", "@Ben"),
        ("ben", "@ben"),
        ("nobody", "@nobody"),
        ("cyd", "@cyd"),
        ("dee", "@dee"),
        ("ana", "@ana"),
    ]
    assert found[0].start == 3 * 2 + 2  # three astral characters and " ("
    comment = spans(COMMENT)
    assert [_utf16(COMMENT, s.start, s.end) for s in comment] == ["@ana", "@ben"]


def test_spans_link_the_handles_that_notify() -> None:
    # the first MENTIONS_MAX different handles, as notify_mentions takes them, each every time
    handles = [f"@user{n}" for n in range(MENTIONS_MAX + 2)]
    text = " ".join([*handles, "@USER0"])
    keys = [span.key for span in spans(text)]
    assert keys == [f"user{n}" for n in range(MENTIONS_MAX)] + ["user0"]


async def _seed(gql: GraphQLClient) -> dict[str, str]:
    ids = {h: await gql.sign_up(h) for h in ("reader", "ana", "ben", "cyd", "dee")}
    await _mutate(
        gql,
        "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
        {"u": ids["ana"]},
        "reader",
    )
    await _mutate(
        gql,
        "mutation($u: ID!) { blockUser(userId: $u) { errors { code } } }",
        {"u": ids["reader"]},
        "dee",
    )
    await models.User.filter(handle_key="cyd").update(suspended_at=datetime.now(UTC))
    post = await _post(gql, "ana", text=TEXT)
    await _post(gql, "ana", text="no mention here, mail me at ana@example.com")
    await _mutate(
        gql,
        "mutation($i: AddCommentInput!) { addComment(input: $i) { errors { code } } }",
        {"i": {"subjectId": post, "text": COMMENT}},
        "ben",
    )
    # a reply: the post page shows the post replied to as a card of its own
    reply = await _post(gql, "ben", text="@ana \U0001f44d", replyTo=post)
    return {"post": post, "reply": reply, **ids}


def _linked(mentions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["handle"], m["user"]["handle"]) for m in mentions]


async def test_mentions_link_members_the_viewer_may_see(
    pair: tuple[GraphQLClient, GraphQLClient],  # noqa: F811
) -> None:
    compiled, regular = pair
    made = await _seed(compiled)
    home, page = _reference("HomeFeed"), _reference("PostPage")
    # the reader: cyd is suspended, dee blocked the reader; nobody does not exist
    body = await _same(compiled, regular, home, {}, "reader")
    card = body["data"]["homeFeed"]["edges"][1]["node"]
    assert _linked(card["mentions"]) == [("Ben", "ben"), ("ben", "ben"), ("ana", "ana")]
    for mention in card["mentions"]:
        assert _utf16(TEXT, mention["start"], mention["end"]) == "@" + mention["handle"]
    assert body["data"]["homeFeed"]["edges"][0]["node"]["mentions"] == []
    # someone dee did not block sees dee linked; anonymous viewers see the post page too
    for as_ in ("reader", "ben", None):
        body = await _same(compiled, regular, page, {"id": made["post"]}, as_)
        post = body["data"]["post"]
        expected = [("Ben", "ben"), ("ben", "ben"), ("ana", "ana")]
        if as_ != "reader":
            expected.insert(2, ("dee", "dee"))
        assert _linked(post["mentions"]) == expected, as_
        (comment,) = post["comments"]["edges"]
        assert _linked(comment["node"]["mentions"]) == [("ana", "ana"), ("ben", "ben")]
        body = await _same(compiled, regular, page, {"id": made["reply"]}, as_)
        reply = body["data"]["post"]
        assert _linked(reply["mentions"]) == [("ana", "ana")]
        assert reply["replyTo"]["mentions"] == post["mentions"]
    profile = _reference("ProfilePosts")
    body = await _same(compiled, regular, profile, {"handle": "ana"}, "reader")
    # every request after the first of each document was a plan's
    assert plans_of(compiled).served == 1 + 11 + 1


async def test_a_page_reads_its_mentions_in_one_statement(gql: GraphQLClient) -> None:
    await _seed(gql)
    for n in range(6):
        await _post(gql, "ana", text=f"@ben @dee @cyd @nobody{n} post {n}")
    query = _reference("HomeFeed")
    statements = {}
    for plan in (False, True):  # the regular path first, then the plan it taught
        with QueryCounter.capture() as counter:
            result = await gql.execute(query, {"first": 8}, as_="reader")
        assert len(result.data["homeFeed"]["edges"]) == 8
        statements[plan] = [
            s for s in counter.statements if '"handle_key" IN' in s or "handle_key = ANY" in s
        ]
    assert len(statements[False]) == 1, statements[False]
    assert len(statements[True]) == 1, statements[True]
    assert plans_of(gql).served == 1
