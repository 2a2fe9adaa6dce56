"""Protected uploads: every image is cloaked, watermarked and labelled before it is shown.

An upload mutation does the cheap part and answers at once: the header checks of ingest (so a
hostile file is refused in the mutation's errors, as before), the upload is written to a private
staging area of the object store (``STAGING_PREFIX``: never reachable by URL), and its
``MediaAsset`` row is created as PROCESSING in the caller's transaction. After the commit a
protection job is queued (``resolvers.jobs`` runs it, in a ``gesso worker`` or in this process);
the row is the job's durable record, so a queue that is down delays the job, never loses it.

Only the derivatives of a protected image are published (content-addressed, with Content-Type
and Cache-Control); the original is kept, under a private prefix, only when the operator asks.

Atomicity: the staging objects are written first, then the rows in one transaction. If writing
an object fails, the objects already written are removed and no row is created; if the
transaction fails, the objects are removed. Deleting an artwork, a post or an avatar deletes its
objects too (a staged upload included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imaging.errors import ImagingError
from resolvers import channels, events, ratelimit
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, FieldError, GessoError, InputError
from resolvers.services import MediaService, Services
from resolvers.surrogates import asset_keys, purge
from storage.db import in_transaction
from storage.ids import new_id
from storage.jobs import QueueUnavailable
from storage.models import MediaAsset, MediaKind, MediaStatus, OrphanedObject, User
from storage.objects import ObjectStoreError

log = logging.getLogger("gesso.media")

ALT_TEXT_MAX = 1500
IMAGES_MAX = 10
# Files stored per image: imaging.derivatives' SIZES x ENCODINGS (not imported here: it loads
# numpy and Pillow, which the API process does not otherwise need; a test keeps the two equal).
MEDIA_VARIANTS = 6
WATERMARK_ID_BITS = 48
# The longest an upload mutation waits for its images with GESSO_UPLOADS_WAIT.
WAIT_SECONDS = 300.0
# Where an upload is: queued, then the stages a job reports, then ready or refused.
QUEUED = "queued"
STAGES = ("ingest", "cloak", "watermark", "derivatives", "stored")
READY = "ready"
REFUSED = "refused"
FRACTIONS = {
    QUEUED: 0.0,
    "ingest": 0.05,
    "cloak": 0.1,
    "watermark": 0.6,
    "derivatives": 0.7,
    "stored": 0.95,
    READY: 1.0,
    REFUSED: 1.0,
}


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


STAGING_PREFIX = "private/staging/"
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def content_type_of(image_format: str) -> str:
    return _CONTENT_TYPES.get(image_format, "image/avif")


async def _unused_watermark_id() -> int:
    while True:
        candidate = secrets.randbits(WATERMARK_ID_BITS)
        if candidate and not await MediaAsset.filter(watermark_id=candidate).exists():
            return candidate


@dataclass(frozen=True, slots=True)
class Staged:
    """One accepted upload, written to the staging area and waiting for its row."""

    upload: ImageUpload
    asset_id: int
    watermark_id: int
    staging_key: str
    width: int
    height: int


def _inspect(field_name: str, uploads: Sequence[ImageUpload]) -> list[tuple[str, int, int]]:
    """The header checks of ingest on every upload; refuse them all if one fails."""
    from imaging.ingest import inspect

    described = []
    for upload in uploads:
        try:
            described.append(inspect(upload.data))
        except ImagingError as error:
            raise InputError([_image_error(field_name, error)]) from None
    return described


async def _check_new(owner: User, uploads: Sequence[ImageUpload], field_name: str) -> None:
    """An upload id is the upload's idempotency key: the same upload never becomes two images."""
    keys = [upload.upload_id for upload in uploads if upload.upload_id]
    if len(set(keys)) != len(keys):
        raise InputError.single(field_name, "an uploadId is given twice", ErrorCode.DUPLICATE)
    if keys and await MediaAsset.filter(owner_id=owner.id, upload_key__in=keys).exists():
        raise InputError.single(
            field_name,
            "this upload was already received; uploadProgress(id) follows it",
            ErrorCode.DUPLICATE,
        )


async def stage_uploads(
    services: Services, owner: User, uploads: Sequence[ImageUpload], field_name: str
) -> list[Staged]:
    """Check ``uploads`` cheaply and write them to the staging area; refuse them all if one
    fails (nothing is left behind)."""
    if not uploads:
        return []
    media = _media(services)
    described = _inspect(field_name, uploads)
    await _check_new(owner, uploads, field_name)
    await ratelimit.charge(services, "upload", owner.id, cost=len(uploads))
    staged: list[Staged] = []
    try:
        for upload, (image_format, width, height) in zip(uploads, described, strict=True):
            asset_id = new_id()
            key = f"{STAGING_PREFIX}{owner.id}/{asset_id}"
            await media.store.put(
                key, upload.data, content_type=content_type_of(image_format), private=True
            )
            staged.append(
                Staged(upload, asset_id, await _unused_watermark_id(), key, width, height)
            )
    except ObjectStoreError as error:
        await discard(services, [item.staging_key for item in staged])
        raise StorageUnavailable(
            "the image store is unavailable; nothing was saved, try again"
        ) from error
    return staged


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


async def rows_of(**where: Any) -> list[MediaAsset]:
    """The media rows matching ``where`` (read before deleting them, for ``removed``)."""
    return list(await MediaAsset.filter(**where))


async def removed(services: Services, rows: Sequence[MediaAsset]) -> None:
    """After the commit that deleted ``rows``: drop their cached copies and their objects."""
    purge(services.purger, asset_keys(rows))
    await discard(services, keys_of(rows))


def keys_of(rows: Sequence[MediaAsset]) -> list[str]:
    """Every object of ``rows``: derivatives, a kept original, a staged upload."""
    keys: list[str] = []
    for row in rows:
        keys.extend(str(v["key"]) for v in row.variants)
        if row.original_key:
            keys.append(row.original_key)
        if row.staging_key:
            keys.append(row.staging_key)
    return keys


@dataclass
class Batch:
    """Uploads staged, waiting for their rows (see ``uploaded``)."""

    owner: User
    staged: list[Staged]
    rows: list[MediaAsset] = field(default_factory=list)

    async def save(
        self,
        kind: MediaKind,
        *,
        artwork_id: int | None = None,
        post_id: int | None = None,
        first_position: int = 0,
        sensitive: bool = False,
    ) -> list[MediaAsset]:
        """Insert the rows as PROCESSING; call inside the transaction that creates what they
        belong to."""
        for index, item in enumerate(self.staged):
            row = MediaAsset(
                id=item.asset_id,
                owner_id=self.owner.id,
                artwork_id=artwork_id,
                post_id=post_id,
                kind=kind,
                position=first_position + index,
                watermark_id=item.watermark_id,
                width=item.width,
                height=item.height,
                alt_text=item.upload.alt_text,
                status=MediaStatus.PROCESSING,
                stage=QUEUED,
                upload_key=item.upload.upload_id,
                staging_key=item.staging_key,
                sensitive=sensitive,
            )
            await row.save(force_create=True)
            self.rows.append(row)
        return self.rows


@contextlib.asynccontextmanager
async def uploaded(
    services: Services, owner: User, uploads: Sequence[ImageUpload], field_name: str
) -> AsyncIterator[Batch]:
    """Stage ``uploads``, then let the caller write the rows in its transaction; after it
    commits, queue their protection jobs (and, with ``MediaService.wait``, wait for them).

    If the block fails (its transaction rolled back), the staged objects are removed.
    """
    staged = await stage_uploads(services, owner, uploads, field_name)
    batch = Batch(owner, staged)
    try:
        yield batch
    except BaseException:
        await discard(services, [item.staging_key for item in staged])
        raise
    if batch.rows:
        await queue_jobs(services, batch.rows)


async def progress(services: Services, row: MediaAsset, stage: str, **extra: Any) -> None:
    """Tell the owner's live subscriptions where ``row`` is (the row already says so)."""
    await events.publish(
        services,
        channels.user_inbox(row.owner_id),
        events.upload_progress(row.upload_key, row.id, stage, FRACTIONS.get(stage, 0.0), **extra),
    )


async def queue_jobs(services: Services, rows: Sequence[MediaAsset]) -> None:
    """After the commit that created ``rows``: hand their jobs to the queue. A queue that is
    down leaves them PROCESSING with no ``queued_at``; ``resolvers.jobs.requeue`` hands them
    over later, so the upload is accepted and waits, durably, in the database."""
    media = _media(services)
    queued: list[int] = []
    for row in rows:
        try:
            await media.queue.enqueue(row.id)
        except QueueUnavailable as error:
            log.warning("protection job of image %d left for a later sweep: %s", row.id, error)
            continue
        queued.append(row.id)
        await progress(services, row, QUEUED)
    if queued:
        await MediaAsset.filter(id__in=queued).update(queued_at=datetime.now(UTC))
    if media.wait:
        await wait_until_done([row.id for row in rows])


async def wait_until_done(asset_ids: Sequence[int]) -> None:
    """Return once none of the images is PROCESSING (GESSO_UPLOADS_WAIT), or after
    ``WAIT_SECONDS``. Another process may finish them: the database is the signal all share."""
    async with asyncio.timeout(WAIT_SECONDS):
        while await MediaAsset.filter(  # noqa: ASYNC110 (see above)
            id__in=list(asset_ids), status=MediaStatus.PROCESSING
        ).exists():
            await asyncio.sleep(0.02)


async def set_avatar(ctx: Context, upload: ImageUpload) -> User:
    """Queue a new avatar; the old one stays until the new one is ready (``resolvers.jobs``)."""
    viewer = require_viewer(ctx)
    async with uploaded(ctx.services, viewer, [upload], "image") as batch, in_transaction():
        await batch.save(MediaKind.AVATAR)
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
