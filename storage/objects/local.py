"""The local-directory object store (the embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from storage.objects.base import ObjectData, ObjectStore, ObjectStream, StoredObject
from storage.objects.keys import (
    DEFAULT_CHUNK_SIZE,
    InvalidKey,
    ObjectNotFound,
    ObjectStoreError,
    ObjectStoreUnavailable,
    log,
    shown_key,
)


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
        with self._translated(key):
            # Hashed in the thread too: a photo's SHA-256 is milliseconds of CPU that the event
            # loop need not wait for (hashlib releases the GIL).
            return await asyncio.to_thread(
                self._hash_and_write, key, data, content_type, cache_control
            )

    def _hash_and_write(
        self, key: str, data: bytes, content_type: str, cache_control: str | None
    ) -> StoredObject:
        etag = hashlib.sha256(data).hexdigest()
        stored = StoredObject(key, len(data), content_type, cache_control, etag)
        self._write(key, data, stored)
        return stored

    async def _put_file(
        self, key: str, path: Path, content_type: str, cache_control: str | None
    ) -> StoredObject:
        with self._translated(key):
            size, digest = await asyncio.to_thread(_measure, path)
            stored = StoredObject(key, size, content_type, cache_control, digest)
            await asyncio.to_thread(self._write, key, path, stored)
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
                    f"object key {shown_key(key or '')} collides with another key in {self.root}"
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
                raise InvalidKey(f"object key {shown_key(key)} leads outside the store")
        return paths

    def _write(self, key: str, data: bytes | Path, stored: StoredObject) -> None:
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

    def _replace(self, path: Path, payload: bytes | Path) -> None:
        """Write ``payload`` (bytes, or the file at a path, copied in chunks) to ``path``."""
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                if isinstance(payload, Path):
                    with payload.open("rb") as source:
                        shutil.copyfileobj(source, file, DEFAULT_CHUNK_SIZE)
                else:
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
            raise ObjectNotFound(f"no object under {shown_key(key)}") from error
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise InvalidKey(f"object key {shown_key(key)} is a symbolic link") from error
            raise
        handle = os.fdopen(fd, "rb")
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise ObjectNotFound(f"no object under {shown_key(key)}")
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
            raise ObjectNotFound(f"no object under {shown_key(key)}") from error
        if stat.S_ISLNK(status.st_mode):
            raise InvalidKey(f"object key {shown_key(key)} is a symbolic link")
        if not stat.S_ISREG(status.st_mode):
            raise ObjectNotFound(f"no object under {shown_key(key)}")
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


def _measure(path: Path) -> tuple[int, str]:
    """The size and SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(DEFAULT_CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
