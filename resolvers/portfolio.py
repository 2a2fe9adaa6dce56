"""Portfolio: an artist's artworks in the order the artist chooses."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from resolvers import counts, generated, media, ratelimit, sensitive
from resolvers.access import can_see_artwork, load_owned_artwork, visible_to_viewer
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, FieldError, InputError
from resolvers.pagination import CursorFn, Page, decode_cursor, page_size, paginate
from resolvers.services import Services
from resolvers.surrogates import artwork_key, purge
from resolvers.usersql import PortfolioReader
from resolvers.validation import check_length, clean_text, normalize_tags, raise_if_any
from storage import rawsql
from storage.db import in_transaction
from storage.models import Artwork, MediaAsset, MediaKind, TrainingPolicy, User, Visibility

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
MEDIUM_MAX = 100
REORDER_MAX = 1000

portfolio_cursor: CursorFn[Artwork] = CursorFn("portfolio", "position", "id")


def _check_fields(
    *, title: str | None, description: str | None, medium: str | None, tags: list[str] | None
) -> tuple[dict[str, Any], list[FieldError | None]]:
    values: dict[str, Any] = {}
    errors: list[FieldError | None] = []
    if title is not None:
        values["title"] = clean_text(title)
        errors.append(check_length("title", str(values["title"]), low=1, high=TITLE_MAX))
    if description is not None:
        values["description"] = clean_text(description)
        errors.append(check_length("description", str(values["description"]), high=DESCRIPTION_MAX))
    if medium is not None:
        values["medium"] = clean_text(medium)
        errors.append(check_length("medium", str(values["medium"]), high=MEDIUM_MAX))
    if tags is not None:
        values["tags"], error = normalize_tags("tags", tags)
        errors.append(error)
    return values, errors


async def create_artwork(
    ctx: Context,
    *,
    title: str,
    description: str = "",
    medium: str = "",
    tags: list[str] | None = None,
    visibility: Visibility = Visibility.PUBLIC,
    ai_training_policy: TrainingPolicy | None = None,
    images: Sequence[media.ImageUpload] = (),
    content_warning: str = "",
    sensitive_media: bool = False,
) -> Artwork:
    viewer = require_viewer(ctx)
    values, errors = _check_fields(
        title=title, description=description, medium=medium, tags=tags or []
    )
    labels, label_errors = sensitive.labels(content_warning, sensitive_media)
    values.update(labels)
    raise_if_any(errors + label_errors + media.check_uploads("images", images))
    values["ai_generated"] = await generated.screen(
        ctx.services, images, MediaKind.ARTWORK, "images"
    )
    await ratelimit.charge(ctx.services, "artwork", viewer.id)
    async with media.uploaded(ctx.services, viewer, images, "images") as batch, in_transaction():
        # New work goes to the top of the portfolio.
        top = cast(
            "int | None",
            await Artwork.filter(owner_id=viewer.id)
            .order_by("position")
            .first()
            .values_list("position", flat=True),
        )
        artwork = await Artwork.create(
            owner_id=viewer.id,
            position=(top - 1) if top is not None else 0,
            visibility=visibility,
            ai_training_policy=ai_training_policy,
            **values,
        )
        await batch.save(MediaKind.ARTWORK, artwork_id=artwork.id, sensitive=artwork.sensitive)
        await User.filter(id=viewer.id).update(**counts.changes("artwork", visibility, 1))
    return artwork


async def add_artwork_image(ctx: Context, artwork_id: int, upload: media.ImageUpload) -> Artwork:
    """Append a protected image to one of the viewer's artworks."""
    viewer = require_viewer(ctx)
    artwork = await load_owned_artwork(ctx, artwork_id, "artworkId")
    raise_if_any(media.check_uploads("image", [upload]))
    if await MediaAsset.filter(artwork_id=artwork.id).count() >= media.IMAGES_MAX:
        raise InputError.single(
            "image", f"an artwork has at most {media.IMAGES_MAX} images", ErrorCode.TOO_MANY
        )
    labelled = await generated.screen(ctx.services, [upload], MediaKind.ARTWORK, "image")
    async with media.uploaded(ctx.services, viewer, [upload], "image") as batch, in_transaction():
        if labelled and not artwork.ai_generated:
            await Artwork.filter(id=artwork.id).update(ai_generated=True)
            artwork.ai_generated = True
        last = await MediaAsset.filter(artwork_id=artwork.id).order_by("-position").first()
        await batch.save(
            MediaKind.ARTWORK,
            artwork_id=artwork.id,
            first_position=(last.position + 1) if last is not None else 0,
            sensitive=artwork.sensitive,
        )
    return artwork


async def remove_artwork_image(ctx: Context, image_id: int) -> Artwork:
    """Delete one image of one of the viewer's artworks, objects included."""
    require_viewer(ctx)
    row = await MediaAsset.get_or_none(id=image_id, kind=MediaKind.ARTWORK)
    if row is None or row.artwork_id is None:
        raise InputError.single("id", "no such image", ErrorCode.NOT_FOUND)
    artwork = await load_owned_artwork(ctx, row.artwork_id, "id")
    await row.delete()
    await media.removed(ctx.services, [row])
    return artwork


async def update_artwork(
    ctx: Context,
    artwork_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    medium: str | None = None,
    tags: list[str] | None = None,
    visibility: Visibility | None = None,
    ai_training_policy: TrainingPolicy | None = None,
    clear_ai_training_policy: bool = False,
    content_warning: str | None = None,
    sensitive_media: bool | None = None,
) -> Artwork:
    require_viewer(ctx)
    artwork = await load_owned_artwork(ctx, artwork_id, "id")
    values, errors = _check_fields(title=title, description=description, medium=medium, tags=tags)
    labels, label_errors = sensitive.labels(content_warning, sensitive_media)
    values.update(labels)
    raise_if_any(errors + label_errors)
    if visibility is not None:
        values["visibility"] = visibility
    if ai_training_policy is not None:
        values["ai_training_policy"] = ai_training_policy
    elif clear_ai_training_policy:
        values["ai_training_policy"] = None
    if values:
        before = artwork.visibility
        artwork.update_from_dict(values)
        async with in_transaction():
            await artwork.save(update_fields=[*values, "updated_at"])
            if artwork.visibility is not before:
                moved = counts.moved("artwork", before, artwork.visibility)
                await User.filter(id=artwork.owner_id).update(**moved)
            if "sensitive" in values:
                await sensitive.set_sensitive(artwork, artwork.sensitive)
        if "visibility" in values or "ai_training_policy" in values:
            # who may see its images, or what their responses say, changed: cached copies go
            purge(ctx.services.purger, [artwork_key(artwork.id)])
    return artwork


async def delete_artwork(ctx: Context, artwork_id: int) -> int:
    require_viewer(ctx)
    artwork = await load_owned_artwork(ctx, artwork_id, "id")
    await remove_artwork(ctx.services, artwork)
    return artwork_id


async def remove_artwork(services: Services, artwork: Artwork) -> None:
    """Delete an artwork with its images and counters (the artist's deletion, or a
    moderator's removal)."""
    images = await media.rows_of(artwork_id=artwork.id)
    async with in_transaction():
        await artwork.delete()
        changes = counts.changes("artwork", artwork.visibility, -1)
        await User.filter(id=artwork.owner_id).update(**changes)
    await media.removed(services, images)


async def reorder_portfolio(ctx: Context, artwork_ids: list[int]) -> User:
    """Put the viewer's artworks in the given order; the list must name each of them once."""
    viewer = require_viewer(ctx)
    if len(artwork_ids) > REORDER_MAX:
        raise InputError.single(
            "artworkIds", f"at most {REORDER_MAX} artworks at once", ErrorCode.TOO_MANY
        )
    if len(set(artwork_ids)) != len(artwork_ids):
        raise InputError.single("artworkIds", "an artwork is listed twice", ErrorCode.DUPLICATE)
    async with in_transaction():
        query = Artwork.filter(owner_id=viewer.id).values_list("id", flat=True)
        owned = set(cast("list[int]", await query))
        unknown = [i for i in artwork_ids if i not in owned]
        if unknown:
            raise InputError.single(
                "artworkIds", "the list names artworks that are not yours", ErrorCode.NOT_OWNER
            )
        if len(owned) != len(artwork_ids):
            raise InputError.single(
                "artworkIds",
                f"list all {len(owned)} of your artworks, in the new order",
                ErrorCode.INVALID,
            )
        for position, artwork_id in enumerate(artwork_ids):
            await Artwork.filter(id=artwork_id).update(position=position)
    return viewer


async def portfolio(
    ctx: Context, owner: User, *, first: int | None, after: str | None
) -> Page[Artwork]:
    """The artist's artworks the viewer may see, in the artist's order: one index range per
    visibility that passes."""
    size = page_size(first)
    place = decode_cursor("portfolio", after) if after is not None else ()
    visible = await visible_to_viewer(ctx, owner.id)
    # The statement of the compiled plans, of every column: one range per visibility, merged,
    # the limit written out (an ORM query's LIMIT parameter has PostgreSQL plan it anew).
    sql = _portfolio_reader().sql(after is not None, frozenset(visible), size)
    async with rawsql.reader(Artwork) as reader:
        rows = rawsql.instances(Artwork, await reader.fetch(sql, owner.id, *place))
    return paginate(rows, size, portfolio_cursor)


@functools.cache
def _portfolio_reader() -> PortfolioReader:
    return PortfolioReader(frozenset(rawsql.table_columns(Artwork)))


async def get_artwork(ctx: Context, artwork_id: int) -> Artwork | None:
    """The artwork, or None when it is missing or the viewer may not see it."""
    artwork = await ctx.loaders.artwork.load(artwork_id)
    if artwork is None or not await can_see_artwork(ctx, artwork):
        return None
    return artwork
