"""Account exports: an archive of a member's own things, built by a job, downloadable once.

``request_export`` (exportAccount) records a PENDING ``AccountExport`` and queues its job on the
protection queue (``storage.jobs``, kind ``export``). One export may be in progress per account,
and one may be requested per ``EXPORT_EVERY`` (a failed one does not count). ``run_export`` builds
the zip into a temporary file, one image at a time in chunks, uploads the file to the store under a
private key (``private/exports/<user>/<export>.zip``: no ``/media`` URL can reach it) in parts,
turns the row READY (only if still PENDING) and tells the member (an ``EXPORT_READY``
notification). A job run again writes the same key; an account deleted meanwhile leaves nothing.

The archive is downloaded once from a signed URL (``download_path``: the export, its account and
its expiry under an HMAC of a key derived from the platform secret) until ``expires_at``, 24 hours
after it was ready. ``claim_download`` takes the one download (READY -> DOWNLOADED in one
statement); ``finish_download`` then removes the object, or gives the claim back when the
download broke off before its last byte. ``prune`` removes what expired; ``delete_exports_of``
removes an account's exports, rows and objects (for the account's deletion).

Archive format, version ``ARCHIVE_VERSION`` (every id a decimal string, every time ISO 8601 UTC):

* ``manifest.json``: ``format``, ``version``, ``exportedAt``, ``account`` (id, handle), the
  ``counts`` of what follows and ``includes`` (what is in it, and what is not).
* ``profile.json``: the account's profile and settings, its avatars.
* ``posts.json``: the account's posts, replies included, each with its earlier texts
  (``revisions``), the ids of the artworks attached and its images.
* ``artworks.json``: the account's artworks with their images.
* ``comments.json``: the comments the account wrote, on anyone's post or artwork (with the id of
  what they are on). Others' comments on the account's works are not included: they are other
  members' words (and some may be hidden from it by blocks).
* ``images/<image id>.<ext>``: each image as published, protected, at its largest stored size.
* ``originals/<image id>.<ext>``: the uploaded original, when the platform keeps originals.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import tempfile
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from tortoise.exceptions import BaseORMException
from tortoise.expressions import Q

from resolvers import inbox
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, InputError
from resolvers.media import discard
from resolvers.services import MediaService, Services
from storage.db import in_transaction
from storage.jobs import EXPORT, QueueUnavailable
from storage.models import (
    AccountExport,
    Artwork,
    Comment,
    ExportStatus,
    MediaAsset,
    MediaKind,
    MediaStatus,
    NotificationKind,
    Post,
    PostArtwork,
    PostRevision,
    User,
)
from storage.objects import ObjectNotFound, ObjectStore, ObjectStoreError, extension_for

log = logging.getLogger("gesso.exports")

ARCHIVE_FORMAT = "gesso-account-export"
ARCHIVE_VERSION = 1
# One export may be requested per this long; the archive is downloadable this long once ready.
EXPORT_EVERY = dt.timedelta(hours=24)
EXPORT_VALID = dt.timedelta(hours=24)
EXPORTS_PREFIX = "private/exports/"
# Rows read per query while writing the JSON files, and bytes per read of an image.
BATCH = 200
CHUNK = 1024 * 1024
SIGNATURE_BYTES = 16
PARAMETERS = frozenset({"exp", "sig"})


class Retry(Exception):
    """The export failed for a reason worth retrying (the store or the database was down)."""


class DownloadRefused(Exception):
    """A download that may not be served: its HTTP status, a stable code and why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _service(services: Services) -> MediaService:
    if services.media is None:
        raise RuntimeError("account exports need the media service (its store and queue)")
    return services.media


# --- requesting ---------------------------------------------------------------------------


async def request_export(ctx: Context) -> AccountExport:
    """Queue an archive of the viewer's things; refused while one is being built and more often
    than once per ``EXPORT_EVERY`` (a failed export does not count)."""
    viewer = require_viewer(ctx)
    service = _service(ctx.services)
    async with in_transaction():
        # The account's row is the lock: two requests at once make one export.
        await User.filter(id=viewer.id).select_for_update().only("id").first()
        latest = (
            await AccountExport.filter(user_id=viewer.id)
            .exclude(status=ExportStatus.FAILED)
            .order_by("-id")
            .first()
        )
        if latest is not None and latest.status is ExportStatus.PENDING:
            raise InputError.single(
                None,
                "an export of this account is being prepared; you will be notified when it is"
                " ready",
                ErrorCode.EXPORT_IN_PROGRESS,
            )
        if latest is not None and latest.created_at > _now() - EXPORT_EVERY:
            after = (latest.created_at + EXPORT_EVERY).astimezone(dt.UTC)
            raise InputError.single(
                None,
                "one export per account per 24 hours: the next one can be requested after "
                f"{after.isoformat(timespec='seconds')}",
                ErrorCode.EXPORT_TOO_SOON,
            )
        row = await AccountExport.create(user_id=viewer.id)
    await _enqueue(service, [row.id])
    return row


async def _enqueue(service: MediaService, ids: list[int]) -> None:
    """Hand exports to the queue and note when; a queue that is down leaves them for the sweep."""
    queued: list[int] = []
    for export_id in ids:
        try:
            await service.queue.enqueue(export_id, kind=EXPORT)
        except QueueUnavailable as error:  # the sweep (requeue) hands it over later
            log.warning("export %d not queued yet: %s", export_id, error)
            continue
        queued.append(export_id)
    if queued:
        await AccountExport.filter(id__in=queued).update(queued_at=_now())


async def requeue(services: Services, *, everything: bool, stale_after: float = 3600.0) -> int:
    """Hand PENDING exports to the queue again (see ``resolvers.jobs.requeue``)."""
    rows = AccountExport.filter(status=ExportStatus.PENDING)
    if not everything:
        before = _now() - dt.timedelta(seconds=stale_after)
        rows = rows.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=before))
    ids = cast("list[int]", await rows.order_by("id").limit(1000).values_list("id", flat=True))
    await _enqueue(_service(services), ids)
    return len(ids)


async def latest_export(ctx: Context) -> AccountExport | None:
    """The viewer's newest export (what viewer.accountExport shows)."""
    viewer = require_viewer(ctx)
    return await AccountExport.filter(user_id=viewer.id).order_by("-id").first()


# --- the signed URL and the one download ----------------------------------------------------


def _signature(key: bytes, export_id: int, user_id: int, expires: int) -> str:
    if not key:
        raise RuntimeError("export URLs need a signing key (MediaService.exports_key)")
    message = f"account-export\n{export_id}\n{user_id}\n{expires}".encode()
    mac = hmac.new(key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def download_url(services: Services, row: AccountExport) -> str | None:
    """The signed URL of a READY export while it is current (absolute with GESSO_PUBLIC_URL,
    else a path on the API's origin), else None."""
    if row.status is not ExportStatus.READY or row.expires_at is None or row.expires_at <= _now():
        return None
    expires = int(row.expires_at.timestamp())
    signature = _signature(_service(services).exports_key, row.id, row.user_id, expires)
    base = (services.public_url or "").rstrip("/")
    return f"{base}/account-exports/{row.id}?exp={expires}&sig={signature}"


def _invalid() -> DownloadRefused:
    return DownloadRefused(403, "EXPORT_URL_INVALID", "the download URL is not valid")


async def claim_download(
    services: Services, export_id: str, query: dict[str, str]
) -> AccountExport:
    """Take the one download of the export a signed URL names (READY -> DOWNLOADED in one
    statement), or refuse it: 403 for a URL this server did not sign as it is (altered, a part
    missing or added), 410 for an export downloaded already, expired or gone."""
    if set(query) != PARAMETERS or not export_id.isdigit() or not query["exp"].isdigit():
        raise _invalid()
    ident, expires = int(export_id), int(query["exp"])
    if ident >= 1 << 63 or expires >= 1 << 40:
        raise _invalid()
    row = await AccountExport.get_or_none(id=ident)
    # The signature covers the account too; a URL naming no export is refused like an altered
    # one, so ids cannot be probed.
    owner = row.user_id if row is not None else 0
    expected = _signature(_service(services).exports_key, ident, owner, expires)
    if row is None or not hmac.compare_digest(expected, query["sig"]):
        raise _invalid()
    now = _now()
    if expires <= now.timestamp() or (row.expires_at is not None and row.expires_at <= now):
        await _expire(services, [row])
        raise DownloadRefused(410, "EXPORT_EXPIRED", "this export expired; request a new one")
    claimed = 0
    if row.status is ExportStatus.READY and row.object_key is not None:
        claimed = await AccountExport.filter(id=row.id, status=ExportStatus.READY).update(
            status=ExportStatus.DOWNLOADED, downloaded_at=now
        )
    if not claimed:
        raise DownloadRefused(
            410, "EXPORT_ALREADY_DOWNLOADED", "this export was downloaded already"
        )
    row.status, row.downloaded_at = ExportStatus.DOWNLOADED, now
    return row


async def finish_download(services: Services, row: AccountExport, *, complete: bool) -> None:
    """After a download: once every byte was sent the object goes; a download that broke off
    gives its claim back (the archive stays downloadable until it expires)."""
    if not complete:
        await AccountExport.filter(id=row.id, status=ExportStatus.DOWNLOADED).update(
            status=ExportStatus.READY, downloaded_at=None
        )
        return
    if row.object_key is not None:
        await discard(services, [row.object_key])
        await AccountExport.filter(id=row.id).update(object_key=None)


def file_name(handle: str, row: AccountExport) -> str:
    """The name a browser saves the archive as (a handle is ASCII letters, digits and _)."""
    day = (row.ready_at or row.created_at).astimezone(dt.UTC).date().isoformat()
    return f"gesso-{handle}-{day}.zip"


# --- removing -------------------------------------------------------------------------------


def _object_key(user_id: int, export_id: int) -> str:
    return f"{EXPORTS_PREFIX}{user_id}/{export_id}.zip"


async def _expire(services: Services, rows: list[AccountExport]) -> None:
    """Exports past their expiry: their objects go, READY ones become EXPIRED."""
    keys = [row.object_key for row in rows if row.object_key is not None]
    await discard(services, keys)
    ids = [row.id for row in rows]
    await AccountExport.filter(id__in=ids, status=ExportStatus.READY).update(
        status=ExportStatus.EXPIRED
    )
    await AccountExport.filter(id__in=ids).update(object_key=None)


async def prune(services: Services, *, stale_after: dt.timedelta = dt.timedelta(days=2)) -> int:
    """Remove the archives past their expiry (downloaded or not: a download that never
    finished leaves its object) and the rows of exports long gone; returns how many archives
    were removed."""
    now = _now()
    expired = list(
        await AccountExport.filter(object_key__isnull=False, expires_at__lte=now).limit(1000)
    )
    await _expire(services, expired)
    # Rows stay a while after (viewer.accountExport says "expired", the rate limit reads them).
    await AccountExport.filter(
        Q(status__in=[ExportStatus.EXPIRED, ExportStatus.DOWNLOADED, ExportStatus.FAILED]),
        Q(created_at__lt=now - stale_after),
        object_key__isnull=True,
    ).delete()
    return len(expired)


async def delete_exports_of(services: Services, user_id: int) -> int:
    """Remove every export of an account, its objects then its rows (for the account's
    deletion); returns how many rows went. A job still building one finds its row gone and
    removes what it wrote (``run_export``). Safe to run again after a crash."""
    rows = list(await AccountExport.filter(user_id=user_id))
    keys = [row.object_key for row in rows if row.object_key is not None]
    # A job may be writing one now: the key every export of the account would have goes too.
    keys += [_object_key(user_id, row.id) for row in rows]
    await discard(services, list(dict.fromkeys(keys)))
    return await AccountExport.filter(id__in=[row.id for row in rows]).delete()


# --- building -------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _largest(row: MediaAsset) -> dict[str, object] | None:
    """The stored derivative with the most pixels (the first listed of equals)."""
    if not row.variants:
        return None
    return max(row.variants, key=lambda v: cast("int", v["width"]) * cast("int", v["height"]))


@dataclass
class _Image:
    """An image to put in the archive, and where."""

    key: str
    path: str


class _Archive:
    """The zip being written to a temporary file; every write happens in a thread."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self.images: list[_Image] = []
        self.counts: dict[str, int] = {}

    async def json(self, name: str, value: object) -> None:
        data = json.dumps(value, ensure_ascii=False, indent=2).encode()
        await asyncio.to_thread(self.zip.writestr, name, data, zipfile.ZIP_DEFLATED)

    async def json_list(self, name: str, items: AsyncIterator[dict[str, object]]) -> None:
        """A JSON array written item by item, so that no more than a batch is in memory."""
        entry = await asyncio.to_thread(self._open, name, zipfile.ZIP_DEFLATED)
        count = 0
        try:
            await asyncio.to_thread(entry.write, b"[")
            async for item in items:
                text = ("\n" if count == 0 else ",\n") + json.dumps(item, ensure_ascii=False)
                await asyncio.to_thread(entry.write, text.encode())
                count += 1
            await asyncio.to_thread(entry.write, b"\n]\n" if count else b"]\n")
        finally:
            await asyncio.to_thread(entry.close)
        self.counts[name.removesuffix(".json")] = count

    def _open(self, name: str, compression: int) -> IO[bytes]:
        info = zipfile.ZipInfo(name, date_time=_now().timetuple()[:6])
        info.compress_type = compression
        return self.zip.open(info, "w", force_zip64=True)

    def image(self, row: MediaAsset) -> dict[str, object]:
        """What the JSON says of an image, and the image noted for ``copy_images``."""
        largest = _largest(row)
        entry: dict[str, object] = {
            "id": str(row.id),
            "position": row.position,
            "width": row.width,
            "height": row.height,
            "altText": row.alt_text,
            "sensitive": row.sensitive,
            "createdAt": _iso(row.created_at),
            "file": None,
            "contentType": None,
            "original": None,
        }
        if largest is not None:
            content_type = str(largest["content_type"])
            path = f"images/{row.id}.{extension_for(content_type)}"
            entry.update(
                file=path,
                contentType=content_type,
                width=largest["width"],
                height=largest["height"],
            )
            self.images.append(_Image(str(largest["key"]), path))
        if row.original_key:
            path = f"originals/{row.id}.{row.original_key.rsplit('.', 1)[-1]}"
            entry["original"] = path
            self.images.append(_Image(row.original_key, path))
        return entry

    async def copy_images(self, store: ObjectStore) -> int:
        """Every noted image, one at a time, in chunks (stored as is: they are compressed)."""
        copied = 0
        for image in self.images:
            try:
                stream = await store.open_stream(image.key, chunk_size=CHUNK)
            except ObjectNotFound:
                log.warning("export: image %s is missing from the store; left out", image.key)
                continue
            async with stream:
                entry = await asyncio.to_thread(self._open, image.path, zipfile.ZIP_STORED)
                try:
                    async for chunk in stream:
                        await asyncio.to_thread(entry.write, chunk)
                finally:
                    await asyncio.to_thread(entry.close)
            copied += 1
        return copied

    async def close(self) -> None:
        await asyncio.to_thread(self.zip.close)


async def _batches(query: Any) -> AsyncIterator[list[Any]]:
    """The rows of ``query`` in id order, ``BATCH`` at a time (keyset)."""
    after = 0
    while True:
        rows = list(await query.filter(id__gt=after).order_by("id").limit(BATCH))
        if not rows:
            return
        yield rows
        after = rows[-1].id


async def _images_of(field: str, ids: list[int]) -> dict[int, list[MediaAsset]]:
    found: dict[int, list[MediaAsset]] = {}
    rows = await MediaAsset.filter(**{f"{field}__in": ids}, status=MediaStatus.READY).order_by(
        "position", "id"
    )
    for row in rows:
        found.setdefault(cast("int", getattr(row, field)), []).append(row)
    return found


async def _posts(archive: _Archive, user: User) -> AsyncIterator[dict[str, object]]:
    async for rows in _batches(Post.filter(author_id=user.id)):
        ids = [row.id for row in rows]
        revisions: dict[int, list[dict[str, object]]] = {}
        for revision in await PostRevision.filter(post_id__in=ids).order_by("id"):
            revisions.setdefault(revision.post_id, []).append(
                {
                    "text": revision.text,
                    "writtenAt": _iso(revision.written_at),
                    "replacedAt": _iso(revision.replaced_at),
                }
            )
        attached: dict[int, list[str]] = {}
        for link in await PostArtwork.filter(post_id__in=ids).order_by("position", "id"):
            attached.setdefault(link.post_id, []).append(str(link.artwork_id))
        images = await _images_of("post_id", ids)
        for row in rows:
            yield {
                "id": str(row.id),
                "text": row.text,
                "visibility": row.visibility.value,
                "contentWarning": row.content_warning,
                "sensitive": row.sensitive,
                "aiGenerated": row.ai_generated,
                "replyToId": None if row.reply_to_id is None else str(row.reply_to_id),
                "createdAt": _iso(row.created_at),
                "editedAt": _iso(row.edited_at),
                "likeCount": row.like_count,
                "commentCount": row.comment_count,
                "revisions": revisions.get(row.id, []),
                "artworkIds": attached.get(row.id, []),
                "images": [archive.image(image) for image in images.get(row.id, [])],
            }


async def _artworks(archive: _Archive, user: User) -> AsyncIterator[dict[str, object]]:
    async for rows in _batches(Artwork.filter(owner_id=user.id)):
        images = await _images_of("artwork_id", [row.id for row in rows])
        for row in rows:
            yield {
                "id": str(row.id),
                "title": row.title,
                "description": row.description,
                "medium": row.medium,
                "tags": row.tags,
                "position": row.position,
                "visibility": row.visibility.value,
                "aiTrainingPolicy": None
                if row.ai_training_policy is None
                else row.ai_training_policy.value,
                "contentWarning": row.content_warning,
                "sensitive": row.sensitive,
                "aiGenerated": row.ai_generated,
                "likeCount": row.like_count,
                "commentCount": row.comment_count,
                "createdAt": _iso(row.created_at),
                "updatedAt": _iso(row.updated_at),
                "images": [archive.image(image) for image in images.get(row.id, [])],
            }


async def _comments(user: User) -> AsyncIterator[dict[str, object]]:
    async for rows in _batches(Comment.filter(author_id=user.id)):
        for row in rows:
            yield {
                "id": str(row.id),
                "text": row.text,
                "postId": None if row.post_id is None else str(row.post_id),
                "artworkId": None if row.artwork_id is None else str(row.artwork_id),
                "createdAt": _iso(row.created_at),
            }


async def _profile(archive: _Archive, user: User) -> dict[str, object]:
    avatars = await MediaAsset.filter(
        owner_id=user.id, kind=MediaKind.AVATAR, status=MediaStatus.READY
    ).order_by("id")
    return {
        "id": str(user.id),
        "handle": user.handle,
        "displayName": user.display_name,
        "email": user.email,
        "emailVerified": user.email_verified,
        "bio": user.bio,
        "links": user.links,
        "openForCommissions": user.open_for_commissions,
        "aiTrainingPolicy": user.ai_training_policy.value,
        "showSensitive": user.show_sensitive,
        "role": user.role.value,
        "createdAt": _iso(user.created_at),
        "followerCount": user.follower_count,
        "followingCount": user.following_count,
        # the newest is the current avatar
        "avatars": [archive.image(row) for row in avatars],
    }


README = """This archive holds what you made on Gesso, as it was when it was exported.

manifest.json  what is in it (format, version, counts)
profile.json   your profile and settings
posts.json     your posts and replies, with their earlier texts (revisions) and images
artworks.json  your artworks with their images
comments.json  the comments you wrote (others' comments on your work are not included)
images/        each image as published (protected), at its largest size
originals/     the files you uploaded, when the platform keeps them

Ids are decimal strings; times are ISO 8601 in UTC.
"""


async def build_archive(path: Path, user: User, store: ObjectStore) -> dict[str, object]:
    """Write the archive of ``user`` to ``path``; returns its manifest."""
    archive = _Archive(path)
    try:
        profile = await _profile(archive, user)
        await archive.json("profile.json", profile)
        await archive.json_list("posts.json", _posts(archive, user))
        await archive.json_list("artworks.json", _artworks(archive, user))
        await archive.json_list("comments.json", _comments(user))
        images = await archive.copy_images(store)
        manifest: dict[str, object] = {
            "format": ARCHIVE_FORMAT,
            "version": ARCHIVE_VERSION,
            "exportedAt": _iso(_now()),
            "account": {"id": str(user.id), "handle": user.handle},
            "counts": {**archive.counts, "files": images},
            "includes": {
                "comments": "the comments the account wrote, not others' comments on its work",
                "images": "each image as published, at its largest stored size",
                "originals": "the uploaded files, when the platform keeps them",
            },
        }
        await archive.json("manifest.json", manifest)
        await asyncio.to_thread(archive.zip.writestr, "README.txt", README)
    finally:
        await archive.close()
    return manifest


async def run_export(services: Services, export_id: int) -> str:
    """Build one export; returns the outcome: ready or skipped (gone, or finished by an earlier
    delivery). Raises ``Retry`` when the store or the database failed."""
    service = _service(services)
    try:
        row = await AccountExport.get_or_none(id=export_id)
        if row is None or row.status is not ExportStatus.PENDING:
            return "skipped"
        user = await User.get_or_none(id=row.user_id)
        if user is None:  # the account is being deleted
            return "skipped"
    except BaseORMException as error:
        raise Retry(str(error)) from error
    key = _object_key(row.user_id, row.id)
    with tempfile.TemporaryDirectory(prefix="gesso-export-") as folder:
        path = Path(folder) / "export.zip"
        try:
            await build_archive(path, user, service.store)
            stored = await service.store.put_file(
                key, path, content_type="application/zip", private=True
            )
        except (ObjectStoreError, BaseORMException) as error:
            raise Retry(str(error)) from error
    now = _now()
    try:
        changed = await AccountExport.filter(id=row.id, status=ExportStatus.PENDING).update(
            status=ExportStatus.READY,
            object_key=key,
            byte_size=stored.size,
            ready_at=now,
            expires_at=now + EXPORT_VALID,
        )
    except BaseORMException as error:
        await discard(services, [key])
        raise Retry(str(error)) from error
    if not changed:  # deleted meanwhile (the account went): what this run wrote goes
        await discard(services, [key])
        return "skipped"
    await inbox.notify(
        services,
        row.user_id,
        NotificationKind.EXPORT_READY,
        message=(
            "Your archive is ready: download it once from Settings within 24 hours "
            f"({stored.size} bytes)."
        ),
    )
    return "ready"


async def fail(services: Services, export_id: int, reason: str) -> None:
    """Give an export up (its job failed every try): FAILED, nothing of it stored, the member
    told."""
    row = await AccountExport.get_or_none(id=export_id)
    if row is None:
        return
    changed = await AccountExport.filter(id=row.id, status=ExportStatus.PENDING).update(
        status=ExportStatus.FAILED, error=reason[:1000]
    )
    await discard(services, [_object_key(row.user_id, row.id)])
    if changed:
        await inbox.notify(
            services,
            row.user_id,
            NotificationKind.NOTICE,
            message="Your archive could not be prepared; please request it again.",
        )
