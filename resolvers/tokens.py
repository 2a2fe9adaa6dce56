"""Revoking bearer tokens, and ending the websockets that signed in with them.

A websocket authenticates once, in its connection_init, so deleting its token row does not reach
it. ``revoke_tokens`` deletes the rows and then publishes the token hashes on the account's
``channels.user_tokens`` channel; logOut calls it, and so does anything else that takes tokens away.

Every process keeps one ``OpenTokens``: the tokens its open sockets signed in with, and ONE broker
listener that listens on the channel of each account holding such a socket, and of no other (so a
revocation is delivered only to processes that may hold one of its sockets). A token has one timer
for its expiry. A revocation or an expiry ends each socket of that token through its
``Context.end_session``. What a socket costs here: one entry in a set; per token, a small object
and a timer; per account, a small object and a channel (about 1.1 KiB for a socket that is its
account's only one, 0.2 KiB when many share a token, against ~38 KiB for the socket itself).

The database stays the source of truth. Revocations published while the broker was interrupted
are lost, so afterwards every held token is looked up again and the sockets of the ones that are
gone are ended. A socket whose account channel was not yet listened to when its token was read
looks its token up once more, once the channel is listened to (a revocation published in between
would be missed otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any

import orjson

from resolvers import channels, events
from resolvers.context import Context
from resolvers.errors import InvalidToken
from resolvers.services import Services
from storage.broker import Broker, BrokerError, BrokerUnavailable, Listener
from storage.models import AuthToken

log = logging.getLogger("gesso.tokens")

# Revocations are rare and handled at once; a backlog this long means the reader is stuck.
INBOX = 1024
RETRY_SECONDS = 0.5
LOOKUP_BATCH = 500

EndSession = Callable[[InvalidToken], Awaitable[None]]


def revoked() -> InvalidToken:
    return InvalidToken("the access token was revoked; sign in again", "TOKEN_REVOKED")


def expired() -> InvalidToken:
    return InvalidToken("the access token has expired; sign in again", "TOKEN_EXPIRED")


async def revoke_tokens(
    services: Services,
    user_id: int,
    token_hashes: Collection[str] | None = None,
    *,
    keep: str | None = None,
) -> None:
    """Delete tokens of one account (``token_hashes``, or all of them; never ``keep``) and end
    every websocket signed in with one of them, on every process, within a second.

    Call it outside a transaction: the revocation is published after the delete is committed.
    """
    if token_hashes is not None and keep is None:
        hashes = list(token_hashes)
    else:
        query = AuthToken.filter(user_id=user_id)
        if token_hashes is not None:
            query = query.filter(token_hash__in=list(token_hashes))
        if keep is not None:
            query = query.exclude(token_hash=keep)
        hashes = [str(h) for h in await query.values_list("token_hash", flat=True)]
    if not hashes:
        return
    if await AuthToken.filter(user_id=user_id, token_hash__in=hashes).delete():
        await events.publish(services, channels.user_tokens(user_id), events.tokens_revoked(hashes))


class _Token:
    __slots__ = ("ended", "expiry", "holders", "user_id")

    def __init__(self, user_id: int, expiry: asyncio.TimerHandle) -> None:
        self.user_id = user_id
        self.expiry = expiry
        self.holders: set[EndSession] = set()
        self.ended: InvalidToken | None = None


class _Account:
    __slots__ = ("listening", "since", "tokens")

    def __init__(self, listening: asyncio.Future[None]) -> None:
        # Pending until the account's channel is listened to (or that failed and a recovery
        # follows); None after.
        self.listening: asyncio.Future[None] | None = listening
        # Revocations published after this monotonic time reach this process (inf: not yet).
        self.since = math.inf
        self.tokens = 1  # how many held tokens are the account's


class OpenTokens:
    """The tokens this process's open websockets signed in with (see the module docstring)."""

    def __init__(self, broker: Broker, *, inbox: int = INBOX) -> None:
        self._broker = broker
        self._inbox = inbox
        self._tokens: dict[str, _Token] = {}
        self._accounts: dict[int, _Account] = {}
        self._listener: Listener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._recovering = False
        self._ending: set[asyncio.Task[None]] = set()

    async def hold(self, ctx: Context, expires_at: datetime, checked_at: float) -> None:
        """End ``ctx``'s socket (``ctx.end_session``) when its token is revoked or expires, until
        ``release``. ``checked_at``: the monotonic time just before the token was read."""
        user_id, token_hash, end = ctx.viewer_id, ctx.token_hash, ctx.end_session
        if user_id is None or token_hash is None or end is None:
            raise ValueError("hold() needs a signed-in websocket context")
        listener = self._start()
        token = self._tokens.get(token_hash)
        new_token = token is None
        if token is None:
            delay = max(0.0, (expires_at - datetime.now(UTC)).total_seconds())
            expiry = asyncio.get_running_loop().call_later(delay, self._expired, token_hash)
            token = self._tokens[token_hash] = _Token(user_id, expiry)
        token.holders.add(end)
        if token.ended is not None:
            self._spawn(end(token.ended))
            return
        account = self._accounts.get(user_id)
        if account is None:  # (a held token always has its account: this token is new)
            account = self._accounts[user_id] = _Account(asyncio.get_running_loop().create_future())
            await self._listen(listener, user_id, account)
        else:
            if new_token:
                account.tokens += 1
            if account.listening is not None:
                await asyncio.shield(account.listening)
        if account.since > checked_at and not await AuthToken.exists(token_hash=token_hash):
            self._end(token_hash, revoked())

    async def release(self, ctx: Context) -> None:
        """Forget ``ctx``'s socket (it closed); a no-op for a socket that is not held."""
        token_hash, end = ctx.token_hash, ctx.end_session
        token = self._tokens.get(token_hash) if token_hash is not None else None
        if token_hash is None or token is None or end not in token.holders:
            return
        token.holders.discard(end)
        if token.holders:
            return
        token.expiry.cancel()
        del self._tokens[token_hash]
        account = self._accounts.get(token.user_id)
        if account is None:
            return
        account.tokens -= 1
        if account.tokens:
            return
        del self._accounts[token.user_id]
        if self._listener is not None:
            await self._listener.remove([channels.user_tokens(token.user_id)])

    async def close(self) -> None:
        """Stop (the application's shutdown); the sockets themselves are closed by the server."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for token in self._tokens.values():
            token.expiry.cancel()
        self._tokens.clear()
        self._accounts.clear()
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    def _start(self) -> Listener:
        if self._listener is None:
            self._listener = self._broker.listener(self._inbox)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="open-tokens")
        return self._listener

    async def _listen(self, listener: Listener, user_id: int, account: _Account) -> None:
        try:
            if not self._recovering:
                await listener.add([channels.user_tokens(user_id)])
                account.since = time.monotonic()
        except BrokerError as error:
            # The reader starts over: it listens again for every account and looks every
            # held token up (a no-op when the listener has already failed).
            listener.fail(BrokerUnavailable(f"cannot listen for revocations: {error}"))
        finally:
            listening, account.listening = account.listening, None
            if listening is not None:
                listening.set_result(None)

    async def _read(self) -> None:
        while True:
            assert self._listener is not None
            try:
                _channel, payload = await self._listener.get()
            except BrokerError as error:
                log.info("revocations were interrupted (%s); looking held tokens up again", error)
                await self._recover()
                continue
            for token_hash in _revoked_hashes(payload):
                self._end(token_hash, revoked())

    async def _recover(self) -> None:
        """Listen again for every held account, then look every held token up."""
        self._recovering = True
        try:
            if self._listener is not None:
                await self._listener.close()
            while True:
                await self._broker.wait_available()
                listener = self._listener = self._broker.listener(self._inbox)
                try:
                    while missing := self._wanted() - listener.channels:
                        await listener.add(missing)
                    break
                except BrokerError:
                    await listener.close()
                    await asyncio.sleep(RETRY_SECONDS)
        finally:
            self._recovering = False
        since = time.monotonic()
        for account in self._accounts.values():
            account.since = since
        if extra := listener.channels - self._wanted():
            await listener.remove(extra)
        while True:
            try:
                await self._look_up_all()
                return
            except Exception:  # the database is down: try again; the sockets stay held
                log.exception("cannot look held tokens up; retrying")
                await asyncio.sleep(RETRY_SECONDS)

    def _wanted(self) -> set[str]:
        return {channels.user_tokens(user_id) for user_id in self._accounts}

    async def _look_up_all(self) -> None:
        held = list(self._tokens)
        for start in range(0, len(held), LOOKUP_BATCH):
            batch = held[start : start + LOOKUP_BATCH]
            query = AuthToken.filter(token_hash__in=batch).values_list("token_hash", flat=True)
            found = {str(h) for h in await query}
            for token_hash in batch:
                if token_hash not in found:
                    self._end(token_hash, revoked())

    def _expired(self, token_hash: str) -> None:
        self._end(token_hash, expired())

    def _end(self, token_hash: str, error: InvalidToken) -> None:
        """End every socket of a token; ``release`` forgets each as it closes."""
        token = self._tokens.get(token_hash)
        if token is None or token.ended is not None:
            return
        token.ended = error
        token.expiry.cancel()
        for end in token.holders:
            self._spawn(end(error))

    def _spawn(self, ending: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(ending)
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


def _revoked_hashes(payload: bytes) -> list[str]:
    try:
        message: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        message = None
    if not isinstance(message, dict) or message.get("t") != "revoked":
        log.warning("ignored a malformed revocation: %r", payload[:200])
        return []
    hashes = message.get("tokens")
    return [h for h in hashes if isinstance(h, str)] if isinstance(hashes, list) else []
