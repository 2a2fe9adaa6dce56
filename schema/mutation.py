"""Root mutations. Each returns a payload ``{object, errors}``: expected failures (bad input) are
``errors`` and change nothing; missing sign-in and acting on someone else's things are top-level
errors (UNAUTHENTICATED, FORBIDDEN)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types.unset import UnsetType

from resolvers import accounts, media, portfolio, posts, social
from resolvers.access import can_see_artwork
from resolvers.errors import ErrorCode, FieldError, InputError
from resolvers.social import CommentTarget
from schema.base import Info, IsAuthenticated, UserError, decode_id, parse_global_id
from schema.media import ImageInput, MediaAsset, image_uploads, read_upload
from schema.types import Artwork, Comment, Post, User
from storage import models
from storage.models import TrainingPolicy, Visibility

T = TypeVar("T")
UNSET: Any = strawberry.UNSET


async def attempt(action: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    try:
        return await action(), []
    except InputError as error:
        return None, UserError.from_input_error(error)


def present(values: dict[str, Any], *, nullable: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields the client sent. An explicit null is refused unless the field is nullable."""
    given = {k: v for k, v in values.items() if not isinstance(v, UnsetType)}
    nulls = [k for k, v in given.items() if v is None and k not in nullable]
    if nulls:
        raise InputError(
            [
                FieldError(_camel(k), f"{_camel(k)} cannot be null", ErrorCode.REQUIRED)
                for k in nulls
            ]
        )
    return given


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# --- accounts ---------------------------------------------------------------------------------


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


# --- portfolio --------------------------------------------------------------------------------


@strawberry.input
class CreateArtworkInput:
    title: str
    description: str = ""
    medium: str = ""
    tags: list[str] = strawberry.field(default_factory=list)
    visibility: Visibility = Visibility.PUBLIC
    ai_training_policy: TrainingPolicy | None = strawberry.field(
        default=None, description="Override of the artist's default; null inherits it."
    )
    images: list[ImageInput] = strawberry.field(
        default_factory=list, description="Up to 10 images, each protected before it is stored."
    )


@strawberry.input
class UpdateArtworkInput:
    title: str | None = UNSET
    description: str | None = UNSET
    medium: str | None = UNSET
    tags: list[str] | None = UNSET
    visibility: Visibility | None = UNSET
    ai_training_policy: TrainingPolicy | None = strawberry.field(
        default=UNSET, description="null clears the override (the artist's default applies)."
    )


@strawberry.type
class ArtworkPayload:
    artwork: Artwork | None
    errors: list[UserError]


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]


@strawberry.type
class ReorderPortfolioPayload:
    user: User | None
    errors: list[UserError]


# --- posts and social -------------------------------------------------------------------------


@strawberry.input
class CreatePostInput:
    text: str = strawberry.field(description="Up to 2,000 characters; #tags feed tagFeed.")
    artwork_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Up to 10 of your own artworks."
    )
    reply_to: strawberry.ID | None = None
    visibility: Visibility = Visibility.PUBLIC
    images: list[ImageInput] = strawberry.field(
        default_factory=list, description="Up to 10 images, each protected before it is stored."
    )


@strawberry.type
class PostPayload:
    post: Post | None
    errors: list[UserError]


@strawberry.type
class FollowPayload:
    user: User | None
    errors: list[UserError]


@strawberry.input
class AddCommentInput:
    subject_id: strawberry.ID = strawberry.field(description="A Post or an Artwork id.")
    text: str = strawberry.field(description="1 to 1,000 characters.")


@strawberry.type
class CommentPayload:
    comment: Comment | None
    errors: list[UserError]


@strawberry.type(description="What the watermark of an image says about where it comes from.")
class IdentifyImagePayload:
    found: bool = strawberry.field(description="The image carries a watermark of this server.")
    image: MediaAsset | None
    artist: User | None
    artwork: Artwork | None = strawberry.field(description="Null when not visible to you.")
    post: Post | None = strawberry.field(description="Null when not visible to you.")
    errors: list[UserError]

    @classmethod
    async def of(
        cls, info: Info, row: models.MediaAsset | None, errors: list[UserError]
    ) -> IdentifyImagePayload:
        if row is None:
            return cls(found=False, image=None, artist=None, artwork=None, post=None, errors=errors)
        owner = await info.context.loaders.user.load(row.owner_id)
        artwork = (
            await info.context.loaders.artwork.load(row.artwork_id) if row.artwork_id else None
        )
        post = await posts.get_post(info.context, row.post_id) if row.post_id else None
        visible_artwork = artwork is not None and await can_see_artwork(info.context, artwork)
        return cls(
            found=True,
            image=MediaAsset.from_row(row),
            artist=User.from_row(owner) if owner is not None else None,
            artwork=Artwork.from_row(artwork) if artwork is not None and visible_artwork else None,
            post=Post.from_row(post) if post is not None else None,
            errors=errors,
        )


def _user(row: Any) -> User | None:
    return User.from_row(row) if row is not None else None


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def sign_up(self, info: Info, input: SignUpInput) -> SignUpPayload:
        row, errors = await attempt(
            lambda: accounts.sign_up(
                handle=input.handle,
                email=input.email,
                password=input.password,
                display_name=input.display_name,
            )
        )
        return SignUpPayload(user=_user(row), errors=errors)

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
        return UpdateProfilePayload(user=_user(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_artwork(self, info: Info, input: CreateArtworkInput) -> ArtworkPayload:
        async def run() -> Any:
            return await portfolio.create_artwork(
                info.context,
                title=input.title,
                description=input.description,
                medium=input.medium,
                tags=input.tags,
                visibility=input.visibility,
                ai_training_policy=input.ai_training_policy,
                images=await image_uploads(info, input.images, "images"),
            )

        row, errors = await attempt(run)
        return ArtworkPayload(artwork=Artwork.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Add a protected image to one of your artworks.",
        permission_classes=[IsAuthenticated],
    )
    async def add_artwork_image(
        self, info: Info, artwork_id: strawberry.ID, image: ImageInput
    ) -> ArtworkPayload:
        async def run() -> Any:
            pk = decode_id(artwork_id, "artworkId", "Artwork")
            (upload,) = await image_uploads(info, [image], "image")
            return await portfolio.add_artwork_image(info.context, pk, upload)

        row, errors = await attempt(run)
        return ArtworkPayload(artwork=Artwork.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Delete one image of one of your artworks (its files too).",
        permission_classes=[IsAuthenticated],
    )
    async def remove_artwork_image(self, info: Info, id: strawberry.ID) -> ArtworkPayload:
        async def run() -> Any:
            return await portfolio.remove_artwork_image(
                info.context, decode_id(id, "id", "MediaAsset")
            )

        row, errors = await attempt(run)
        return ArtworkPayload(artwork=Artwork.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Replace your avatar with a protected image.",
        permission_classes=[IsAuthenticated],
    )
    async def set_avatar(self, info: Info, image: ImageInput) -> UpdateProfilePayload:
        async def run() -> Any:
            (upload,) = await image_uploads(info, [image], "image")
            return await media.set_avatar(info.context, upload)

        row, errors = await attempt(run)
        return UpdateProfilePayload(user=_user(row), errors=errors)

    @strawberry.mutation(
        description=(
            "Whose is this picture? Reads the watermark of any copy of a published image "
            "(anyone may ask)."
        )
    )
    async def identify_image(self, info: Info, file: Upload) -> IdentifyImagePayload:
        async def run() -> Any:
            data = await read_upload(info, file, "file")
            return await media.identify_upload(info.context.services, data)

        row, errors = await attempt(run)
        return await IdentifyImagePayload.of(info, row, errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_artwork(
        self, info: Info, id: strawberry.ID, input: UpdateArtworkInput
    ) -> ArtworkPayload:
        async def run() -> Any:
            pk = decode_id(id, "id", "Artwork")
            fields = present(vars(input), nullable=("ai_training_policy",))
            clear = "ai_training_policy" in fields and fields["ai_training_policy"] is None
            return await portfolio.update_artwork(
                info.context, pk, clear_ai_training_policy=clear, **fields
            )

        row, errors = await attempt(run)
        return ArtworkPayload(artwork=Artwork.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_artwork(self, info: Info, id: strawberry.ID) -> DeletePayload:
        deleted, errors = await attempt(
            lambda: portfolio.delete_artwork(info.context, decode_id(id, "id", "Artwork"))
        )
        return DeletePayload(deleted_id=id if deleted else None, errors=errors)

    @strawberry.mutation(
        description="Order the whole portfolio: list every one of your artworks once.",
        permission_classes=[IsAuthenticated],
    )
    async def reorder_portfolio(
        self, info: Info, artwork_ids: list[strawberry.ID]
    ) -> ReorderPortfolioPayload:
        async def run() -> Any:
            pks = [decode_id(i, "artworkIds", "Artwork") for i in artwork_ids[:1001]]
            return await portfolio.reorder_portfolio(info.context, pks)

        row, errors = await attempt(run)
        return ReorderPortfolioPayload(user=_user(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_post(self, info: Info, input: CreatePostInput) -> PostPayload:
        async def run() -> Any:
            return await posts.create_post(
                info.context,
                text=input.text,
                artwork_ids=[decode_id(i, "artworkIds", "Artwork") for i in input.artwork_ids],
                reply_to_id=(
                    decode_id(input.reply_to, "replyTo", "Post")
                    if input.reply_to is not None
                    else None
                ),
                visibility=input.visibility,
                images=await image_uploads(info, input.images, "images"),
            )

        row, errors = await attempt(run)
        return PostPayload(post=Post.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_post(self, info: Info, id: strawberry.ID) -> DeletePayload:
        deleted, errors = await attempt(
            lambda: posts.delete_post(info.context, decode_id(id, "id", "Post"))
        )
        return DeletePayload(deleted_id=id if deleted else None, errors=errors)

    @strawberry.mutation(
        description="Follow an artist; following twice is not an error.",
        permission_classes=[IsAuthenticated],
    )
    async def follow(self, info: Info, user_id: strawberry.ID) -> FollowPayload:
        row, errors = await attempt(
            lambda: social.follow(info.context, decode_id(user_id, "userId", "User"))
        )
        return FollowPayload(user=_user(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unfollow(self, info: Info, user_id: strawberry.ID) -> FollowPayload:
        row, errors = await attempt(
            lambda: social.unfollow(info.context, decode_id(user_id, "userId", "User"))
        )
        return FollowPayload(user=_user(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def like_post(self, info: Info, post_id: strawberry.ID) -> PostPayload:
        return await _like_post(info, post_id, liked=True)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unlike_post(self, info: Info, post_id: strawberry.ID) -> PostPayload:
        return await _like_post(info, post_id, liked=False)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def like_artwork(self, info: Info, artwork_id: strawberry.ID) -> ArtworkPayload:
        return await _like_artwork(info, artwork_id, liked=True)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unlike_artwork(self, info: Info, artwork_id: strawberry.ID) -> ArtworkPayload:
        return await _like_artwork(info, artwork_id, liked=False)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def add_comment(self, info: Info, input: AddCommentInput) -> CommentPayload:
        async def run() -> Any:
            kind, pk = parse_global_id(input.subject_id, "subjectId", "Post", "Artwork")
            target = CommentTarget(post_id=pk) if kind == "Post" else CommentTarget(artwork_id=pk)
            return await social.add_comment(info.context, target, input.text)

        row, errors = await attempt(run)
        return CommentPayload(comment=Comment.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Delete a comment you wrote, or one on your own post or artwork.",
        permission_classes=[IsAuthenticated],
    )
    async def delete_comment(self, info: Info, id: strawberry.ID) -> DeletePayload:
        deleted, errors = await attempt(
            lambda: social.delete_comment(info.context, decode_id(id, "id", "Comment"))
        )
        return DeletePayload(deleted_id=id if deleted else None, errors=errors)


async def _like_post(info: Info, post_id: str, *, liked: bool) -> PostPayload:
    row, errors = await attempt(
        lambda: social.set_post_like(
            info.context, decode_id(post_id, "postId", "Post"), liked=liked
        )
    )
    return PostPayload(post=Post.from_row(row) if row else None, errors=errors)


async def _like_artwork(info: Info, artwork_id: str, *, liked: bool) -> ArtworkPayload:
    row, errors = await attempt(
        lambda: social.set_artwork_like(
            info.context, decode_id(artwork_id, "artworkId", "Artwork"), liked=liked
        )
    )
    return ArtworkPayload(artwork=Artwork.from_row(row) if row else None, errors=errors)
