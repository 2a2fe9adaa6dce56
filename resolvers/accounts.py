"""Accounts: sign-up, sign-in with opaque bearer tokens, sign-out, profile."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from resolvers import passwords, ratelimit, sessions, tokens
from resolvers.context import Context, require_viewer
from resolvers.errors import (
    ErrorCode,
    FieldError,
    InputError,
    InvalidToken,
)
from resolvers.surrogates import artist_key, purge
from resolvers.validation import (
    EMAIL_MAX,
    HANDLE_MAX,
    check_email,
    check_handle,
    check_length,
    check_links,
    clean_text,
    raise_if_any,
    storable,
)
from storage import rawsql
from storage.db import in_transaction
from storage.models import AccountDeletion, AuthToken, TrainingPolicy, User

PASSWORD_MIN = 8
PASSWORD_MAX = 256
DISPLAY_NAME_MAX = 64
BIO_MAX = 500


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate(token: str) -> tuple[User, str]:
    """The user a bearer token belongs to, or ``InvalidToken`` (unknown, revoked or expired)."""
    user, token_hash, _expires_at = await authenticate_until(token)
    return user, token_hash


async def authenticate_until(token: str) -> tuple[User, str, datetime]:
    """``authenticate``, and when the token expires (a websocket is ended then)."""
    if not token or len(token) > 128:
        raise InvalidToken("the access token is invalid", "TOKEN_INVALID")
    token_hash = hash_token(token)
    # Every signed-in request runs this: one hand-written statement (storage.rawsql) instead of
    # the ORM's select_related, which costs several times as much to build as to run.
    async with rawsql.reader(AuthToken) as reader:
        rows = await reader.fetch(_TOKEN_SQL, token_hash)
    if not rows:
        raise InvalidToken("the access token is invalid or was revoked", "TOKEN_INVALID")
    row = dict(rows[0])
    expires_at = _EXPIRES_AT.to_python_value(row.pop(_EXPIRES))
    last_used = row.pop(_LAST_USED)
    now = datetime.now(UTC)
    if expires_at <= now:
        raise tokens.expired()
    if row["suspended_at"] is not None:  # its tokens were revoked; this covers a race
        raise InvalidToken("the account is suspended", "ACCOUNT_SUSPENDED")
    if sessions.stale(_LAST_USED_AT.to_python_value(last_used), now):
        await sessions.touch(token_hash, now)
    return User._init_from_db(**row), token_hash, expires_at


_EXPIRES = "token_expires_at"
_EXPIRES_AT = AuthToken._meta.fields_map["expires_at"]
_LAST_USED = "token_last_used_at"
_LAST_USED_AT = AuthToken._meta.fields_map["last_used_at"]
# The token's expiry and last use, and every column of its user (column names from the model;
# the token hash is a parameter).
_TOKEN_SQL = (
    f"SELECT t.expires_at AS {_EXPIRES}, t.last_used_at AS {_LAST_USED}, "  # noqa: S608
    + ", ".join(f"u.{column}" for column in sorted(User._meta.db_fields))
    + " FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
)


async def find_by_handle(handle: str) -> User | None:
    if len(handle) > HANDLE_MAX or not storable(handle):
        return None
    async with rawsql.reader(User) as reader:
        rows = await reader.fetch(_BY_HANDLE_SQL, handle.lower())
    return User._init_from_db(**rows[0]) if rows else None


# every column of the user (as the ORM reads a User), by handle key (unique)
_BY_HANDLE_SQL = (
    f"SELECT {', '.join(sorted(User._meta.db_fields))} FROM users WHERE handle_key = $1"  # noqa: S608
)


async def sign_up(*, handle: str, email: str, password: str, display_name: str | None) -> User:
    handle = handle.strip()
    email = email.strip()
    name = clean_text(display_name) if display_name is not None else handle
    raise_if_any(
        [
            check_handle("handle", handle),
            check_email("email", email),
            check_length("password", password, low=PASSWORD_MIN, high=PASSWORD_MAX),
            # Checked when given: the handle it defaults to is checked as the handle.
            check_length("displayName", name, low=1, high=DISPLAY_NAME_MAX, what="display name")
            if display_name is not None
            else None,
        ]
    )
    await _raise_if_taken(handle, email)
    password_hash = await passwords.hash_password(password)
    try:
        async with in_transaction():
            return await User.create(
                handle=handle,
                handle_key=handle.lower(),
                email=email,
                email_key=email.lower(),
                password_hash=password_hash,
                display_name=name,
            )
    except IntegrityError:
        # Lost a race with a concurrent sign-up: report which one is taken now.
        await _raise_if_taken(handle, email)
        raise


async def _raise_if_taken(handle: str, email: str) -> None:
    errors: list[FieldError | None] = []
    # A deleted account's handle stays reserved (resolvers.leaving).
    key = handle.lower()
    if await User.filter(handle_key=key).exists() or await AccountDeletion.exists(handle_key=key):
        errors.append(FieldError("handle", "this handle is taken", ErrorCode.HANDLE_TAKEN))
    if await User.filter(email_key=email.lower()).exists():
        errors.append(
            FieldError("email", "an account with this email exists", ErrorCode.EMAIL_TAKEN)
        )
    raise_if_any(errors)


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    token: str
    expires_at: datetime


async def log_in(ctx: Context, *, login: str, password: str) -> Session:
    """Sign in by handle or email; the same error for an unknown account and a wrong password."""
    await ratelimit.charge(ctx.services, "login_ip", ratelimit.client_ip(ctx))
    login = login.strip().lower()
    user = None
    if 0 < len(login) <= EMAIL_MAX and len(password) <= PASSWORD_MAX and storable(login):
        if "@" in login:
            user = await User.filter(email_key=login).first()
        else:
            user = await find_by_handle(login)  # a login longer than any handle finds no one
    # Failed attempts are counted per account (by id, so handle and email share one count);
    # once over the limit, the password is not even checked until the window has room again.
    account = user.id if user is not None else login[:EMAIL_MAX]
    await ratelimit.check(ctx.services, "login_account", account)
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if user is not None and ok and await AccountDeletion.exists(id=user.id):
        ok = False  # its owner deleted it: as if it were gone already
    if user is None or not ok:
        await ratelimit.charge(ctx.services, "login_account", account)
        raise InputError.single(
            None, "wrong handle, email or password", ErrorCode.INVALID_CREDENTIALS
        )
    if user.suspended_at is not None:
        raise InputError.single(None, "this account is suspended", ErrorCode.ACCOUNT_SUSPENDED)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
        await user.save(update_fields=["password_hash"])
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=ctx.services.token_ttl_seconds)
    await AuthToken.create(
        user=user,
        token_hash=hash_token(token),
        expires_at=expires_at,
        last_used_at=datetime.now(UTC),
        user_agent=sessions.user_agent(ctx),
    )
    return Session(user=user, token=token, expires_at=expires_at)


async def log_out(ctx: Context) -> None:
    """Revoke the token of this request (its open websockets are closed too)."""
    viewer = require_viewer(ctx)
    if ctx.token_hash is not None:
        await tokens.revoke_tokens(ctx.services, viewer.id, [ctx.token_hash])


async def update_profile(
    ctx: Context,
    *,
    display_name: str | None = None,
    bio: str | None = None,
    links: list[str] | None = None,
    open_for_commissions: bool | None = None,
    ai_training_policy: TrainingPolicy | None = None,
) -> User:
    """Change the given fields; ``None`` leaves a field as it is."""
    viewer = require_viewer(ctx)
    changes: dict[str, object] = {}
    errors: list[FieldError | None] = []
    if display_name is not None:
        name = clean_text(display_name)
        errors.append(
            check_length("displayName", name, low=1, high=DISPLAY_NAME_MAX, what="display name")
        )
        changes["display_name"] = name
    if bio is not None:
        text = clean_text(bio)
        errors.append(check_length("bio", text, high=BIO_MAX))
        changes["bio"] = text
    if links is not None:
        cleaned = [link.strip() for link in links]
        errors.append(check_links("links", cleaned))
        changes["links"] = cleaned
    if open_for_commissions is not None:
        changes["open_for_commissions"] = open_for_commissions
    if ai_training_policy is not None:
        changes["ai_training_policy"] = ai_training_policy
    raise_if_any(errors)
    if changes:
        await User.filter(id=viewer.id).update(**changes)
        for name, value in changes.items():
            setattr(viewer, name, value)
    if "ai_training_policy" in changes:
        # every image that follows the default says something else now: cached copies go
        purge(ctx.services.purger, [artist_key(viewer.id)])
    return viewer
