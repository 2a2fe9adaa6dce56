"""Passwords, email and sessions: change, reset by mail, verify the address, end a sign-in, and
leave (delete the account)."""

from __future__ import annotations

import strawberry

from resolvers import credentials, leaving, sessions
from schema.base import Info, IsAuthenticated, UserError, decode_id, to_global_id
from schema.mutations.common import DeletePayload, attempt, user_or_none
from schema.types import User


@strawberry.type
class AccountPayload:
    user: User | None
    errors: list[UserError]


@strawberry.type
class RequestPasswordResetPayload:
    ok: bool = strawberry.field(description="Always true: the answer says nothing of the address.")
    errors: list[UserError]


@strawberry.type
class CredentialMutations:
    @strawberry.mutation(
        description=(
            "Change the viewer's password. Every other sign-in of the account ends (its tokens "
            "are revoked and their websockets closed); this one stays."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def change_password(
        self, info: Info, current_password: str, new_password: str
    ) -> AccountPayload:
        row, errors = await attempt(
            lambda: credentials.change_password(
                info.context, current_password=current_password, new_password=new_password
            )
        )
        return AccountPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(
        description=(
            "Mail a link to reset the password of the account with this email, valid for an "
            "hour and once. The answer is the same whether there is such an account or not."
        )
    )
    async def request_password_reset(self, info: Info, email: str) -> RequestPasswordResetPayload:
        await credentials.request_password_reset(info.context, email)
        return RequestPasswordResetPayload(ok=True, errors=[])

    @strawberry.mutation(
        description=(
            "Set a new password with the token of a reset mail; every sign-in of the account "
            "ends. Sign in again with the new password."
        )
    )
    async def reset_password(self, info: Info, token: str, new_password: str) -> AccountPayload:
        row, errors = await attempt(
            lambda: credentials.reset_password(info.context, token=token, new_password=new_password)
        )
        return AccountPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(description="Confirm the account's email with the token mailed to it.")
    async def verify_email(self, info: Info, token: str) -> AccountPayload:
        row, errors = await attempt(lambda: credentials.verify_email(info.context, token))
        return AccountPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(
        description="Mail the viewer a new link to confirm their email (none once confirmed).",
        permission_classes=[IsAuthenticated],
    )
    async def resend_verification(self, info: Info) -> AccountPayload:
        row, errors = await attempt(lambda: credentials.resend_verification(info.context))
        return AccountPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(
        description=(
            "End one of the viewer's sign-ins (viewer.sessions): its token is revoked and its "
            "websockets closed. Ending the current one signs this client out."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def revoke_session(self, info: Info, id: strawberry.ID) -> DeletePayload:
        revoked, errors = await attempt(
            lambda: sessions.revoke_session(info.context, decode_id(id, "id", "Session"))
        )
        return DeletePayload(deleted_id=id if revoked else None, errors=errors)

    @strawberry.mutation(
        description=(
            "Delete the viewer's account for good, after checking its password (a wrong one "
            "counts like a failed sign-in). At once the account can no longer sign in, every "
            "sign-in ends (tokens revoked, websockets closed) and the account and everything "
            "of it read as missing for everyone; its posts, artworks, images, comments, likes, "
            "follows and notifications are then removed in the background. The handle stays "
            "reserved. deletedId is the account's id."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def delete_account(self, info: Info, password: str) -> DeletePayload:
        account_id, errors = await attempt(lambda: leaving.delete_account(info.context, password))
        deleted = to_global_id("User", account_id) if account_id is not None else None
        return DeletePayload(deleted_id=deleted, errors=errors)
