"""Portfolio: artworks, their images and their order."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import portfolio
from schema.base import Info, IsAuthenticated, UserError, decode_id
from schema.media import ImageInput, image_uploads
from schema.mutations.common import UNSET, DeletePayload, attempt, present, user_or_none
from schema.types import Artwork, User
from storage.models import TrainingPolicy, Visibility


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
    content_warning: str = strawberry.field(
        default="", description="Up to 500 characters, shown before the artwork."
    )
    sensitive: bool = strawberry.field(
        default=False, description="The images are sensitive (implied by a content warning)."
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
    content_warning: str | None = strawberry.field(
        default=UNSET, description="Empty removes it (the images stay as `sensitive` says)."
    )
    sensitive: bool | None = UNSET


@strawberry.type
class ArtworkPayload:
    artwork: Artwork | None
    errors: list[UserError]


@strawberry.type
class ReorderPortfolioPayload:
    user: User | None
    errors: list[UserError]


@strawberry.type
class PortfolioMutations:
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
                content_warning=input.content_warning,
                sensitive_media=input.sensitive,
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

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_artwork(
        self, info: Info, id: strawberry.ID, input: UpdateArtworkInput
    ) -> ArtworkPayload:
        async def run() -> Any:
            pk = decode_id(id, "id", "Artwork")
            fields = present(vars(input), nullable=("ai_training_policy",))
            clear = "ai_training_policy" in fields and fields["ai_training_policy"] is None
            if "sensitive" in fields:
                fields["sensitive_media"] = fields.pop("sensitive")
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
        return ReorderPortfolioPayload(user=user_or_none(row), errors=errors)
