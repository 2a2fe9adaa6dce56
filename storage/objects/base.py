"""What every object store offers, and what it returns."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from storage.objects.keys import (
    DEFAULT_CHUNK_SIZE,
    MAX_PRESIGN_SECONDS,
    PING_TIMEOUT,
    PRIVATE_NO_STORE,
    PRIVATE_PREFIX,
    InvalidKey,
    ObjectNotFound,
    ObjectStoreUnavailable,
    checked_header,
    is_private,
    original_key,
    public_key,
    shown_key,
    validate_key,
)


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
        cache_control = self._checked(key, content_type, cache_control, private=private)
        return await self._put(key, bytes(data), content_type, cache_control)

    async def put_file(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        content_type: str,
        cache_control: str | None = None,
        private: bool = False,
    ) -> StoredObject:
        """Store the file at ``path`` under ``key`` like ``put``, without reading it into memory
        whole: the local store copies it in chunks, S3 uploads it in parts of ``part_size``."""
        cache_control = self._checked(key, content_type, cache_control, private=private)
        return await self._put_file(key, Path(path), content_type, cache_control)

    def _checked(
        self, key: str, content_type: str, cache_control: str | None, *, private: bool
    ) -> str | None:
        """The checks of a write; returns the cache control to store."""
        validate_key(key)
        if private != is_private(key):
            if private:
                raise InvalidKey(
                    f"private object key {shown_key(key)} must start with {PRIVATE_PREFIX!r}"
                )
            raise InvalidKey(
                f"object key {shown_key(key)} is under {PRIVATE_PREFIX!r};"
                " store it with private=True"
            )
        if cache_control is None and private:
            cache_control = PRIVATE_NO_STORE
        checked_header("content_type", content_type)
        if cache_control is not None:
            checked_header("cache_control", cache_control)
        return cache_control

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

    async def _put_file(
        self, key: str, path: Path, content_type: str, cache_control: str | None
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
