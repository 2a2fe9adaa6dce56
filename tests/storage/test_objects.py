"""The object store, local directory and S3 (moto's server over HTTP): the same tests on both,
then what only one of them has (the local root's confinement, S3 outages)."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aioboto3
import httpx
import pytest

from storage.objects import (
    IMMUTABLE,
    ORIGINALS_PREFIX,
    PRIVATE_NO_STORE,
    InvalidKey,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailable,
    S3ObjectStore,
    content_key,
    extension_for,
    public_key,
    validate_key,
)
from tests.services import MotoServer, free_port

StoreFactory = Callable[..., Awaitable[ObjectStore]]

WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 fake image bytes"

HOSTILE_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "a/../../escape",
    "..",
    ".",
    "a/./b",
    "a/..",
    "..\\escape",
    "a\\b",
    "C:\\Windows\\win.ini",
    "a\x00b",
    "a//b",
    "a/",
    ".hidden",
    "a/.tmp-123",
    "~/escape",
    "%2e%2e/escape",
    "a b",
    "a\nb",
    "caf\u00e9",
    "\u2025/escape",  # a one-character lookalike of '..'
    "x" * 513,
    "a/" + "b" * 201,
]


# One session for every S3 store here: each new session parses botocore's models again (~0.1 s).
_SESSION = aioboto3.Session()


def s3_store(server: MotoServer, **options: Any) -> S3ObjectStore:
    settings: dict[str, Any] = {
        "session": _SESSION,
        "bucket": f"gesso-test-{uuid.uuid4().hex[:12]}",
        "endpoint_url": server.endpoint_url,
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
        "addressing_style": "path",
        "create_bucket": True,
        "connect_timeout": 1.0,
        "read_timeout": 3.0,
        "max_attempts": 2,
    }
    settings.update(options)
    return S3ObjectStore(**settings)


@pytest.fixture(params=["local", "s3"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Builds and starts stores of the parametrized kind; closes them after the test."""
    started: list[ObjectStore] = []

    async def make(**options: Any) -> ObjectStore:
        store: ObjectStore
        if request.param == "local":
            store = LocalObjectStore(tmp_path / f"store-{len(started)}", **options)
        else:
            store = s3_store(request.getfixturevalue("moto_server"), **options)
        await store.start()
        started.append(store)
        return store

    yield make
    for store in started:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> ObjectStore:
    return await make_store(keep_originals=True)


async def test_round_trip_keeps_bytes_content_type_and_cache_control(store: ObjectStore) -> None:
    stored = await store.put(
        "avatars/42.webp", WEBP, content_type="image/webp", cache_control="public, max-age=60"
    )
    assert (stored.key, stored.size, stored.private) == ("avatars/42.webp", len(WEBP), False)
    assert stored.etag

    got = await store.get("avatars/42.webp")
    assert got.data == WEBP
    assert (got.key, got.size) == ("avatars/42.webp", len(WEBP))
    assert got.content_type == "image/webp"
    assert got.cache_control == "public, max-age=60"
    assert got.etag == stored.etag


async def test_put_without_cache_control_stores_none(store: ObjectStore) -> None:
    await store.put("notes/a.txt", b"hello", content_type="text/plain; charset=utf-8")
    got = await store.get("notes/a.txt")
    assert (got.content_type, got.cache_control) == ("text/plain; charset=utf-8", None)


async def test_put_replaces_an_existing_object(store: ObjectStore) -> None:
    await store.put("a/b.png", b"first", content_type="image/png")
    await store.put("a/b.png", b"second version", content_type="image/jpeg")
    got = await store.get("a/b.png")
    assert (got.data, got.content_type, got.size) == (b"second version", "image/jpeg", 14)


def test_content_key_is_the_sharded_sha256_with_an_extension() -> None:
    digest = hashlib.sha256(WEBP).hexdigest()
    assert content_key(WEBP, "image/webp") == f"{digest[:2]}/{digest[2:4]}/{digest}.webp"
    assert content_key(WEBP, "IMAGE/JPEG; q=1").endswith(f"/{digest}.jpg")
    assert content_key(WEBP, "application/x-unknown").endswith(".bin")
    assert content_key(WEBP, "image/png", prefix="d/").startswith(f"d/{digest[:2]}/")
    assert content_key(b"other", "image/webp") != content_key(WEBP, "image/webp")
    assert [extension_for(t) for t in ("image/avif", "image/gif", "")] == ["avif", "gif", "bin"]


async def test_content_addressed_put_is_idempotent(store: ObjectStore, tmp_path: Path) -> None:
    key = content_key(WEBP, "image/webp")
    first = await store.put(key, WEBP, content_type="image/webp", cache_control=IMMUTABLE)
    second = await store.put(key, WEBP, content_type="image/webp", cache_control=IMMUTABLE)
    assert first == second
    got = await store.get(key)
    assert (got.data, got.cache_control) == (WEBP, IMMUTABLE)
    if isinstance(store, LocalObjectStore):
        stored = [p for p in (store.root / "objects").rglob("*") if p.is_file()]
        assert [p.relative_to(store.root / "objects").as_posix() for p in stored] == [key]


async def test_head_and_exists(store: ObjectStore) -> None:
    assert not await store.exists("thumbs/1.jpg")
    await store.put("thumbs/1.jpg", b"jpeg", content_type="image/jpeg", cache_control=IMMUTABLE)
    assert await store.exists("thumbs/1.jpg")
    head = await store.head("thumbs/1.jpg")
    assert (head.key, head.size, head.content_type, head.cache_control) == (
        "thumbs/1.jpg",
        4,
        "image/jpeg",
        IMMUTABLE,
    )
    assert not hasattr(head, "data")
    # A "directory" of other keys is not an object.
    assert not await store.exists("thumbs")


async def test_missing_object_raises_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match=r"nope/missing\.webp"):
        await store.get("nope/missing.webp")
    with pytest.raises(ObjectNotFound):
        await store.head("nope/missing.webp")
    with pytest.raises(ObjectNotFound):
        await store.open_stream("nope/missing.webp")


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.put("d/1.png", b"png", content_type="image/png")
    await store.delete("d/1.png")
    assert not await store.exists("d/1.png")
    await store.delete("d/1.png")
    await store.delete("never/was.png")


async def test_delete_many_removes_everything_written_so_far(store: ObjectStore) -> None:
    written = [f"upload/{n}.webp" for n in range(3)]
    for key in written:
        await store.put(key, key.encode(), content_type="image/webp")
    await store.put("keep/me.webp", b"keep", content_type="image/webp")

    await store.delete_many([*written, written[0], "upload/never-written.webp"])
    assert [await store.exists(key) for key in written] == [False, False, False]
    assert await store.exists("keep/me.webp")
    await store.delete_many(written)
    await store.delete_many([])


async def test_delete_many_validates_every_key_before_deleting(store: ObjectStore) -> None:
    await store.put("x/1.png", b"1", content_type="image/png")
    with pytest.raises(InvalidKey):
        await store.delete_many(["x/1.png", "../escape"])
    assert await store.exists("x/1.png")


async def test_open_stream_yields_bounded_chunks(store: ObjectStore) -> None:
    data = os.urandom(200_000)
    await store.put("big/blob.bin", data, content_type="application/octet-stream")

    async with await store.open_stream("big/blob.bin", chunk_size=65_536) as stream:
        assert (stream.info.size, stream.info.content_type) == (200_000, "application/octet-stream")
        chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= 65_536

    # Stopping early and closing releases the file or connection; the store still works.
    early = await store.open_stream("big/blob.bin", chunk_size=1000)
    async for chunk in early:
        assert chunk == data[: len(chunk)]
        break
    early.close()
    early.close()
    assert [chunk async for chunk in early] == []
    assert (await store.get("big/blob.bin")).data == data


async def test_ping(store: ObjectStore) -> None:
    await store.ping()


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
def test_validate_key_rejects_hostile_keys(key: str) -> None:
    with pytest.raises(InvalidKey, match="object key"):
        validate_key(key)


def _operations(store: ObjectStore, key: str) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "put": lambda: store.put(key, b"x", content_type="image/png"),
        "get": lambda: store.get(key),
        "head": lambda: store.head(key),
        "exists": lambda: store.exists(key),
        "delete": lambda: store.delete(key),
        "delete_many": lambda: store.delete_many([key]),
        "open_stream": lambda: store.open_stream(key),
        "presigned_url": lambda: store.presigned_url(key),
    }


async def test_every_operation_rejects_hostile_keys(store: ObjectStore) -> None:
    for key in HOSTILE_KEYS:
        for name, operation in _operations(store, key).items():
            try:
                await operation()
            except InvalidKey:
                continue
            pytest.fail(f"{name}({key!r}) did not raise InvalidKey")


def test_reasonable_keys_are_accepted() -> None:
    for key in ("a", "ab/cd/0f.webp", "avatars/u-1_2.JPG", "private/originals/x.png", "a" * 200):
        assert validate_key(key) == key


async def test_header_values_cannot_inject_headers(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="content_type"):
        await store.put("h/1.png", b"x", content_type="image/png\r\nX-Evil: 1")
    with pytest.raises(ValueError, match="cache_control"):
        await store.put("h/1.png", b"x", content_type="image/png", cache_control="a\nb")
    assert not await store.exists("h/1.png")


async def test_private_objects_stay_private(store: ObjectStore) -> None:
    key = "private/originals/ab/cd/abcd.png"
    stored = await store.put(key, b"original", content_type="image/png", private=True)
    assert stored.private
    assert stored.cache_control == PRIVATE_NO_STORE
    assert (await store.get(key)).data == b"original"

    # No public URL may point under the private prefix, whatever the case.
    for private_key in (key, "private", "PRIVATE/originals/ab/cd/abcd.png", "Private/x"):
        with pytest.raises(InvalidKey, match="private"):
            public_key(private_key)
        with pytest.raises(InvalidKey, match="private"):
            await store.presigned_url(private_key)
    assert public_key("public/ab.png") == "public/ab.png"

    # The flag and the prefix must agree, both ways.
    with pytest.raises(InvalidKey, match="private=True"):
        await store.put("private/x.png", b"x", content_type="image/png")
    with pytest.raises(InvalidKey, match="must start with 'private/'"):
        await store.put("public/x.png", b"x", content_type="image/png", private=True)
    assert not await store.exists("public/x.png")


async def test_originals_are_kept_only_when_configured(make_store: StoreFactory) -> None:
    default = await make_store()
    assert await default.put_original(WEBP, content_type="image/webp") is None
    assert not await default.exists(content_key(WEBP, "image/webp", prefix=ORIGINALS_PREFIX))

    keeping = await make_store(keep_originals=True)
    stored = await keeping.put_original(WEBP, content_type="image/webp")
    assert stored is not None
    assert stored.key == content_key(WEBP, "image/webp", prefix=ORIGINALS_PREFIX)
    assert stored.private
    got = await keeping.get(stored.key)
    assert (got.data, got.content_type, got.cache_control) == (
        WEBP,
        "image/webp",
        "private, no-store",
    )


# --- local directory only ---------------------------------------------------------------------


def _files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*")}


async def test_local_store_never_writes_outside_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    store = LocalObjectStore(tmp_path / "root")
    await store.start()
    # Symbolic links planted in the root must not lead anywhere else either.
    (tmp_path / "root" / "objects" / "link").symlink_to(outside)
    (tmp_path / "root" / "objects" / "secret.txt").symlink_to(outside / "secret.txt")
    before = _files(tmp_path)

    for key in [*HOSTILE_KEYS, "link/planted.txt"]:
        with pytest.raises(InvalidKey):
            await store.put(key, b"pwned", content_type="text/plain")
    for read in (store.get, store.head, store.open_stream):
        with pytest.raises(InvalidKey):
            await read("secret.txt")
        with pytest.raises(InvalidKey):
            await read("link/secret.txt")
    with pytest.raises(InvalidKey):
        await store.delete("link/secret.txt")

    assert _files(tmp_path) == before
    assert (outside / "secret.txt").read_text() == "secret"


async def test_local_writes_leave_no_partial_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    await store.start()
    await store.put("a", b"a file", content_type="text/plain")

    # "a/b" needs a directory where the file "a" is: the put fails cleanly.
    with pytest.raises(ObjectStoreError, match="collides"):
        await store.put("a/b", b"b", content_type="text/plain")
    with pytest.raises(ObjectNotFound):
        await store.get("a/b")
    assert (await store.get("a")).data == b"a file"
    assert _files(tmp_path) == {"objects", "objects/a", "meta", "meta/a"}  # no temporary files


async def test_local_layout_is_bytes_plus_a_json_sidecar(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    await store.start()
    await store.put("ab/c.webp", WEBP, content_type="image/webp", cache_control=IMMUTABLE)
    assert (tmp_path / "objects" / "ab" / "c.webp").read_bytes() == WEBP
    assert (
        '"cache_control": "public, max-age=31536000, immutable"'
        in (tmp_path / "meta" / "ab" / "c.webp").read_text()
    )

    # Bytes copied in by hand without a sidecar are still served, generically.
    (tmp_path / "objects" / "ab" / "hand.webp").write_bytes(b"by hand")
    got = await store.get("ab/hand.webp")
    assert (got.data, got.content_type, got.cache_control) == (
        b"by hand",
        "application/octet-stream",
        None,
    )


async def test_local_store_has_no_presigned_urls(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    await store.start()
    assert await store.presigned_url("ab/c.webp") is None


async def test_local_store_without_its_directory_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = LocalObjectStore(tmp_path / "file" / "store", create=False)
    with pytest.raises(ObjectStoreUnavailable):
        await store.start()


# --- S3 only ------------------------------------------------------------------------------------


async def test_s3_key_prefix_and_presigned_url(moto_server: MotoServer) -> None:
    store = s3_store(moto_server, key_prefix="media/")
    raw = s3_store(moto_server, bucket=store.bucket)  # the same bucket, without the prefix
    await store.start()
    await raw.start()
    try:
        await store.put("ab/c.webp", WEBP, content_type="image/webp", cache_control=IMMUTABLE)
        assert await raw.exists("media/ab/c.webp")
        assert not await raw.exists("ab/c.webp")

        url = await store.presigned_url("ab/c.webp", expires_in=60)
        assert url is not None
        assert url.startswith(f"{moto_server.endpoint_url}/{store.bucket}/media/ab/c.webp?")
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert response.content == WEBP
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["cache-control"] == IMMUTABLE

        with pytest.raises(ValueError, match="expires_in"):
            await store.presigned_url("ab/c.webp", expires_in=0)
    finally:
        await store.close()
        await raw.close()


async def test_s3_missing_bucket_is_a_clear_error(moto_server: MotoServer) -> None:
    store = s3_store(moto_server, create_bucket=False)
    await store.start()
    try:
        with pytest.raises(ObjectStoreError, match="does not exist"):
            await store.ping()
        with pytest.raises(ObjectStoreError, match="does not exist") as raised:
            await store.get("a.png")
        assert not isinstance(raised.value, ObjectNotFound)
    finally:
        await store.close()


async def test_s3_creates_its_bucket_outside_us_east_1(moto_server: MotoServer) -> None:
    store = s3_store(moto_server, region="eu-west-1")
    again = s3_store(moto_server, region="eu-west-1", bucket=store.bucket)
    await store.start()
    await again.start()  # the bucket exists already: nothing to do
    try:
        await store.put("a.png", b"png", content_type="image/png")
        assert (await again.get("a.png")).data == b"png"
    finally:
        await store.close()
        await again.close()


async def test_s3_store_must_be_started() -> None:
    store = S3ObjectStore(bucket="b", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="start"):
        await store.get("a.png")


async def _fails_fast(operation: Awaitable[object], limit: float) -> None:
    began = time.monotonic()
    with pytest.raises(ObjectStoreError) as raised:
        await operation
    assert type(raised.value) is ObjectStoreUnavailable, repr(raised.value)
    assert time.monotonic() - began < limit


async def test_s3_outage_raises_unavailable_quickly() -> None:
    server = MotoServer()
    server.start()
    store = s3_store(server, max_attempts=1)
    retrying = s3_store(server, max_attempts=2)
    try:
        await store.start()
        await retrying.start()
        await store.put("before/1.png", b"png", content_type="image/png")
        assert (await store.get("before/1.png")).data == b"png"

        # when the endpoint goes away
        server.stop()
        await _fails_fast(store.put("after/1.png", b"png", content_type="image/png"), 3)
        await _fails_fast(store.get("before/1.png"), 3)
        await _fails_fast(store.head("before/1.png"), 3)
        await _fails_fast(store.exists("before/1.png"), 3)
        await _fails_fast(store.delete("before/1.png"), 3)
        await _fails_fast(store.delete_many(["before/1.png"]), 3)
        await _fails_fast(store.open_stream("before/1.png"), 3)
        await _fails_fast(store.ping(), 3)
        # A retry (after a backoff of at most a second) ends the same way.
        await _fails_fast(retrying.put("after/2.png", b"png", content_type="image/png"), 4)
    finally:
        await store.close()
        await retrying.close()
        server.stop()


async def test_s3_unreachable_at_start() -> None:
    store = S3ObjectStore(
        session=_SESSION,
        bucket="gesso",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        access_key="testing",
        secret_key="testing",
        create_bucket=True,
        connect_timeout=1,
        max_attempts=1,
    )
    await _fails_fast(store.start(), 5)
    await store.close()


async def test_s3_endpoint_that_never_answers_times_out() -> None:
    # A socket that listens but never accepts: connects succeed, requests get no answer.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        store = S3ObjectStore(
            session=_SESSION,
            bucket="gesso",
            endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            access_key="testing",
            secret_key="testing",
            connect_timeout=1,
            read_timeout=0.5,
            max_attempts=1,
        )
        await store.start()
        try:
            await _fails_fast(store.get("a.png"), 3)
            # A readiness check answers in time of its own, whatever the client's timeouts.
            store.ping_timeout = 0.2
            await _fails_fast(store.ping(), 0.45)
        finally:
            await store.close()


def test_keys_shown_in_errors_are_truncated() -> None:
    with pytest.raises(InvalidKey) as raised:
        validate_key("x" * 5000)
    assert len(str(raised.value)) < 200
    assert re.search(r"5000 characters", str(raised.value))


async def test_put_file_stores_a_large_file_in_parts(store: ObjectStore, tmp_path: Path) -> None:
    # a file of two and a half parts (S3: a multipart upload; local: copied in chunks)
    if isinstance(store, S3ObjectStore):
        store.part_size = 5 * 1024 * 1024  # S3's smallest part
    data = os.urandom(12 * 1024 * 1024 + 17)
    path = tmp_path / "archive.zip"
    path.write_bytes(data)
    stored = await store.put_file(
        "private/exports/1/2.zip", path, content_type="application/zip", private=True
    )
    assert (stored.size, stored.cache_control) == (len(data), PRIVATE_NO_STORE)
    got = await store.get("private/exports/1/2.zip")
    assert got.data == data
    assert (got.content_type, got.cache_control) == ("application/zip", PRIVATE_NO_STORE)
    # the checks of put hold: a private file is not written to a public key
    with pytest.raises(InvalidKey):
        await store.put_file("exports/2.zip", path, content_type="application/zip", private=True)
    # a small file is one plain put
    small = tmp_path / "small.zip"
    small.write_bytes(b"PK small")
    await store.put_file("private/s.zip", small, content_type="application/zip", private=True)
    assert (await store.get("private/s.zip")).data == b"PK small"
