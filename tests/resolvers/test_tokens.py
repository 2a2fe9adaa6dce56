"""Revoking tokens (resolvers.tokens): which rows go, what is published, and which held sockets
end, on a real database and the in-process broker."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import orjson

from resolvers import channels
from resolvers.accounts import hash_token
from resolvers.context import Context
from resolvers.errors import InvalidToken
from resolvers.services import Services
from resolvers.tokens import OpenTokens, revoke_tokens
from storage.broker import InProcessBroker
from storage.models import AuthToken, User

LATER = datetime.now(UTC) + timedelta(days=1)


async def _user(handle: str) -> User:
    return await User.create(
        handle=handle, handle_key=handle, email=f"{handle}@example.com",
        email_key=f"{handle}@example.com", password_hash="x",
    )  # fmt: skip


async def _token(user: User, name: str) -> str:
    await AuthToken.create(user=user, token_hash=hash_token(name), expires_at=LATER)
    return hash_token(name)


class Socket:
    """What a websocket's ``end_session`` does, recorded."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    async def end(self, error: InvalidToken) -> None:
        self.ended.append(error.code)


def _context(services: Services, user: User, token_hash: str, socket: Socket) -> Context:
    context = Context(services=services, end_session=socket.end)
    context.sign_in(user, token_hash)
    return context


async def test_revoking_all_but_one_deletes_and_publishes_only_that_accounts_others(
    clean_db: str,
) -> None:
    # given an account with three tokens and another account with one
    services = Services(token_ttl_seconds=60, broker=InProcessBroker())
    ada, bob = await _user("ada"), await _user("bob")
    keep, one, two = [await _token(ada, name) for name in ("keep", "one", "two")]
    other = await _token(bob, "bob")
    listener = services.broker.listener()
    await listener.add([channels.user_tokens(ada.id), channels.user_tokens(bob.id)])
    # when all of ada's tokens but one are revoked
    await revoke_tokens(services, ada.id, keep=keep)
    # then the others are gone and announced once, on ada's channel only
    left = await AuthToken.all().order_by("id").values_list("token_hash", flat=True)
    assert [str(h) for h in left] == [keep, other]
    channel, payload = await asyncio.wait_for(listener.get(), 1)
    message = orjson.loads(payload)
    assert (channel, message["t"], sorted(message["tokens"])) == (
        channels.user_tokens(ada.id), "revoked", sorted([one, two]),
    )  # fmt: skip
    # and revoking another account's token through ada's id changes and announces nothing
    await revoke_tokens(services, ada.id, [other])
    assert await AuthToken.exists(token_hash=other)
    assert listener.pending() == 0
    await listener.close()


async def test_held_sockets_end_with_their_token_and_only_while_held(clean_db: str) -> None:
    # given two sockets on one token and one on another token of the same account
    services = Services(token_ttl_seconds=60, broker=InProcessBroker())
    open_tokens = OpenTokens(services.broker)
    ada = await _user("ada")
    phone, laptop = await _token(ada, "phone"), await _token(ada, "laptop")
    sockets = [Socket(), Socket(), Socket()]
    contexts = [
        _context(services, ada, token, socket)
        for token, socket in zip((phone, phone, laptop), sockets, strict=True)
    ]
    for context in contexts:
        await open_tokens.hold(context, LATER, time.monotonic())
    # when the phone's token is revoked
    await revoke_tokens(services, ada.id, [phone])
    await asyncio.sleep(0.05)
    # then both of its sockets end, and the laptop's does not
    assert [s.ended for s in sockets] == [["TOKEN_REVOKED"], ["TOKEN_REVOKED"], []]
    # and a released socket is not ended by a later revocation
    await open_tokens.release(contexts[2])
    await revoke_tokens(services, ada.id, [laptop])
    await asyncio.sleep(0.05)
    assert sockets[2].ended == []
    await open_tokens.close()


async def test_a_token_revoked_while_its_socket_signs_in_ends_it(clean_db: str) -> None:
    # given a socket whose token was read, then revoked before it was held (nothing published
    # could reach it yet: its account's channel was not listened to)
    services = Services(token_ttl_seconds=60, broker=InProcessBroker())
    open_tokens = OpenTokens(services.broker)
    ada = await _user("ada")
    token = await _token(ada, "phone")
    checked_at = time.monotonic()
    await AuthToken.filter(token_hash=token).delete()
    socket = Socket()
    # when it is held
    await open_tokens.hold(_context(services, ada, token, socket), LATER, checked_at)
    await asyncio.sleep(0.05)
    # then the token is looked up again and the socket ends
    assert socket.ended == ["TOKEN_REVOKED"]
    await open_tokens.close()


async def test_a_held_socket_ends_at_its_tokens_expiry(clean_db: str) -> None:
    seconds = 0.2
    services = Services(token_ttl_seconds=60, broker=InProcessBroker())
    open_tokens = OpenTokens(services.broker)
    ada = await _user("ada")
    token = await _token(ada, "phone")
    socket = Socket()
    expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
    await open_tokens.hold(_context(services, ada, token, socket), expires_at, time.monotonic())
    assert socket.ended == []
    await asyncio.sleep(seconds + 0.1)
    assert socket.ended == ["TOKEN_EXPIRED"]
    await open_tokens.close()
