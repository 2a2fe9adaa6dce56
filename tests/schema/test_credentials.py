"""Passwords and email: the mails a real SMTP server (aiosmtpd, on a loopback port) receives, and
what their tokens do; the .eml files of the embedded default."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import re
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher

from resolvers import credentials, leaving, passwords
from storage.mail import MailError, SmtpMailer
from storage.models import AccountDeletion, AccountToken, AccountTokenPurpose, User
from tests.e2e.live import ONE_ADDRESS_MANY_USERS
from tests.graphql import GraphQLClient

RESET = """mutation($e: String!) { requestPasswordReset(email: $e) { ok errors { code } } }"""
DO_RESET = """mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) {
  user { handle } errors { field code } } }"""
CHANGE = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) {
    user { handle } errors { field code } } }"""
VERIFY = """mutation($t: String!) { verifyEmail(token: $t) {
  user { handle } errors { field code } } }"""
RESEND = "mutation { resendVerification { user { emailVerified } errors { code } } }"
VIEWER = "{ viewer { handle emailVerified } }"
LOG_IN = """mutation($l: String!, $p: String!) { logIn(input: {login: $l, password: $p}) {
  token errors { code } } }"""
TOKEN = re.compile(r"(?:code: |token=)([A-Za-z0-9_-]{43})")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str, subject: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address and subject in m["Subject"]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def mailed(clean_db: str, smtp: tuple[Inbox, int]) -> AsyncIterator[GraphQLClient]:
    """The app with SMTP_URL pointing at the test's SMTP server."""
    _, port = smtp
    limits = ONE_ADDRESS_MANY_USERS + ",password_reset_ip=1000/1h"
    async with GraphQLClient.for_app(
        SMTP_URL=f"smtp://127.0.0.1:{port}",
        GESSO_PUBLIC_URL="https://art.example",
        GESSO_RATE_LIMITS=limits,
    ) as client:
        yield client


def _token(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = TOKEN.search(body.decode())
    assert found is not None, body
    return found.group(1)


async def _mails(inbox: Inbox, address: str, subject: str, count: int) -> list[Message]:
    await credentials.drain()
    for _ in range(50):  # the server hands a mail over on its own thread
        if len(inbox.to(address, subject)) >= count:
            break
        await asyncio.sleep(0.05)
    return inbox.to(address, subject)


async def test_a_reset_by_mail(mailed: GraphQLClient, smtp: tuple[Inbox, int]) -> None:
    # given an account signed in on a device
    inbox, _ = smtp
    await mailed.sign_up("ada", "old password")
    old_token = mailed.token_of("ada")
    # when she asks for a reset, and someone asks for an address nobody has
    asked = await mailed.execute(RESET, {"e": " ADA@example.com "})
    unknown = await mailed.execute(RESET, {"e": "nobody@example.com"})
    # then both answers are the same, and one mail went, to her, with a link
    assert (
        asked.body == unknown.body == {"data": {"requestPasswordReset": {"ok": True, "errors": []}}}
    )
    (mail,) = await _mails(inbox, "ada@example.com", "Reset", 1)
    assert inbox.to("nobody@example.com", "") == []
    assert "https://art.example/reset-password?token=" in str(mail.get_payload(decode=True))
    token = _token(mail)
    # when she sets a new password with it
    done = await mailed.execute(DO_RESET, {"t": token, "p": "new password"})
    assert done.data["resetPassword"] == {"user": {"handle": "ada"}, "errors": []}
    # then every sign-in ended, the new password works and the old does not
    mailed.token = old_token
    assert (await mailed.execute(VIEWER)).status == 401
    mailed.token = None
    assert (await mailed.execute(LOG_IN, {"l": "ada", "p": "old password"})).data["logIn"][
        "errors"
    ] == [{"code": "INVALID_CREDENTIALS"}]
    logged = await mailed.execute(LOG_IN, {"l": "ada", "p": "new password"})
    mailed.token = logged.data["logIn"]["token"]
    # and the address counts as confirmed (the mail reached her)
    assert (await mailed.execute(VIEWER)).data["viewer"] == {"handle": "ada", "emailVerified": True}
    # and the token works once
    again = await mailed.execute(DO_RESET, {"t": token, "p": "third password"})
    assert again.data["resetPassword"]["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]


async def test_a_reset_token_expires_and_a_newer_one_voids_it(
    mailed: GraphQLClient, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await mailed.sign_up("ada", "old password")
    # given two reset mails, the first one older
    for _ in range(2):
        await mailed.execute(RESET, {"e": "ada@example.com"})
        await _mails(inbox, "ada@example.com", "Reset", 1)
    first, second = (_token(m) for m in inbox.to("ada@example.com", "Reset"))
    # then the first is void, the second expires after an hour
    void = await mailed.execute(DO_RESET, {"t": first, "p": "new password"})
    assert void.data["resetPassword"]["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    late = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await AccountToken.filter(purpose=AccountTokenPurpose.PASSWORD_RESET).update(expires_at=late)
    expired = await mailed.execute(DO_RESET, {"t": second, "p": "new password"})
    assert expired.data["resetPassword"]["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    # and bad input is refused the same way, with nothing changed
    before = (await User.get(handle_key="ada")).password_hash
    for token, password, error in (
        ("x" * 500, "new password", {"field": "token", "code": "INVALID_TOKEN"}),
        ("nope", "new password", {"field": "token", "code": "INVALID_TOKEN"}),
        (second, "short", {"field": "newPassword", "code": "TOO_SHORT"}),
    ):
        refused = await mailed.execute(DO_RESET, {"t": token, "p": password})
        assert refused.data["resetPassword"]["errors"] == [error]
    assert (await User.get(handle_key="ada")).password_hash == before


async def test_resets_are_limited_per_address(clean_db: str, smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    limits = ONE_ADDRESS_MANY_USERS + ",password_reset_email=2/1h"
    async with GraphQLClient.for_app(
        SMTP_URL=f"smtp://127.0.0.1:{port}", GESSO_RATE_LIMITS=limits
    ) as gql:
        codes = [(await gql.execute(RESET, {"e": "someone@example.com"})).codes for _ in range(3)]
    # the third within the hour is refused, whether or not the address has an account
    assert codes == [[], [], ["RATE_LIMITED"]]


async def test_change_password_ends_the_other_sign_ins(mailed: GraphQLClient) -> None:
    # given an account signed in on two devices
    await mailed.sign_up("ada", "old password")
    phone = mailed.token_of("ada")
    laptop = (await mailed.execute(LOG_IN, {"l": "ada", "p": "old password"})).data["logIn"][
        "token"
    ]
    mailed.token = laptop
    # when the current password is wrong, or the new one too short, nothing changes
    wrong = await mailed.execute(CHANGE, {"c": "guess", "n": "new password"})
    assert wrong.data["changePassword"]["errors"] == [
        {"field": "currentPassword", "code": "INVALID_CREDENTIALS"}
    ]
    short = await mailed.execute(CHANGE, {"c": "old password", "n": "short"})
    assert short.data["changePassword"]["errors"] == [{"field": "newPassword", "code": "TOO_SHORT"}]
    mailed.token = phone
    assert (await mailed.execute(VIEWER)).status == 200
    # when she changes it on the laptop
    mailed.token = laptop
    changed = await mailed.execute(CHANGE, {"c": "old password", "n": "new password"})
    assert changed.data["changePassword"] == {"user": {"handle": "ada"}, "errors": []}
    # then the laptop stays signed in and the phone is signed out
    assert (await mailed.execute(VIEWER)).data["viewer"]["handle"] == "ada"
    mailed.token = phone
    assert (await mailed.execute(VIEWER)).status == 401
    mailed.token = None
    logged = await mailed.execute(LOG_IN, {"l": "ada", "p": "new password"})
    assert logged.data["logIn"]["errors"] == []


async def test_verify_and_resend(mailed: GraphQLClient, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    # given the confirmation mail of a sign-up
    await mailed.sign_up("ada")
    (first,) = await _mails(inbox, "ada@example.com", "Confirm", 1)
    assert (await mailed.execute(VIEWER, as_="ada")).data["viewer"]["emailVerified"] is False
    # when she asks for another one, the first is void
    resent = await mailed.execute(RESEND, as_="ada")
    assert resent.data["resendVerification"] == {"user": {"emailVerified": False}, "errors": []}
    second = (await _mails(inbox, "ada@example.com", "Confirm", 2))[-1]
    void = await mailed.execute(VERIFY, {"t": _token(first)})
    assert void.data["verifyEmail"]["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    # then the newest confirms the address (signed in or not), once
    done = await mailed.execute(VERIFY, {"t": _token(second)})
    assert done.data["verifyEmail"] == {"user": {"handle": "ada"}, "errors": []}
    assert (await mailed.execute(VIEWER, as_="ada")).data["viewer"]["emailVerified"] is True
    again = await mailed.execute(VERIFY, {"t": _token(second)})
    assert again.data["verifyEmail"]["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    # and once confirmed, asking again mails nothing
    await mailed.execute(RESEND, as_="ada")
    assert len(await _mails(inbox, "ada@example.com", "Confirm", 3)) == 2
    # and only the account sees whether it is confirmed
    other = await mailed.execute('{ user(handle: "ada") { emailVerified } }')
    assert other.data["user"] == {"emailVerified": None}


async def test_the_embedded_default_writes_eml_files(clean_db: str) -> None:
    # given no SMTP_URL
    async with GraphQLClient.for_app() as gql:
        data_dir = Path(gql.app.state.services.mailer.directory).parent
        # when an account signs up and asks for a reset
        await gql.sign_up("ada")
        await gql.execute(RESET, {"e": "ada@example.com"})
        await credentials.drain()
        # then each mail is a whole .eml file under the data dir, with its code
        files = sorted((data_dir / "mail").glob("*.eml"))
        assert len(files) == 2
        subjects = sorted(email.message_from_bytes(f.read_bytes())["Subject"] for f in files)
        assert subjects == ["Confirm your email for Gesso", "Reset your Gesso password"]
        assert all(TOKEN.search(f.read_text()) for f in files)
        assert not list((data_dir / "mail").glob(".*"))


async def test_a_mail_server_that_is_down_loses_the_mail_not_the_answer(
    clean_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given an SMTP_URL where nothing listens
    port = _free_port()
    async with GraphQLClient.for_app(SMTP_URL=f"smtp://127.0.0.1:{port}") as gql:
        await gql.sign_up("ada")
        # when a reset is asked for
        asked = await gql.execute(RESET, {"e": "ada@example.com"})
        await credentials.drain()
    # then the answer is the usual one, and the lost mail is logged with the reason
    assert asked.data["requestPasswordReset"] == {"ok": True, "errors": []}
    lost = [r.getMessage() for r in caplog.records if r.name == "gesso.mail"]
    assert any("Reset your Gesso password" in line and "not sent" in line for line in lost)
    # and the library's error is ours at the boundary
    with pytest.raises(MailError, match=f"SMTP at 127.0.0.1:{port}"):
        await SmtpMailer(f"smtp://127.0.0.1:{port}").send(EmailMessage())


async def test_deleting_an_account_deletes_the_eml_files_of_its_mail(clean_db: str) -> None:
    # given two accounts on the embedded default, each with its mails kept as .eml files
    async with GraphQLClient.for_app() as gql:
        mail_dir = Path(gql.app.state.services.mailer.directory)
        await gql.sign_up("ada")
        await gql.sign_up("bob")
        for address in ("ADA@example.com", "bob@example.com"):
            await gql.execute(RESET, {"e": address})
        await credentials.drain()
        assert len(_recipients(mail_dir)) == 4
        # when ada deletes her account and its deletion has run
        deleted = await gql.execute(
            'mutation { deleteAccount(password: "correct horse") { errors { code } } }',
            as_="ada",
        )
        assert deleted.data["deleteAccount"]["errors"] == []
        await leaving.run(gql.services, (await AccountDeletion.get(handle_key="ada")).id)
        # then her mails are gone, bob's are kept
        assert _recipients(mail_dir) == ["bob@example.com", "bob@example.com"]


def _recipients(mail_dir: Path) -> list[str]:
    return sorted(
        str(email.message_from_bytes(f.read_bytes())["To"]) for f in mail_dir.glob("*.eml")
    )
