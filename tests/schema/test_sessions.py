"""Sessions: the viewer's sign-ins, with what signed in and when it was last used; ending one."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher

from resolvers import passwords, sessions
from storage.models import AuthToken
from tests.graphql import GraphQLClient

SESSIONS = "{ viewer { sessions { id userAgent current lastUsedAt createdAt expiresAt } } }"
LOG_IN = """mutation($l: String!, $p: String!) { logIn(input: {login: $l, password: $p}) {
  token errors { code } } }"""
REVOKE = "mutation($id: ID!) { revokeSession(id: $id) { deletedId errors { field code } } }"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


async def _log_in(gql: GraphQLClient, handle: str, agent: str) -> str:
    done = await gql.execute(
        LOG_IN, {"l": handle, "p": "correct horse"}, headers={"User-Agent": agent}
    )
    return str(done.data["logIn"]["token"])


async def test_sessions_and_revoking_one(gql: GraphQLClient) -> None:
    # given an account signed in on a phone and a laptop, and another account
    await gql.sign_up("ada")
    await gql.sign_up("bea")
    phone = await _log_in(gql, "ada", "Phone/1.0")
    laptop = await _log_in(gql, "ada", "Laptop/2.0 " + "x" * 300)
    # when she lists her sessions on the laptop
    gql.token = laptop
    listed = (await gql.execute(SESSIONS)).data["viewer"]["sessions"]
    # then each sign-in is there, newest first, with what signed in and this one marked
    assert [(s["userAgent"][:10], s["current"]) for s in listed] == [
        ("Laptop/2.0", True),
        ("Phone/1.0", False),
        ("python-htt", False),  # the sign-up's sign-in, by the test client itself
    ]
    assert len(listed[0]["userAgent"]) == sessions.USER_AGENT_MAX
    assert all(s["lastUsedAt"] is not None for s in listed)
    # when she ends the phone's
    phone_session = listed[1]["id"]
    ended = await gql.execute(REVOKE, {"id": phone_session})
    assert ended.data["revokeSession"] == {"deletedId": phone_session, "errors": []}
    # then the phone is signed out and the laptop is not
    gql.token = phone
    assert (await gql.execute(SESSIONS)).status == 401
    gql.token = laptop
    assert phone_session not in [
        s["id"] for s in (await gql.execute(SESSIONS)).data["viewer"]["sessions"]
    ]
    # and another account's session, a gone one or a bad id is missing or invalid, nothing ended
    theirs = (await gql.execute(SESSIONS, as_="bea")).data["viewer"]["sessions"][0]["id"]
    for session, code in (
        (theirs, "NOT_FOUND"),
        (phone_session, "NOT_FOUND"),
        ("nope", "INVALID_ID"),
    ):
        refused = await gql.execute(REVOKE, {"id": session})
        assert refused.data["revokeSession"]["errors"] == [{"field": "id", "code": code}]
    assert (await gql.execute(SESSIONS, as_="bea")).status == 200
    # and nobody else sees an account's sessions
    other = await gql.execute('{ user(handle: "ada") { sessions { id } } }', as_="bea")
    assert other.data["user"] == {"sessions": None}


async def test_last_use_is_kept_to_the_few_minutes(gql: GraphQLClient) -> None:
    # given a token last used long ago
    await gql.sign_up("ada")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await AuthToken.all().update(last_used_at=old)
    # when it is used, it is marked used now; used again at once, it is not written again
    await gql.execute(SESSIONS, as_="ada")
    first = (await AuthToken.get()).last_used_at
    assert first is not None
    assert first > old + dt.timedelta(minutes=59)
    await gql.execute(SESSIONS, as_="ada")
    second = (await AuthToken.get()).last_used_at
    assert second == first
