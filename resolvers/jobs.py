"""Protection jobs: what a worker does with one staged upload, and the loop that takes jobs
(an account's archive is a job on the same queue: ``resolvers.exports``).

A job names a PROCESSING ``MediaAsset``. Running it: read the staged upload, run the pipeline
(its stages are reported as they start: ingest, cloak, watermark, derivatives), write the
derivatives, then in one statement turn the row READY *only if it is still PROCESSING*, then
remove the staged upload ("stored", then "ready"). So:

* a job delivered twice (its worker died after finishing, or a duplicate from a sweep) finds the
  row READY and does nothing; the row is the idempotency record and one upload is one asset;
* a worker killed mid-job leaves the row PROCESSING and the job unacknowledged; the queue hands it
  to another worker, which runs it from the start. The derivatives are content-addressed and the
  pipeline is deterministic for one asset, so the re-run writes the same keys: nothing orphaned;
* a hostile or broken file is refused (typed code, as the mutations refuse it) and its owner told
  (``report_refusal``); a failure of the store or the database is retried with backoff, and a job
  that fails ``max_attempts`` times ends in the dead-letter list with its image refused.

``Worker`` is the loop; ``gesso worker`` runs it with the pipeline in a thread of its own process
(one job at a time: a process is a core), the embedded API process with its process pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from tortoise.exceptions import BaseORMException
from tortoise.expressions import Q

from imaging.errors import ImagingError
from resolvers import exports, inbox, leaving, media
from resolvers.services import MediaService, Services, StageListener, report_stage
from storage.db import in_transaction
from storage.jobs import DELETE_ACCOUNT, EXPORT, Job, QueueUnavailable, backoff
from storage.models import MediaAsset, MediaKind, MediaStatus, NotificationKind, User
from storage.objects import (
    IMMUTABLE,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    content_key,
)

if TYPE_CHECKING:
    from imaging.pipeline import ProtectedImage
    from imaging.provenance import SigningCredentials

log = logging.getLogger("gesso.jobs")

# imaging.pipeline's stage names -> the stages an upload reports.
_REPORTED = {
    "ingest": "ingest",
    "perturb": "cloak",
    "watermark": "watermark",
    "derivatives": "derivatives",
}


class Transient(Exception):
    """The job failed for a reason worth retrying (the store or the database was down)."""


@dataclass(frozen=True, slots=True)
class ProtectArgs:
    """What the pipeline needs for one image (picklable, for a process pool)."""

    data: bytes
    watermark_id: int
    artist_key: bytes
    watermark_key: bytes
    intensity: str
    artist_name: str
    rights: str
    c2pa: SigningCredentials | None = None


Execute = Callable[[ProtectArgs, StageListener], Awaitable["tuple[ProtectedImage, str]"]]


def protect(args: ProtectArgs, progress: StageListener) -> tuple[ProtectedImage, str]:
    """The pipeline on one upload, and its dominant colour (loads numpy and Pillow)."""
    from PIL import Image

    from imaging.pipeline import protect as run
    from imaging.provenance import sign_derivatives

    def reached(stage: str, fraction: float) -> None:
        if stage in _REPORTED:
            progress(_REPORTED[stage], fraction)

    image = run(
        args.data,
        asset_id=args.watermark_id,
        artist_key=args.artist_key,
        watermark_key=args.watermark_key,
        intensity=args.intensity,
        artist_name=args.artist_name,
        rights=args.rights,
        progress=reached,
    )
    if args.c2pa is not None:
        image = sign_derivatives(
            image, args.c2pa, title=f"work of {args.artist_name}", author=args.artist_name
        )
    thumbnail = min(image.derivatives, key=lambda d: d.width * d.height)
    with Image.open(io.BytesIO(thumbnail.data)) as opened:
        pixel = opened.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    red, green, blue = cast("tuple[int, int, int]", pixel)
    return image, f"#{red:02x}{green:02x}{blue:02x}"


def _protect_in_pool(token: int, args: ProtectArgs) -> tuple[ProtectedImage, str]:
    """Runs in a pool process; its stages go back to the parent through the pool's queue."""
    return protect(args, lambda stage, fraction: report_stage(token, stage, fraction))


def in_pool(service: MediaService) -> Execute:
    """Run jobs in the media service's process pool (the embedded API process)."""

    async def execute(args: ProtectArgs, listener: StageListener) -> tuple[ProtectedImage, str]:
        token = args.watermark_id
        service.listen(token, listener)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(service.pool(), _protect_in_pool, token, args)
        finally:
            service.listen(token, None)

    return execute


async def in_thread(args: ProtectArgs, listener: StageListener) -> tuple[ProtectedImage, str]:
    """Run a job in a thread of this process (``gesso worker``: its event loop stays free to
    keep the job's lease while numpy and Pillow work)."""
    loop = asyncio.get_running_loop()

    def progress(stage: str, fraction: float) -> None:
        loop.call_soon_threadsafe(listener, stage, fraction)

    return await asyncio.to_thread(protect, args, progress)


class _Stages:
    """Records and publishes the stages of one job in order, off the pipeline's thread."""

    def __init__(self, services: Services, row: MediaAsset) -> None:
        self.services = services
        self.row = row
        self.pending: asyncio.Queue[str | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    def reached(self, stage: str, fraction: float) -> None:
        self.pending.put_nowait(stage)

    async def _run(self) -> None:
        while (stage := await self.pending.get()) is not None:
            await self.record(stage)

    async def record(self, stage: str) -> None:
        with contextlib.suppress(BaseORMException):  # progress is a courtesy, not the job
            await MediaAsset.filter(id=self.row.id, status=MediaStatus.PROCESSING).update(
                stage=stage
            )
        await media.progress(self.services, self.row, stage)

    async def drain(self) -> None:
        self.pending.put_nowait(None)
        await self.task


async def report_refusal(services: Services, row: MediaAsset) -> None:
    """The owner learns that an image was refused: on the live subscription (``uploadProgress``)
    and in the stored notification inbox, naming the artwork or post it was for."""
    await media.progress(
        services, row, media.REFUSED, done=True, error=row.refusal_message, code=row.refusal_code
    )
    await inbox.notify(
        services,
        row.owner_id,
        NotificationKind.NOTICE,
        post_id=row.post_id,
        artwork_id=row.artwork_id,
        message=f"An image you uploaded was refused ({row.refusal_code}): {row.refusal_message}",
    )


async def refuse(services: Services, row: MediaAsset, code: str, message: str) -> bool:
    """Mark a PROCESSING image refused and remove its staged upload; False if it was no longer
    PROCESSING (another run finished it)."""
    changed = await MediaAsset.filter(id=row.id, status=MediaStatus.PROCESSING).update(
        status=MediaStatus.REFUSED,
        stage=media.REFUSED,
        refusal_code=code,
        refusal_message=message,
        staging_key=None,
    )
    if not changed:
        return False
    if row.staging_key:
        await media.discard(services, [row.staging_key])
    row.status, row.stage = MediaStatus.REFUSED, media.REFUSED
    row.refusal_code, row.refusal_message = code, message
    await report_refusal(services, row)
    return True


def _rights(owner: User) -> str:
    return f"© {owner.display_name or owner.handle} (@{owner.handle}). All rights reserved."


async def run_job(services: Services, asset_id: int, execute: Execute) -> str:
    """Protect one staged upload; returns the outcome: ready, refused or skipped.

    Raises ``Transient`` when the store or the database failed (worth a retry).
    """
    service = media._media(services)
    try:
        row = await MediaAsset.get_or_none(id=asset_id)
        if row is None or row.status is not MediaStatus.PROCESSING or not row.staging_key:
            return "skipped"  # deleted meanwhile, or finished by an earlier delivery
        owner = await User.get(id=row.owner_id)
        data = (await service.store.get(row.staging_key)).data
    except ObjectNotFound:
        if row is not None:
            await refuse(services, row, "IMAGE_INVALID", "the upload was lost before protection")
        return "refused"
    except (ObjectStoreError, BaseORMException) as error:
        raise Transient(str(error)) from error
    args = ProtectArgs(
        data=data,
        watermark_id=row.watermark_id,
        artist_key=service.cloak_keys(owner.id),
        watermark_key=service.watermark_key,
        intensity=service.intensity,
        artist_name=owner.display_name or owner.handle,
        rights=_rights(owner),
        c2pa=service.c2pa,
    )
    stages = _Stages(services, row)
    try:
        image, colour = await execute(args, stages.reached)
    except ImagingError as error:
        await stages.drain()
        field_error = media._image_error("image", error)
        await refuse(services, row, field_error.code.name, field_error.message)
        return "refused"
    except BaseException:
        stages.task.cancel()
        raise
    await stages.drain()
    services.observer.imaging(image.report.timings)
    return await _publish(services, row, image, colour, data)


async def write_derivatives(
    store: ObjectStore, image: ProtectedImage, written: list[str]
) -> list[dict[str, Any]]:
    """Publish the derivatives of a protected image (content-addressed, immutable) and return
    the ``variants`` of its ``MediaAsset`` row. The keys this call created (not those that were
    already there) are appended to ``written``, so that a failure can remove them."""
    variants: list[dict[str, Any]] = []
    for derivative in image.derivatives:
        key = content_key(derivative.data, derivative.content_type, prefix="m/")
        if not await store.exists(key):
            await store.put(
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
    return variants


async def _publish(
    services: Services, row: MediaAsset, image: ProtectedImage, colour: str, data: bytes
) -> str:
    service = media._media(services)
    written: list[str] = []
    try:
        variants = await write_derivatives(service.store, image, written)
        original = None
        if service.keep_originals:
            kept = await service.store.put_original(
                data, content_type=media.content_type_of(image.source.source_format)
            )
            original = kept.key if kept is not None else None
    except ObjectStoreError as error:
        await media.discard(services, written)
        raise Transient(str(error)) from error
    await media.progress(services, row, "stored")
    display = max(image.derivatives, key=lambda d: d.width * d.height)
    try:
        async with in_transaction():
            changed = await MediaAsset.filter(id=row.id, status=MediaStatus.PROCESSING).update(
                status=MediaStatus.READY,
                stage=media.READY,
                width=display.width,
                height=display.height,
                dominant_color=colour,
                variants=variants,
                report=image.report.to_dict(),
                original_key=original,
                staging_key=None,
            )
            older: list[MediaAsset] = []
            if changed and row.kind is MediaKind.AVATAR:
                # The new avatar replaces the ones before it, now that it can be shown.
                older = await MediaAsset.filter(
                    owner_id=row.owner_id, kind=MediaKind.AVATAR, id__lt=row.id
                )
                await MediaAsset.filter(id__in=[o.id for o in older]).delete()
    except BaseORMException as error:
        await media.discard(services, written)
        raise Transient(str(error)) from error
    if not changed:
        # Another run finished it first (or it was deleted): what this run alone wrote goes.
        await media.discard(services, written)
        return "skipped"
    if row.staging_key:
        await media.discard(services, [row.staging_key])
    await media.removed(services, older)
    await media.progress(services, row, media.READY, done=True)
    return "ready"


async def requeue(services: Services, *, everything: bool, stale_after: float = 3600.0) -> int:
    """Hand PROCESSING images to the queue again: those never queued (the queue was down when
    they were accepted), those queued more than ``stale_after`` seconds ago (their job was lost
    with a Redis that kept nothing), or with ``everything`` all of them (the in-process queue
    after a restart). A duplicate job is harmless (``run_job`` skips a finished image). The
    unfinished account deletions likewise (``leaving.requeue``)."""
    deletions = await leaving.requeue(services, everything=everything, stale_after=stale_after)
    service = media._media(services)
    rows = MediaAsset.filter(status=MediaStatus.PROCESSING)
    if not everything:
        before = datetime.now(UTC) - timedelta(seconds=stale_after)
        rows = rows.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=before))
    ids = cast("list[int]", await rows.order_by("id").limit(1000).values_list("id", flat=True))
    for asset_id in ids:
        await service.queue.enqueue(asset_id)
    if ids:
        await MediaAsset.filter(id__in=ids).update(queued_at=datetime.now(UTC))
    return len(ids) + deletions


class Worker:
    """Takes jobs from the queue and runs them, ``concurrency`` at a time."""

    def __init__(
        self,
        services: Services,
        execute: Execute,
        *,
        consumer: str,
        concurrency: int = 1,
        sweep_seconds: float = 30.0,
    ) -> None:
        self.services = services
        self.execute = execute
        self.consumer = consumer
        self.concurrency = concurrency
        self.sweep_seconds = sweep_seconds
        self.queue = media._media(services).queue
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the jobs in hand, take no more."""
        self._stopping.set()

    async def run(self) -> None:
        loops = [asyncio.create_task(self._loop(n)) for n in range(self.concurrency)]
        sweeper = asyncio.create_task(self._sweep())
        try:
            await asyncio.gather(*loops)
        finally:
            sweeper.cancel()
            for task in loops:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(sweeper, *loops, return_exceptions=True)

    async def _sweep(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.sweep_seconds)
            try:
                await requeue(self.services, everything=False)
                await exports.requeue(self.services, everything=False)
                await exports.prune(self.services)
            except (QueueUnavailable, BaseORMException) as error:
                log.warning("requeue sweep postponed: %s", error)

    async def _loop(self, slot: int) -> None:
        consumer = f"{self.consumer}-{slot}"
        while not self._stopping.is_set():
            try:
                job = await self.queue.receive(consumer, wait=1.0)
            except QueueUnavailable as error:
                log.warning("job queue unavailable: %s", error)
                await asyncio.sleep(1.0)
                continue
            if job is not None:
                await self.handle(job, consumer)

    async def handle(self, job: Job, consumer: str) -> str:
        """Run one delivered job to its end: ack, retry later or dead-letter it."""
        if job.attempt > self.queue.max_attempts:
            return await self._give_up(job, f"{job.attempt - 1} attempts, none finished")
        lease = asyncio.create_task(self._keep(job, consumer))
        started = time.perf_counter()
        try:
            outcome = await self._run(job)
        except (Transient, exports.Retry) as error:
            if job.attempt >= self.queue.max_attempts:
                return await self._give_up(job, str(error))
            log.warning("%s %d: attempt %d failed: %s", job.kind, job.asset_id, job.attempt, error)
            await self.queue.retry(job, backoff(job.attempt))
            await self.queue.record("retried")
            return "retried"
        except Exception as error:  # a bug must not stop the worker; the job is given up
            log.exception("%s %d: job failed", job.kind, job.asset_id)
            return await self._give_up(job, f"{type(error).__name__}: {error}")
        finally:
            lease.cancel()
        await self.queue.ack(job)
        await self.queue.record(outcome, time.perf_counter() - started)
        return outcome

    async def _run(self, job: Job) -> str:
        if job.kind == EXPORT:
            return await exports.run_export(self.services, job.asset_id)
        if job.kind != DELETE_ACCOUNT:
            return await run_job(self.services, job.asset_id, self.execute)
        try:
            return await leaving.run(self.services, job.asset_id)
        except (ObjectStoreError, BaseORMException) as error:
            raise Transient(str(error)) from error

    async def _give_up(self, job: Job, reason: str) -> str:
        await self.queue.dead(job, reason)
        await self.queue.record("dead")
        if job.kind == EXPORT:
            await exports.fail(self.services, job.asset_id, reason)
            return "dead"
        if job.kind == DELETE_ACCOUNT:
            # its row stays RUNNING: the sweep hands it over again once it is stale
            log.error("deletion of account %d given up for now: %s", job.asset_id, reason)
            return "dead"
        row = await MediaAsset.get_or_none(id=job.asset_id)
        if row is not None:
            await refuse(
                self.services, row, "IMAGE_UNPROTECTABLE", "the image could not be protected"
            )
        return "dead"

    async def _keep(self, job: Job, consumer: str) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.queue.visibility / 3))
            try:
                await self.queue.keep(job, consumer)
            except QueueUnavailable as error:
                log.warning("lease of %s %d not renewed: %s", job.kind, job.asset_id, error)
