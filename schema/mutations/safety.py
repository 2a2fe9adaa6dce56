"""Blocks and mutes."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import safety
from schema.base import Info, IsAuthenticated, UserError, decode_id
from schema.mutations.common import UNSET, attempt, present, user_or_none
from schema.types import User


@strawberry.type
class BlockPayload:
    user: User | None
    errors: list[UserError]


@strawberry.type
class MutePayload:
    user: User | None
    expires_at: datetime | None = strawberry.field(description="Null: until unmuted.")
    errors: list[UserError]


@strawberry.input
class UpdateSettingsInput:
    show_sensitive: bool | None = strawberry.field(
        default=UNSET, description="Your reads carry the URLs of images marked sensitive."
    )


@strawberry.type
class SettingsPayload:
    user: User | None
    errors: list[UserError]


@strawberry.type
class SafetyMutations:
    @strawberry.mutation(
        description="Change your settings (only the fields given).",
        permission_classes=[IsAuthenticated],
    )
    async def update_settings(self, info: Info, input: UpdateSettingsInput) -> SettingsPayload:
        async def run() -> User:
            row = await safety.update_settings(info.context, **present(vars(input)))
            return User.from_row(row)

        user, errors = await attempt(run)
        return SettingsPayload(user=user, errors=errors)

    @strawberry.mutation(
        description=(
            "Block a member: each of you is hidden from the other everywhere (reads as missing) "
            "and the follows between you end. Blocking twice is not an error."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def block_user(self, info: Info, user_id: strawberry.ID) -> BlockPayload:
        row, errors = await attempt(
            lambda: safety.block_user(info.context, decode_id(user_id, "userId", "User"))
        )
        return BlockPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unblock_user(self, info: Info, user_id: strawberry.ID) -> BlockPayload:
        row, errors = await attempt(
            lambda: safety.unblock_user(info.context, decode_id(user_id, "userId", "User"))
        )
        return BlockPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(
        description=(
            "Mute a member: their posts and notifications leave your feeds and live events, "
            "for durationSeconds (1 s to 366 days) or, when null, until unmuted. They are not "
            "told; muting again sets a new end."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def mute_user(
        self, info: Info, user_id: strawberry.ID, duration_seconds: int | None = None
    ) -> MutePayload:
        async def run() -> tuple[User, datetime | None]:
            pk = decode_id(user_id, "userId", "User")
            mute = await safety.mute_user(info.context, pk, duration_seconds)
            user = await info.context.loaders.user.load(pk)
            assert user is not None
            return User.from_row(user), mute.expires_at

        done, errors = await attempt(run)
        user, ends = done if done is not None else (None, None)
        return MutePayload(user=user, expires_at=ends, errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unmute_user(self, info: Info, user_id: strawberry.ID) -> BlockPayload:
        row, errors = await attempt(
            lambda: safety.unmute_user(info.context, decode_id(user_id, "userId", "User"))
        )
        return BlockPayload(user=user_or_none(row), errors=errors)
