"""Accounts: sign-up, sign-in and out, profile, avatar."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from resolvers import accounts, credentials, media, ratelimit
from schema.base import Info, IsAuthenticated, UserError
from schema.media import ImageInput, image_uploads
from schema.mutations.common import UNSET, attempt, present, user_or_none
from schema.types import User
from storage.models import TrainingPolicy


@strawberry.input
class SignUpInput:
    handle: str = strawberry.field(description="3-30 letters, digits or underscores; unique.")
    email: str
    password: str = strawberry.field(description="8 to 256 characters.")
    display_name: str | None = None


@strawberry.type
class SignUpPayload:
    user: User | None
    errors: list[UserError]


@strawberry.input
class LogInInput:
    login: str = strawberry.field(description="Handle or email.")
    password: str


@strawberry.type
class LogInPayload:
    token: str | None = strawberry.field(
        description="Send as `Authorization: Bearer <token>`; shown once."
    )
    expires_at: datetime | None
    user: User | None
    errors: list[UserError]


@strawberry.type
class LogOutPayload:
    ok: bool
    errors: list[UserError]


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = UNSET
    bio: str | None = UNSET
    links: list[str] | None = UNSET
    open_for_commissions: bool | None = UNSET
    ai_training_policy: TrainingPolicy | None = UNSET


@strawberry.type
class UpdateProfilePayload:
    user: User | None
    errors: list[UserError]


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Create an account; a link to confirm the email is mailed.")
    async def sign_up(self, info: Info, input: SignUpInput) -> SignUpPayload:
        await ratelimit.charge(info.context.services, "signup", ratelimit.client_ip(info.context))
        row, errors = await attempt(
            lambda: accounts.sign_up(
                handle=input.handle,
                email=input.email,
                password=input.password,
                display_name=input.display_name,
            )
        )
        if row is not None:  # a link to confirm the address, mailed in the background
            await credentials.verification_after_sign_up(info.context.services, row)
        return SignUpPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation
    async def log_in(self, info: Info, input: LogInInput) -> LogInPayload:
        session, errors = await attempt(
            lambda: accounts.log_in(info.context, login=input.login, password=input.password)
        )
        if session is None:
            return LogInPayload(token=None, expires_at=None, user=None, errors=errors)
        return LogInPayload(
            token=session.token,
            expires_at=session.expires_at,
            user=User.from_row(session.user),
            errors=[],
        )

    @strawberry.mutation(
        description="Revoke the token of this request.", permission_classes=[IsAuthenticated]
    )
    async def log_out(self, info: Info) -> LogOutPayload:
        await accounts.log_out(info.context)
        return LogOutPayload(ok=True, errors=[])

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        async def run() -> Any:
            return await accounts.update_profile(info.context, **present(vars(input)))

        row, errors = await attempt(run)
        return UpdateProfilePayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(
        description="Replace your avatar with a protected image.",
        permission_classes=[IsAuthenticated],
    )
    async def set_avatar(self, info: Info, image: ImageInput) -> UpdateProfilePayload:
        async def run() -> Any:
            (upload,) = await image_uploads(info, [image], "image")
            return await media.set_avatar(info.context, upload)

        row, errors = await attempt(run)
        return UpdateProfilePayload(user=user_or_none(row), errors=errors)
