"""Posts."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import posts
from schema.base import Info, IsAuthenticated, UserError, decode_id
from schema.media import ImageInput, image_uploads
from schema.mutations.common import DeletePayload, attempt
from schema.types import Post
from storage.models import Visibility


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
    content_warning: str = strawberry.field(
        default="", description="Up to 500 characters, shown before the post."
    )
    sensitive: bool = strawberry.field(
        default=False, description="The images are sensitive (implied by a content warning)."
    )


@strawberry.type
class PostPayload:
    post: Post | None
    errors: list[UserError]


@strawberry.type
class PostMutations:
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
                content_warning=input.content_warning,
                sensitive_media=input.sensitive,
            )

        row, errors = await attempt(run)
        return PostPayload(post=Post.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description=(
            "Change the text of your post (#tags and mentions follow it). The earlier text is "
            "kept in `revisions`, `editedAt` is set, and live home feeds get the post again as "
            "EDITED."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def update_post(self, info: Info, id: strawberry.ID, text: str) -> PostPayload:
        row, errors = await attempt(
            lambda: posts.update_post(info.context, decode_id(id, "id", "Post"), text=text)
        )
        return PostPayload(post=Post.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_post(self, info: Info, id: strawberry.ID) -> DeletePayload:
        deleted, errors = await attempt(
            lambda: posts.delete_post(info.context, decode_id(id, "id", "Post"))
        )
        return DeletePayload(deleted_id=id if deleted else None, errors=errors)
