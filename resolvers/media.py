"""Protected uploads: every image is cloaked, watermarked and labelled before it is stored.

The pipeline (``imaging.pipeline.protect``) is CPU-bound and runs in a process pool, off the event
loop. Only its derivatives are stored (content-addressed, with Content-Type and Cache-Control);
the original is kept, under a private prefix, only when the operator asks for it.

Atomicity: objects are written first, then the rows in one transaction. If writing an object
fails, the objects already written are removed and no row is created; if the transaction fails,
the objects are removed. Deleting an artwork, a post or an avatar deletes its objects too.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from imaging.errors import ImagingError
from resolvers import channels, events, ratelimit
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, FieldError, GessoError, InputError
from resolvers.services import MediaService, Services
from resolvers.surrogates import asset_keys, purge
from storage.db import in_transaction
from storage.models import MediaAsset, MediaKind, OrphanedObject, User
from storage.objects import IMMUTABLE, ObjectStoreError, content_key

if TYPE_CHECKING:
    from imaging.pipeline import ProtectedImage
    from imaging.provenance import SigningCredentials

log = logging.getLogger("gesso.media")

ALT_TEXT_MAX = 1500
IMAGES_MAX = 10
# Files stored per image: imaging.derivatives' SIZES x ENCODINGS (not imported here: it loads
# numpy and Pillow, which the API process does not otherwise need; a test keeps the two equal).
MEDIA_VARIANTS = 6
WATERMARK_ID_BITS = 48


class StorageUnavailable(GessoError):
    """The object store failed; nothing of the upload was kept."""

    code = "STORAGE_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class ImageUpload:
    """An uploaded file as the resolvers see it: bytes already read (and capped) by the API."""

    data: bytes
    filename: str = ""
    alt_text: str = ""
    upload_id: str | None = None


@dataclass(frozen=True, slots=True)
class Protected:
    """One upload after the pipeline: what to store and what to record."""

    upload: ImageUpload
    watermark_id: int
    image: ProtectedImage
    dominant_color: str


def _protect_job(
    data: bytes, watermark_id: int, artist_key: bytes, watermark_key: bytes, intensity: str,
    artist_name: str, rights: str, c2pa: SigningCredentials | None = None,
) -> tuple[ProtectedImage, str]:  # fmt: skip
    """Runs in a worker process (which alone pays for importing the imaging stack)."""
    from PIL import Image

    from imaging.pipeline import protect
    from imaging.provenance import sign_derivatives

    image = protect(
        data,
        asset_id=watermark_id,
        artist_key=artist_key,
        watermark_key=watermark_key,
        intensity=intensity,
        artist_name=artist_name,
        rights=rights,
    )
    if c2pa is not None:
        image = sign_derivatives(image, c2pa, title=f"work of {artist_name}", author=artist_name)
    thumbnail = min(image.derivatives, key=lambda d: d.width * d.height)
    with Image.open(io.BytesIO(thumbnail.data)) as opened:
        pixel = opened.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    red, green, blue = cast("tuple[int, int, int]", pixel)
    return image, f"#{red:02x}{green:02x}{blue:02x}"


def _identify_job(data: bytes, watermark_key: bytes) -> int | None:
    from imaging.pipeline import identify

    return identify(data, watermark_key=watermark_key)


def _media(services: Services) -> MediaService:
    if services.media is None:
        raise StorageUnavailable("image uploads are not set up on this server")
    return services.media


def _image_error(field_name: str, error: ImagingError) -> FieldError:
    code = {
        "TOO_LARGE_BYTES": ErrorCode.IMAGE_TOO_LARGE,
        "TOO_MANY_PIXELS": ErrorCode.IMAGE_TOO_LARGE,
        "UNSUPPORTED_FORMAT": ErrorCode.IMAGE_UNSUPPORTED,
        "ANIMATED": ErrorCode.IMAGE_UNSUPPORTED,
        "TOO_SMALL": ErrorCode.IMAGE_TOO_SMALL,
        "WATERMARK_UNVERIFIED": ErrorCode.IMAGE_UNPROTECTABLE,
    }.get(error.code, ErrorCode.IMAGE_INVALID)
    return FieldError(field_name, f"{error} ({error.code})", code)


def check_uploads(field_name: str, uploads: Sequence[ImageUpload]) -> list[FieldError | None]:
    errors: list[FieldError | None] = []
    if len(uploads) > IMAGES_MAX:
        errors.append(
            FieldError(field_name, f"at most {IMAGES_MAX} images at once", ErrorCode.TOO_MANY)
        )
    for upload in uploads:
        if len(upload.alt_text) > ALT_TEXT_MAX:
            errors.append(
                FieldError(
                    field_name,
                    f"alt text must be at most {ALT_TEXT_MAX} characters",
                    ErrorCode.TOO_LONG,
                )
            )
    return errors


async def _progress(
    media_owner: User,
    services: Services,
    upload: ImageUpload,
    stage: str,
    fraction: float,
    **extra: Any,
) -> None:
    if upload.upload_id:
        await events.publish(
            services,
            channels.user_inbox(media_owner.id),
            events.upload_progress(upload.upload_id, stage, fraction, **extra),
        )


async def _unused_watermark_id() -> int:
    while True:
        candidate = secrets.randbits(WATERMARK_ID_BITS)
        if candidate and not await MediaAsset.filter(watermark_id=candidate).exists():
            return candidate


async def protect_uploads(
    services: Services, owner: User, uploads: Sequence[ImageUpload], field_name: str
) -> list[Protected]:
    """Run every upload through the pipeline (in the worker pool); refuse them all if one fails."""
    if not uploads:
        return []
    media = _media(services)
    await ratelimit.charge(services, "upload", owner.id, cost=len(uploads))
    loop = asyncio.get_running_loop()
    rights = f"© {owner.display_name or owner.handle} (@{owner.handle}). All rights reserved."
    done: list[Protected] = []
    for upload in uploads:
        await _progress(owner, services, upload, "protecting", 0.1)
        watermark_id = await _unused_watermark_id()
        try:
            image, colour = await loop.run_in_executor(
                media.pool(), _protect_job, upload.data, watermark_id,
                media.cloak_keys(owner.id), media.watermark_key, media.intensity,
                owner.display_name or owner.handle, rights, media.c2pa,
            )  # fmt: skip
        except ImagingError as error:
            await _progress(owner, services, upload, "refused", 1.0, error=str(error))
            raise InputError([_image_error(field_name, error)]) from None
        services.observer.imaging(image.report.timings)
        await _progress(owner, services, upload, "protected", 0.7)
        done.append(Protected(upload, watermark_id, image, colour))
    return done


async def store(services: Services, protected: Sequence[Protected]) -> list[dict[str, Any]]:
    """Write every derivative; on any failure remove what was written and raise."""
    media = _media(services)
    written: list[str] = []
    described: list[dict[str, Any]] = []
    try:
        for item in protected:
            variants = []
            for derivative in item.image.derivatives:
                key = content_key(derivative.data, derivative.content_type, prefix="m/")
                await media.store.put(
                    key, derivative.data, content_type=derivative.content_type,
                    cache_control=IMMUTABLE,
                )  # fmt: skip
                written.append(key)
                variants.append(
                    {
                        "size": derivative.name,
                        "format": derivative.image_format.lower(),
                        "content_type": derivative.content_type,
                        "width": derivative.width,
                        "height": derivative.height,
                        "byte_size": derivative.byte_size,
                        "key": key,
                    }
                )
            original = None
            if media.keep_originals:
                kept = await media.store.put_original(
                    item.upload.data, content_type=_content_type(item.image)
                )
                if kept is not None:
                    original = kept.key
                    written.append(kept.key)
            described.append({"variants": variants, "original_key": original})
    except ObjectStoreError as error:
        await discard(services, written)
        raise StorageUnavailable(
            "the image store is unavailable; nothing was saved, try again"
        ) from error
    return described


def _content_type(image: ProtectedImage) -> str:
    return {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}.get(
        image.source.source_format, "image/avif"
    )


async def discard(services: Services, keys: Sequence[str]) -> None:
    """Remove objects that no row refers to (after a failed upload, or a deletion). When the
    store refuses, the keys are recorded and ``sweep_orphans`` removes them later."""
    if not keys:
        return
    try:
        await _media(services).store.delete_many(list(keys))
    except ObjectStoreError as error:
        log.warning("%d objects left for the sweeper (%s)", len(keys), error)
        await OrphanedObject.bulk_create(
            [OrphanedObject(key=key) for key in keys], ignore_conflicts=True
        )


async def sweep_orphans(services: Services, *, batch: int = 500) -> int:
    """Delete recorded orphans from the store; returns how many were removed."""
    removed = 0
    while True:
        rows = await OrphanedObject.all().order_by("id").limit(batch)
        if not rows:
            return removed
        try:
            await _media(services).store.delete_many([row.key for row in rows])
        except ObjectStoreError as error:
            log.info("orphan sweep postponed: %s", error)
            return removed
        await OrphanedObject.filter(id__in=[row.id for row in rows]).delete()
        removed += len(rows)


def media_rows(
    owner: User,
    protected: Sequence[Protected],
    stored: Sequence[dict[str, Any]],
    *,
    kind: MediaKind,
    artwork_id: int | None = None,
    post_id: int | None = None,
    first_position: int = 0,
) -> list[MediaAsset]:
    rows = []
    for index, (item, described) in enumerate(zip(protected, stored, strict=True)):
        display = max(item.image.derivatives, key=lambda d: d.width * d.height)
        rows.append(
            MediaAsset(
                owner_id=owner.id,
                artwork_id=artwork_id,
                post_id=post_id,
                kind=kind,
                position=first_position + index,
                watermark_id=item.watermark_id,
                width=display.width,
                height=display.height,
                alt_text=item.upload.alt_text,
                dominant_color=item.dominant_color,
                variants=described["variants"],
                report=item.image.report.to_dict(),
                original_key=described["original_key"],
            )
        )
    return rows


def stored_keys(stored: Sequence[dict[str, Any]]) -> list[str]:
    """The object keys ``store`` wrote."""
    keys = [str(v["key"]) for described in stored for v in described["variants"]]
    return keys + [str(d["original_key"]) for d in stored if d["original_key"]]


async def rows_of(**where: Any) -> list[MediaAsset]:
    """The media rows matching ``where`` (read before deleting them, for ``removed``)."""
    return list(await MediaAsset.filter(**where))


async def removed(services: Services, rows: Sequence[MediaAsset]) -> None:
    """After the commit that deleted ``rows``: drop their cached copies and their objects."""
    purge(services.purger, asset_keys(rows))
    await discard(services, keys_of(rows))


def keys_of(rows: Sequence[MediaAsset]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys.extend(str(v["key"]) for v in row.variants)
        if row.original_key:
            keys.append(row.original_key)
    return keys


async def save_rows(rows: Sequence[MediaAsset]) -> None:
    """Insert the rows (inside the caller's transaction)."""
    for row in rows:
        await row.save()


async def finished(services: Services, owner: User, protected: Sequence[Protected]) -> None:
    for item in protected:
        await _progress(owner, services, item.upload, "done", 1.0, done=True)


@dataclass
class Batch:
    """Uploads protected and stored, waiting for their rows (see ``uploaded``)."""

    owner: User
    protected: list[Protected]
    stored: list[dict[str, Any]]

    async def save(
        self,
        kind: MediaKind,
        *,
        artwork_id: int | None = None,
        post_id: int | None = None,
        first_position: int = 0,
        sensitive: bool = False,
    ) -> list[MediaAsset]:
        """Insert the rows; call inside the transaction that creates what they belong to."""
        rows = media_rows(
            self.owner, self.protected, self.stored, kind=kind, artwork_id=artwork_id,
            post_id=post_id, first_position=first_position,
        )  # fmt: skip
        for row in rows:
            row.sensitive = sensitive
        await save_rows(rows)
        return rows


@contextlib.asynccontextmanager
async def uploaded(
    services: Services, owner: User, uploads: Sequence[ImageUpload], field_name: str
) -> AsyncIterator[Batch]:
    """Protect and store ``uploads``, then let the caller write the rows in its transaction.

    If the block fails (its transaction rolled back), the stored objects are removed; if it
    succeeds, the uploads' progress ends with "done".
    """
    protected = await protect_uploads(services, owner, uploads, field_name)
    stored = await store(services, protected) if protected else []
    try:
        yield Batch(owner, protected, stored)
    except BaseException:
        await discard(services, stored_keys(stored))
        raise
    await finished(services, owner, protected)


async def set_avatar(ctx: Context, upload: ImageUpload) -> User:
    viewer = require_viewer(ctx)
    old = await MediaAsset.filter(owner_id=viewer.id, kind=MediaKind.AVATAR)
    async with uploaded(ctx.services, viewer, [upload], "image") as batch, in_transaction():
        await batch.save(MediaKind.AVATAR)
        await MediaAsset.filter(id__in=[o.id for o in old]).delete()
    await removed(ctx.services, old)
    return viewer


async def identify_upload(services: Services, data: bytes) -> MediaAsset | None:
    """The asset a (possibly scraped) copy was made from, read from its watermark."""
    media = _media(services)
    loop = asyncio.get_running_loop()
    try:
        watermark_id = await loop.run_in_executor(
            media.pool(), _identify_job, data, media.watermark_key
        )
    except ImagingError as error:
        raise InputError([_image_error("file", error)]) from None
    if watermark_id is None:
        return None
    return await MediaAsset.get_or_none(watermark_id=watermark_id)
