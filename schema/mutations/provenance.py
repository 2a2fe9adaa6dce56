"""Provenance: whose is this picture?"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.file_uploads import Upload

from resolvers import media, posts, ratelimit
from resolvers.access import can_see_media, hidden_member
from schema.base import Info, UserError
from schema.media import MediaAsset, read_upload
from schema.mutations.common import attempt
from schema.types import Artwork, Post, User
from storage import models


@strawberry.type(description="What the watermark of an image says about where it comes from.")
class IdentifyImagePayload:
    found: bool = strawberry.field(description="The image carries a watermark of this server.")
    image: MediaAsset | None = strawberry.field(
        description="The published image it was made from; null when not visible to you."
    )
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
        ctx = info.context
        owner = await ctx.loaders.user.load(row.owner_id)
        if await hidden_member(ctx, row.owner_id):  # a block, either way: no artist details
            owner = None
        # A hidden work's image, report and URLs stay hidden; only its artist is named.
        visible = await can_see_media(ctx, row)
        artwork = await ctx.loaders.artwork.load(row.artwork_id) if row.artwork_id else None
        post = await posts.get_post(ctx, row.post_id) if row.post_id else None
        return cls(
            found=True,
            image=MediaAsset.from_row(row) if visible else None,
            artist=User.from_row(owner) if owner is not None else None,
            artwork=Artwork.from_row(artwork) if artwork is not None and visible else None,
            post=Post.from_row(post) if post is not None and visible else None,
            errors=errors,
        )


@strawberry.type
class ProvenanceMutations:
    @strawberry.mutation(
        description=(
            "Whose is this picture? Reads the watermark of any copy of a published image "
            "(anyone may ask)."
        )
    )
    async def identify_image(self, info: Info, file: Upload) -> IdentifyImagePayload:
        # A copy that is cropped, turned or mirrored is read by a search that may cost a
        # second of an imaging worker: reads are counted per address, before any work.
        ctx = info.context
        await ratelimit.charge(ctx.services, "identify", ratelimit.client_ip(ctx))

        async def run() -> Any:
            data = await read_upload(info, file, "file")
            return await media.identify_upload(info.context.services, data)

        row, errors = await attempt(run)
        return await IdentifyImagePayload.of(info, row, errors)
