"""Object keys, the constants of the store, and its errors."""

from __future__ import annotations

import hashlib
import logging
import re

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


class ObjectStoreError(Exception):
    """Base of the object store's errors."""


class ObjectNotFound(ObjectStoreError):
    """No object under that key."""


class ObjectStoreUnavailable(ObjectStoreError):
    """The store cannot be reached or cannot serve right now (endpoint down, timeout, 5xx, disk
    unwritable); worth retrying later, and what a readiness check reports."""


class InvalidKey(ObjectStoreError):
    """The key is malformed, or addresses something it may not (a private object publicly)."""


def shown_key(key: str) -> str:
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
            f"object key {shown_key(key)} is {len(key)} characters long; at most {MAX_KEY_LENGTH}"
        )
    if "\x00" in key:
        raise InvalidKey(f"object key {shown_key(key)} contains a NUL character")
    if "\\" in key:
        raise InvalidKey(f"object key {shown_key(key)} contains a backslash; use '/'")
    if key.startswith("/"):
        raise InvalidKey(f"object key {shown_key(key)} is absolute; keys are relative")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(
                f"object key {shown_key(key)} has an empty segment ('//' or a '/' end)"
            )
        if segment in (".", ".."):
            raise InvalidKey(f"object key {shown_key(key)} contains a {segment!r} segment")
        if segment.startswith("."):
            raise InvalidKey(f"object key {shown_key(key)} has a segment starting with '.'")
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise InvalidKey(
                f"object key {shown_key(key)} has a segment longer than {MAX_SEGMENT_LENGTH}"
            )
        if not _SEGMENT.fullmatch(segment):
            bad = next(c for c in segment if not _SEGMENT.fullmatch(c))
            raise InvalidKey(
                f"object key {shown_key(key)} contains {bad!r}; only ASCII letters, digits, "
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
        raise InvalidKey(f"object key {shown_key(key)} is private; no public URL may point to it")
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


def checked_header(name: str, value: str) -> str:
    # A header value travels to S3 and later to browsers: printable ASCII only, no CR/LF injection.
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(f"{name} must be a non-empty printable ASCII string, got {value!r}")
    return value
