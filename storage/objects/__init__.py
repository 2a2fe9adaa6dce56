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

from storage.objects.base import ObjectData, ObjectStore, ObjectStream, StoredObject
from storage.objects.keys import (
    DEFAULT_CHUNK_SIZE,
    IMMUTABLE,
    MAX_KEY_LENGTH,
    MAX_PRESIGN_SECONDS,
    MAX_SEGMENT_LENGTH,
    ORIGINALS_PREFIX,
    PING_TIMEOUT,
    PRIVATE_NO_STORE,
    PRIVATE_PREFIX,
    InvalidKey,
    ObjectNotFound,
    ObjectStoreError,
    ObjectStoreUnavailable,
    content_key,
    extension_for,
    is_private,
    original_key,
    public_key,
    validate_key,
)
from storage.objects.local import LocalObjectStore
from storage.objects.s3 import S3ObjectStore

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "IMMUTABLE",
    "MAX_KEY_LENGTH",
    "MAX_PRESIGN_SECONDS",
    "MAX_SEGMENT_LENGTH",
    "ORIGINALS_PREFIX",
    "PING_TIMEOUT",
    "PRIVATE_NO_STORE",
    "PRIVATE_PREFIX",
    "InvalidKey",
    "LocalObjectStore",
    "ObjectData",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectStoreUnavailable",
    "ObjectStream",
    "S3ObjectStore",
    "StoredObject",
    "content_key",
    "extension_for",
    "is_private",
    "original_key",
    "public_key",
    "validate_key",
]
