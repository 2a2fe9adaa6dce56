"""Passwords and email: changing a password, recovering an account by mail, verifying an address.

Secrets mailed to an account (``AccountToken``) are random, stored only as SHA-256 hashes like
bearer tokens, single-use (spending one is one conditional update, so two requests cannot both
spend it) and short-lived. A password reset answers the same whether the address belongs to an
account or not, and mails in the background, so neither its answer nor its timing tells.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from resolvers import passwords, ratelimit, tokens
from resolvers.accounts import PASSWORD_MAX, PASSWORD_MIN, hash_token
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, FieldError, InputError
from resolvers.services import Services
from resolvers.validation import EMAIL_MAX, check_length, raise_if_any, storable
from storage.db import in_transaction
from storage.mail import MailError
from storage.models import AccountToken, AccountTokenPurpose, User

log = logging.getLogger("gesso.mail")

RESET_TTL = timedelta(hours=1)
VERIFY_TTL = timedelta(days=2)
TOKEN_MAX = 128  # characters of a mailed token (ours are 43)

# Mails being sent in the background, held so they are not collected half-way.
_sending: set[asyncio.Task[None]] = set()


def _check_new_password(field: str, password: str) -> FieldError | None:
    return check_length(field, password, low=PASSWORD_MIN, high=PASSWORD_MAX)


async def change_password(ctx: Context, *, current_password: str, new_password: str) -> User:
    """Change the viewer's password; every other token of the account is revoked (its sockets
    closed), the one of this request stays."""
    viewer = require_viewer(ctx)
    raise_if_any([_check_new_password("newPassword", new_password)])
    # Guessing the current password here counts like failed sign-ins.
    await ratelimit.check(ctx.services, "login_account", viewer.id)
    if not await passwords.verify_password(viewer.password_hash, current_password):
        await ratelimit.charge(ctx.services, "login_account", viewer.id)
        raise InputError.single("currentPassword", "wrong password", ErrorCode.INVALID_CREDENTIALS)
    viewer.password_hash = await passwords.hash_password(new_password)
    await User.filter(id=viewer.id).update(password_hash=viewer.password_hash)
    await tokens.revoke_tokens(ctx.services, viewer.id, keep=ctx.token_hash)
    return viewer


async def request_password_reset(ctx: Context, email: str) -> None:
    """Mail a reset link to the account with ``email``, if there is one. The same answer either
    way; limited per client and per address."""
    email_key = email.strip().lower()
    await ratelimit.charge(ctx.services, "password_reset_ip", ratelimit.client_ip(ctx))
    if not (0 < len(email_key) <= EMAIL_MAX and storable(email_key)):
        return
    await ratelimit.charge(ctx.services, "password_reset_email", email_key)
    user = await User.filter(email_key=email_key).first()
    if user is None:
        return
    token = await _issue(user, AccountTokenPurpose.PASSWORD_RESET, RESET_TTL)
    _send_later(ctx.services, _reset_mail(ctx.services, user, token))


async def reset_password(ctx: Context, *, token: str, new_password: str) -> User:
    """Set a new password with a reset token (once); every token of the account is revoked,
    and the address counts as verified (the mail reached its owner)."""
    raise_if_any([_check_new_password("newPassword", new_password)])
    await ratelimit.charge(ctx.services, "password_reset_ip", ratelimit.client_ip(ctx))
    user = await _spend(token, AccountTokenPurpose.PASSWORD_RESET)
    password_hash = await passwords.hash_password(new_password)
    await User.filter(id=user.id).update(password_hash=password_hash, email_verified=True)
    await tokens.revoke_tokens(ctx.services, user.id)
    return await User.get(id=user.id)


async def verify_email(ctx: Context, token: str) -> User:
    """Mark the account's address verified, if the token was mailed to it as it is now."""
    await ratelimit.charge(ctx.services, "password_reset_ip", ratelimit.client_ip(ctx))
    user = await _spend(token, AccountTokenPurpose.VERIFY_EMAIL)
    await User.filter(id=user.id).update(email_verified=True)
    return await User.get(id=user.id)


async def resend_verification(ctx: Context) -> User:
    """Mail the viewer a new verification link (nothing when the address is verified)."""
    viewer = require_viewer(ctx)
    if viewer.email_verified:
        return viewer
    await ratelimit.charge(ctx.services, "verification", viewer.id)
    send_verification(ctx.services, viewer, await _issue_verification(viewer))
    return viewer


async def _issue_verification(user: User) -> str:
    return await _issue(user, AccountTokenPurpose.VERIFY_EMAIL, VERIFY_TTL)


async def verification_after_sign_up(services: Services, user: User) -> None:
    send_verification(services, user, await _issue_verification(user))


async def _issue(user: User, purpose: AccountTokenPurpose, ttl: timedelta) -> str:
    """A new token of ``purpose`` for ``user``; the ones not spent yet are void from now."""
    token = secrets.token_urlsafe(32)
    async with in_transaction():
        await AccountToken.filter(user_id=user.id, purpose=purpose).delete()
        await AccountToken.create(
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(token),
            email_key=user.email_key,
            expires_at=datetime.now(UTC) + ttl,
        )
    return token


async def _spend(token: str, purpose: AccountTokenPurpose) -> User:
    """The account a live, unspent ``token`` of ``purpose`` belongs to, spending it."""
    refused = InputError.single(
        "token", "this link is invalid, used or expired; ask for a new one", ErrorCode.INVALID_TOKEN
    )
    if not (0 < len(token) <= TOKEN_MAX and storable(token)):
        raise refused
    now = datetime.now(UTC)
    token_hash = hash_token(token)
    row = await AccountToken.filter(token_hash=token_hash, purpose=purpose).first()
    if row is None:
        raise refused
    spent = await AccountToken.filter(id=row.id, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    user = await User.get_or_none(id=row.user_id)
    if not spent or user is None or user.email_key != row.email_key:
        raise refused
    return user


# --- the mails --------------------------------------------------------------------------------


def _link(services: Services, path: str, token: str) -> str:
    if services.public_url is None:
        return f"your code: {token}"
    return f"{services.public_url}{path}?token={token}"


def _message(services: Services, user: User, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = services.mail_from
    message["To"] = user.email
    message["Subject"] = subject
    message.set_content(f"Hello {user.display_name or user.handle},\n\n{body}\n\n-- Gesso\n")
    return message


def _reset_mail(services: Services, user: User, token: str) -> EmailMessage:
    return _message(
        services,
        user,
        "Reset your Gesso password",
        "Someone (we hope you) asked to reset the password of @"
        f"{user.handle}. Within an hour, once:\n\n{_link(services, '/reset-password', token)}\n\n"
        "If it was not you, ignore this mail: your password stays as it is.",
    )


def send_verification(services: Services, user: User, token: str) -> None:
    message = _message(
        services,
        user,
        "Confirm your email for Gesso",
        f"Confirm that {user.email} is the address of @{user.handle}:\n\n"
        f"{_link(services, '/verify-email', token)}",
    )
    _send_later(services, message)


def _send_later(services: Services, message: EmailMessage) -> None:
    """Send in the background: a slow mail server delays no answer, and the answer's timing
    says nothing of whether a mail went."""
    if services.mailer is None:
        return
    task = asyncio.create_task(_send(services, message))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def _send(services: Services, message: EmailMessage) -> None:
    assert services.mailer is not None
    try:
        await services.mailer.send(message)
    except MailError as error:
        log.warning("mail %r to %s not sent: %s", message["Subject"], message["To"], error)


async def drain() -> None:
    """Wait for the mails being sent (tests, and a server shutting down)."""
    while _sending:
        await asyncio.gather(*list(_sending), return_exceptions=True)
