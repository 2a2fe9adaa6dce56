"""Object storage for media: one interface, two implementations.

* ``LocalObjectStore``: files under a root directory, the embedded default.
* ``S3ObjectStore``: an S3-compatible bucket through aioboto3 (AWS S3, MinIO, Cloudflare R2). One
  client (one connection pool) is created by ``start()`` and reused until ``close()``.

Keys are plain relative paths over a small alphabet (``validate_key``), so the same key means the
same thing on every backend and can never climb out of the local root. Public derivatives are
content-addressed (``content_key``): the key is derived from the bytes, identical content is stored
once, and putting it again is harmless.

Everything under ``PRIVATE_PREFIX`` is private: such objects can only be written with
``private=True``, and ``public_key`` / ``presigned_url`` refuse them, so no public URL can point
there. Originals are kept there only when the store is built with ``keep_originals=True``.

Library errors (botocore, aiohttp, OSError) are translated here into ``ObjectStoreError`` and its
subclasses; nothing else escapes, except ``ValueError`` for a malformed header value or option and
``RuntimeError`` for an S3 store used before ``start()``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

log = logging.getLogger("gesso.objects")

PRIVATE_PREFIX = "private/"
ORIGINALS_PREFIX = "private/originals/"
# For content-addressed public derivatives: the bytes behind a key never change.
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE_NO_STORE = "private, no-store"
DEFAULT_CHUNK_SIZE = 64 * 1024
# A readiness probe must answer in time of its own, whatever the client's timeouts and retries.
PING_TIMEOUT = 2.0
# Well under S3's 1024 bytes; a segment also stays far from a filesystem's 255-byte name limit.
MAX_KEY_LENGTH = 512
MAX_SEGMENT_LENGTH = 200
# SigV4 presigned URLs live at most a week.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
# S3 deletes at most 1000 keys per DeleteObjects request.
_DELETE_BATCH = 1000
_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/gif": "gif",
    "application/json": "json",
    "text/plain": "txt",
}
_NOT_FOUND_CODES = {"NoSuchKey", "NotFound", "404"}
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


class ObjectStoreError(Exception):
    """Base of the object store's errors."""


class ObjectNotFound(ObjectStoreError):
    """No object under that key."""


class ObjectStoreUnavailable(ObjectStoreError):
    """The store cannot be reached or cannot serve right now (endpoint down, timeout, 5xx, disk
    unwritable); worth retrying later, and what a readiness check reports."""


class InvalidKey(ObjectStoreError):
    """The key is malformed, or addresses something it may not (a private object publicly)."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What the store knows about an object: enough to serve it with the right headers.

    ``etag`` is opaque and unquoted (S3's ETag; a SHA-256 hex digest in the local store).
    """

    key: str
    size: int
    content_type: str
    cache_control: str | None
    etag: str | None

    @property
    def private(self) -> bool:
        return is_private(self.key)


@dataclass(frozen=True, slots=True)
class ObjectData(StoredObject):
    """An object's metadata and its bytes, as returned by ``ObjectStore.get``."""

    data: bytes = field(repr=False)


class ObjectStream:
    """An object's metadata and its bytes as an async iterator of chunks.

    The object was found when this exists (``open_stream`` raises ``ObjectNotFound`` first, before a
    caller commits to a response). The underlying file or connection is released when the chunks
    are exhausted or iteration fails; a caller that stops early must ``close()`` it (or use
    ``async with``).
    """

    def __init__(
        self,
        info: StoredObject,
        read: Callable[[int], Awaitable[bytes]],
        release: Callable[[], None],
        chunk_size: int,
    ) -> None:
        self.info = info
        self._read = read
        self._release = release
        self._chunk_size = chunk_size
        self._closed = False

    def __aiter__(self) -> ObjectStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            chunk = await self._read(self._chunk_size)
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopAsyncIteration
        return chunk

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _shown(key: str) -> str:
    return repr(key if len(key) <= 80 else key[:80] + "...")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise ``InvalidKey`` saying why.

    A key is ``segment/segment/...``: relative, no empty segments, each segment made of ASCII
    letters, digits, ``.``, ``-`` and ``_`` and not starting with ``.`` (which also rules out ``.``
    and ``..``, and keeps the local store's hidden temporary files out of the key space).
    """
    if not key:
        raise InvalidKey("an object key cannot be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(
            f"object key {_shown(key)} is {len(key)} characters long; at most {MAX_KEY_LENGTH}"
        )
    if "\x00" in key:
        raise InvalidKey(f"object key {_shown(key)} contains a NUL character")
    if "\\" in key:
        raise InvalidKey(f"object key {_shown(key)} contains a backslash; use '/'")
    if key.startswith("/"):
        raise InvalidKey(f"object key {_shown(key)} is absolute; keys are relative")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(f"object key {_shown(key)} has an empty segment ('//' or a '/' end)")
        if segment in (".", ".."):
            raise InvalidKey(f"object key {_shown(key)} contains a {segment!r} segment")
        if segment.startswith("."):
            raise InvalidKey(f"object key {_shown(key)} has a segment starting with '.'")
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise InvalidKey(
                f"object key {_shown(key)} has a segment longer than {MAX_SEGMENT_LENGTH}"
            )
        if not _SEGMENT.fullmatch(segment):
            bad = next(c for c in segment if not _SEGMENT.fullmatch(c))
            raise InvalidKey(
                f"object key {_shown(key)} contains {bad!r}; only ASCII letters, digits, "
                "'.', '-', '_' and '/' are allowed"
            )
    return key


def is_private(key: str) -> bool:
    """Whether ``key`` lies under ``PRIVATE_PREFIX``. Compared case-insensitively, so that
    ``PRIVATE/...`` cannot reach a private file on a case-insensitive filesystem."""
    lowered = key.lower()
    return lowered == PRIVATE_PREFIX.rstrip("/") or lowered.startswith(PRIVATE_PREFIX)


def public_key(key: str) -> str:
    """Return ``key`` if a public URL may point to it; the one gate every URL builder goes through.

    Raises ``InvalidKey`` for a malformed key or one under ``PRIVATE_PREFIX``.
    """
    validate_key(key)
    if is_private(key):
        raise InvalidKey(f"object key {_shown(key)} is private; no public URL may point to it")
    return key


def extension_for(content_type: str) -> str:
    """The file extension of a content type (``image/webp`` -> ``webp``); ``bin`` when unknown."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return _EXTENSIONS.get(media_type, "bin")


def content_key(data: bytes, content_type: str, *, prefix: str = "") -> str:
    """The content-addressed key of ``data``: ``<prefix>ab/cd/abcd...<64 hex>.<ext>``.

    The SHA-256 of the bytes, sharded by its first two bytes so no directory (or S3 listing) grows
    past 65536 entries per level, plus the extension of ``content_type``.
    """
    digest = hashlib.sha256(data).hexdigest()
    return validate_key(
        f"{prefix}{digest[:2]}/{digest[2:4]}/{digest}.{extension_for(content_type)}"
    )


def original_key(data: bytes, content_type: str) -> str:
    """Where ``ObjectStore.put_original`` keeps an original: content-addressed, private."""
    return content_key(data, content_type, prefix=ORIGINALS_PREFIX)


def _header_value(name: str, value: str) -> str:
    # A header value travels to S3 and later to browsers: printable ASCII only, no CR/LF injection.
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(f"{name} must be a non-empty printable ASCII string, got {value!r}")
    return value


class ObjectStore:
    """The interface, with the checks both implementations share.

    Every public method validates its keys before any I/O; subclasses implement the ``_``-prefixed
    methods and translate their library's errors.
    """

    def __init__(self, *, keep_originals: bool = False) -> None:
        self.keep_originals = keep_originals
        self.ping_timeout = PING_TIMEOUT

    async def start(self) -> None:
        """Prepare the store; called once by the application's lifespan."""

    async def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""

    async def ping(self) -> None:
        """A cheap readiness check: returns if the store can serve, raises ``ObjectStoreError``
        if not (``ObjectStoreUnavailable`` when unreachable, or slower than ``ping_timeout``
        seconds whatever the store's own timeouts and retries)."""
        try:
            async with asyncio.timeout(self.ping_timeout):
                await self._ping()
        except TimeoutError as error:
            raise ObjectStoreUnavailable(
                f"the object store did not answer within {self.ping_timeout} s"
            ) from error

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
        private: bool = False,
    ) -> StoredObject:
        """Store ``data`` under ``key``, replacing what was there, with its headers.

        ``private`` must be True exactly when the key lies under ``PRIVATE_PREFIX``, so that a
        private object is never written to a public key by mistake (or the reverse). A private
        object without ``cache_control`` gets ``PRIVATE_NO_STORE``. Putting the same bytes under a
        content-addressed key again is harmless.
        """
        validate_key(key)
        if private != is_private(key):
            if private:
                raise InvalidKey(
                    f"private object key {_shown(key)} must start with {PRIVATE_PREFIX!r}"
                )
            raise InvalidKey(
                f"object key {_shown(key)} is under {PRIVATE_PREFIX!r}; store it with private=True"
            )
        if cache_control is None and private:
            cache_control = PRIVATE_NO_STORE
        _header_value("content_type", content_type)
        if cache_control is not None:
            _header_value("cache_control", cache_control)
        return await self._put(key, bytes(data), content_type, cache_control)

    async def put_original(self, data: bytes, *, content_type: str) -> StoredObject | None:
        """Keep an uploaded original under ``ORIGINALS_PREFIX`` if this store is configured to
        (``keep_originals``); otherwise store nothing and return None."""
        if not self.keep_originals:
            return None
        key = original_key(data, content_type)
        return await self.put(key, data, content_type=content_type, private=True)

    async def get(self, key: str) -> ObjectData:
        """The object's bytes and metadata; ``ObjectNotFound`` if there is none."""
        return await self._get(validate_key(key))

    async def head(self, key: str) -> StoredObject:
        """The object's metadata without its bytes; ``ObjectNotFound`` if there is none."""
        return await self._head(validate_key(key))

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        await self._delete(validate_key(key))

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every object in ``keys`` (missing ones are fine): the rollback of a multi-object
        write. All keys are validated before anything is deleted.

        Only pass keys this operation created: a content-addressed key that existed before may be
        shared with another record.
        """
        unique = list(dict.fromkeys(validate_key(key) for key in keys))
        if unique:
            await self._delete_many(unique)

    async def open_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        """The object's metadata now and its bytes as chunks of at most ``chunk_size`` bytes.

        Raises ``ObjectNotFound`` before returning, so a caller can still choose a 404.
        """
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        return await self._open_stream(validate_key(key), chunk_size)

    async def presigned_url(self, key: str, *, expires_in: int = 3600) -> str | None:
        """A time-limited URL to GET the object straight from the store, or None when the store
        has no such URLs (the local store: the server signs its own media URLs). Private keys
        are refused with ``InvalidKey``. No request is made and existence is not checked."""
        public_key(key)
        if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_in must be 1..{MAX_PRESIGN_SECONDS} seconds")
        return await self._presigned_url(key, expires_in)

    async def _ping(self) -> None:
        raise NotImplementedError

    async def _put(
        self, key: str, data: bytes, content_type: str, cache_control: str | None
    ) -> StoredObject:
        raise NotImplementedError

    async def _get(self, key: str) -> ObjectData:
        raise NotImplementedError

    async def _head(self, key: str) -> StoredObject:
        raise NotImplementedError

    async def _delete(self, key: str) -> None:
        raise NotImplementedError

    async def _delete_many(self, keys: list[str]) -> None:
        for key in keys:
            await self._delete(key)

    async def _open_stream(self, key: str, chunk_size: int) -> ObjectStream:
        raise NotImplementedError

    async def _presigned_url(self, key: str, expires_in: int) -> str | None:
        return None


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root``: the embedded default.

    Layout: ``root/objects/<key>`` holds the bytes and ``root/meta/<key>`` a JSON sidecar with the
    content type, cache control, size and etag. The two trees mirror each other, so a key that fits
    one fits the other. A sidecar (rather than extended attributes) works on every filesystem and
    survives copies and backups.

    Writes are atomic: each file is written to a hidden temporary file in its target directory,
    flushed to disk (``fsync=True``) and moved into place with ``os.replace``. The sidecar is
    written first and the bytes last, so the bytes' file appearing is the commit point: a crash
    leaves either no object or a whole one, at worst with a stray sidecar that the next put of
    that key overwrites. Overwriting a key with different headers can briefly pair the new
    headers with the old bytes; content-addressed keys never change, so they never see this.

    Files are created with mode 0600 (served by this process, not by a web server). Empty shard
    directories are left behind by deletes: removing them would race a concurrent put.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        keep_originals: bool = False,
        create: bool = True,
        fsync: bool = True,
    ) -> None:
        super().__init__(keep_originals=keep_originals)
        self.root = Path(root)
        self.create = create
        self.fsync = fsync
        self._objects = Path(os.path.realpath(self.root / "objects"))
        self._meta = Path(os.path.realpath(self.root / "meta"))

    async def start(self) -> None:
        if self.create:
            await asyncio.to_thread(self._create_tree)
        await self.ping()

    async def _ping(self) -> None:
        await asyncio.to_thread(self._check_tree)

    async def _put(
        self, key: str, data: bytes, content_type: str, cache_control: str | None
    ) -> StoredObject:
        stored = StoredObject(
            key, len(data), content_type, cache_control, hashlib.sha256(data).hexdigest()
        )
        with self._translated(key):
            await asyncio.to_thread(self._write, key, data, stored)
        return stored

    async def _get(self, key: str) -> ObjectData:
        with self._translated(key):
            return await asyncio.to_thread(self._read, key)

    async def _head(self, key: str) -> StoredObject:
        with self._translated(key):
            return await asyncio.to_thread(self._stat, key)

    async def _delete(self, key: str) -> None:
        with self._translated(key):
            await asyncio.to_thread(self._remove, key)

    async def _delete_many(self, keys: list[str]) -> None:
        with self._translated(None):
            await asyncio.to_thread(self._remove_all, keys)

    async def _open_stream(self, key: str, chunk_size: int) -> ObjectStream:
        with self._translated(key):
            handle, info = await asyncio.to_thread(self._open, key)

        async def read(size: int) -> bytes:
            with self._translated(key):
                return await asyncio.to_thread(handle.read, size)

        return ObjectStream(info, read, handle.close, chunk_size)

    @contextlib.contextmanager
    def _translated(self, key: str | None) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            if error.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
                # Only a put gets here: its key collides with another key's file or directory.
                raise ObjectStoreError(
                    f"object key {_shown(key or '')} collides with another key in {self.root}"
                ) from error
            raise ObjectStoreUnavailable(
                f"local object store at {self.root}: {error.strerror or error}"
            ) from error

    def _create_tree(self) -> None:
        for tree in (self.root / "objects", self.root / "meta"):
            tree.mkdir(parents=True, exist_ok=True)

    def _check_tree(self) -> None:
        for tree in (self._objects, self._meta):
            if not tree.is_dir() or not os.access(tree, os.R_OK | os.W_OK | os.X_OK):
                raise ObjectStoreUnavailable(f"{tree} is not a writable directory")

    def _paths(self, key: str) -> tuple[Path, Path]:
        """The bytes' and the sidecar's paths, after checking both stay inside their trees even
        through symbolic links planted in the root (validation already rules out ``..``)."""
        parts = key.split("/")
        paths = (self._objects.joinpath(*parts), self._meta.joinpath(*parts))
        for path, tree in zip(paths, (self._objects, self._meta), strict=True):
            parent = os.path.realpath(path.parent)
            if parent != str(tree) and not parent.startswith(str(tree) + os.sep):
                raise InvalidKey(f"object key {_shown(key)} leads outside the store")
        return paths

    def _write(self, key: str, data: bytes, stored: StoredObject) -> None:
        data_path, meta_path = self._paths(key)
        sidecar = {
            "content_type": stored.content_type,
            "cache_control": stored.cache_control,
            "size": stored.size,
            "etag": stored.etag,
        }
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        self._replace(meta_path, json.dumps(sidecar).encode())
        data_path.parent.mkdir(parents=True, exist_ok=True)
        self._replace(data_path, data)

    def _replace(self, path: Path, payload: bytes) -> None:
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(payload)
                if self.fsync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if self.fsync:
            # Make the rename itself durable; some platforms cannot open a directory for this.
            with contextlib.suppress(OSError):
                directory = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)

    def _open(self, key: str) -> tuple[BinaryIO, StoredObject]:
        data_path, meta_path = self._paths(key)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(data_path, flags)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise ObjectNotFound(f"no object under {_shown(key)}") from error
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise InvalidKey(f"object key {_shown(key)} is a symbolic link") from error
            raise
        handle = os.fdopen(fd, "rb")
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise ObjectNotFound(f"no object under {_shown(key)}")
            return handle, self._info(key, status.st_size, meta_path)
        except BaseException:
            handle.close()
            raise

    def _read(self, key: str) -> ObjectData:
        handle, info = self._open(key)
        with handle:
            data = handle.read()
        return ObjectData(
            info.key, len(data), info.content_type, info.cache_control, info.etag, data
        )

    def _stat(self, key: str) -> StoredObject:
        data_path, meta_path = self._paths(key)
        try:
            status = os.lstat(data_path)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise ObjectNotFound(f"no object under {_shown(key)}") from error
        if stat.S_ISLNK(status.st_mode):
            raise InvalidKey(f"object key {_shown(key)} is a symbolic link")
        if not stat.S_ISREG(status.st_mode):
            raise ObjectNotFound(f"no object under {_shown(key)}")
        return self._info(key, status.st_size, meta_path)

    def _info(self, key: str, size: int, meta_path: Path) -> StoredObject:
        try:
            sidecar: dict[str, Any] = json.loads(meta_path.read_bytes())
        except (OSError, ValueError) as error:
            # Only possible if files were copied or edited by hand: serve the bytes generically.
            log.warning("object %s has no readable metadata (%s)", key, error)
            sidecar = {}
        return StoredObject(
            key,
            size,
            str(sidecar.get("content_type") or "application/octet-stream"),
            sidecar.get("cache_control"),
            sidecar.get("etag"),
        )

    def _remove_all(self, keys: list[str]) -> None:
        for key in keys:
            self._remove(key)

    def _remove(self, key: str) -> None:
        # The bytes go first: once they are gone the object is gone, whatever happens next.
        for path in self._paths(key):
            try:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                pass


class S3ObjectStore(ObjectStore):
    """An S3-compatible bucket: AWS S3, MinIO (``addressing_style="path"``), Cloudflare R2
    (``region="auto"``).

    ``key_prefix`` places every key of this store under a folder of a shared bucket; callers never
    see it. ``access_key``/``secret_key`` may be None to use the default AWS credential chain.
    ``create_bucket`` creates the bucket on ``start()`` if missing (the embedded and dev setups).
    ``session`` shares one ``aioboto3.Session`` between stores: creating a client parses
    botocore's service models (about 0.1 s of CPU), once per session.

    Timeouts and retries are explicit so that an unreachable endpoint fails within about
    ``max_attempts * (connect_timeout + read_timeout)`` seconds (plus short backoffs between
    attempts) rather than hanging a request; ``max_attempts`` counts the first attempt.
    Checksums are only sent where S3 requires them: recent botocore's default CRC headers are
    rejected by some S3-compatible servers, and ``Content-MD5`` already guards each upload.
    """

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        key_prefix: str = "",
        addressing_style: Literal["auto", "path", "virtual"] = "auto",
        create_bucket: bool = False,
        keep_originals: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        max_pool_connections: int = 32,
        session: Any = None,
    ) -> None:
        super().__init__(keep_originals=keep_originals)
        if not bucket:
            raise ValueError("bucket is required")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.key_prefix = validate_key(key_prefix.strip("/")) + "/" if key_prefix else ""
        self.create_bucket = create_bucket
        self._access_key = access_key
        self._secret_key = secret_key
        self._config = AioConfig(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=max_pool_connections,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._session = session
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    @property
    def _where(self) -> str:
        return f"S3 bucket {self.bucket!r} at {self.endpoint_url or 'AWS'}"

    async def start(self) -> None:
        if self._stack is not None:
            return
        session = self._session or aioboto3.Session()
        client = session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            config=self._config,
        )
        stack = contextlib.AsyncExitStack()
        try:
            with self._translated("starting"):
                self._client = await stack.enter_async_context(client)
            self._stack = stack
            if self.create_bucket:
                await self._ensure_bucket()
        except BaseException:
            self._stack = self._client = None
            await stack.aclose()
            raise

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with self._translated("closing"):
                await stack.aclose()

    async def _ping(self) -> None:
        with self._translated("checking the bucket"):
            await self._s3().head_bucket(Bucket=self.bucket)

    async def _ensure_bucket(self) -> None:
        s3 = self._s3()
        with self._translated("creating the bucket"):
            try:
                await s3.head_bucket(Bucket=self.bucket)
                return
            except ClientError as error:
                if _status(error) != 404:
                    raise
            options: dict[str, Any] = {"Bucket": self.bucket}
            if self.region not in ("us-east-1", "auto"):
                options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            try:
                await s3.create_bucket(**options)
            except ClientError as error:
                # Another process may have created it meanwhile.
                if _code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    async def _put(
        self, key: str, data: bytes, content_type: str, cache_control: str | None
    ) -> StoredObject:
        checksum = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        extra = {"CacheControl": cache_control} if cache_control is not None else {}
        with self._translated("storing", key):
            response = await self._s3().put_object(
                Bucket=self.bucket,
                Key=self.key_prefix + key,
                Body=data,
                ContentType=content_type,
                ContentMD5=checksum,
                **extra,
            )
        return StoredObject(key, len(data), content_type, cache_control, _etag(response))

    async def _get(self, key: str) -> ObjectData:
        with self._translated("reading", key):
            response = await self._s3().get_object(Bucket=self.bucket, Key=self.key_prefix + key)
            async with response["Body"]:
                data = await response["Body"].read()
        info = self._info(key, response)
        return ObjectData(key, len(data), info.content_type, info.cache_control, info.etag, data)

    async def _head(self, key: str) -> StoredObject:
        with self._translated("reading", key):
            response = await self._s3().head_object(Bucket=self.bucket, Key=self.key_prefix + key)
        return self._info(key, response)

    async def _delete(self, key: str) -> None:
        with self._translated("deleting", key):
            await self._s3().delete_object(Bucket=self.bucket, Key=self.key_prefix + key)

    async def _delete_many(self, keys: list[str]) -> None:
        failed: list[str] = []
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": self.key_prefix + key} for key in keys[start : start + _DELETE_BATCH]]
            with self._translated("deleting"):
                response = await self._s3().delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            failed += [f"{e.get('Key')} ({e.get('Code')})" for e in response.get("Errors", [])]
        if failed:
            raise ObjectStoreError(f"{self._where} failed to delete: {', '.join(failed[:10])}")

    async def _open_stream(self, key: str, chunk_size: int) -> ObjectStream:
        with self._translated("reading", key):
            response = await self._s3().get_object(Bucket=self.bucket, Key=self.key_prefix + key)
        body = response["Body"]

        async def read(size: int) -> bytes:
            with self._translated("reading", key):
                chunk: bytes = await body.read(size)
                return chunk

        # close() drops the connection rather than returning a half-read one to the pool.
        return ObjectStream(self._info(key, response), read, body.close, chunk_size)

    async def _presigned_url(self, key: str, expires_in: int) -> str:
        with self._translated("signing a URL for", key):
            url: str = await self._s3().generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.key_prefix + key},
                ExpiresIn=expires_in,
            )
        return url

    def _s3(self) -> Any:
        if self._client is None:
            raise RuntimeError("the S3 object store is not started (call start() first)")
        return self._client

    def _info(self, key: str, response: dict[str, Any]) -> StoredObject:
        return StoredObject(
            key,
            int(response.get("ContentLength", 0)),
            response.get("ContentType") or "application/octet-stream",
            response.get("CacheControl"),
            _etag(response),
        )

    @contextlib.contextmanager
    def _translated(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore/aiohttp/socket errors raised inside the block into our own."""
        about = f" {_shown(key)}" if key is not None else ""
        try:
            yield
        except ClientError as error:
            code, status = _code(error), _status(error)
            if code == "NoSuchBucket" or (key is None and status == 404):
                raise ObjectStoreError(f"{self._where} does not exist") from error
            if key is not None and (code in _NOT_FOUND_CODES or status == 404):
                raise ObjectNotFound(f"no object under {_shown(key)}") from error
            if status >= 500 or code in _UNAVAILABLE_CODES:
                raise ObjectStoreUnavailable(
                    f"{self._where} failed {action}{about}: {code} (HTTP {status})"
                ) from error
            raise ObjectStoreError(
                f"{self._where} refused {action}{about}: {code} (HTTP {status})"
            ) from error
        except (HTTPClientError, BotoConnectionError, aiohttp.ClientError, OSError) as error:
            # Includes connect/read timeouts: botocore's are HTTPClientError/ConnectionError, and
            # TimeoutError is an OSError.
            raise ObjectStoreUnavailable(
                f"{self._where} is unreachable ({action}{about}): {error}"
            ) from error
        except BotoCoreError as error:
            raise ObjectStoreError(f"{self._where}: {action}{about} failed: {error}") from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _etag(response: dict[str, Any]) -> str | None:
    etag = response.get("ETag")
    return str(etag).strip('"') if etag else None
