"""The S3-compatible object store (AWS S3, MinIO, Cloudflare R2) through aioboto3."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from storage.objects.base import ObjectData, ObjectStore, ObjectStream, StoredObject
from storage.objects.keys import (
    ObjectNotFound,
    ObjectStoreError,
    ObjectStoreUnavailable,
    shown_key,
    validate_key,
)

# S3 deletes at most 1000 keys per DeleteObjects request.
_DELETE_BATCH = 1000
# put_file uploads a larger file in parts of this size (S3 takes parts of 5 MiB at least).
PART_SIZE = 8 * 1024 * 1024
_NOT_FOUND_CODES = {"NoSuchKey", "NotFound", "404"}
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}
# Objects above this size are hashed in a thread rather than on the event loop.
HASH_IN_THREAD_BYTES = 256 * 1024


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
        self.part_size = PART_SIZE
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
        # A photo's MD5 is milliseconds of CPU: hashed in a thread (hashlib releases the GIL),
        # so that the event loop goes on serving meanwhile.
        checksum = (
            await asyncio.to_thread(_content_md5, data)
            if len(data) > HASH_IN_THREAD_BYTES
            else _content_md5(data)
        )
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

    async def _put_file(
        self, key: str, path: Path, content_type: str, cache_control: str | None
    ) -> StoredObject:
        size = await asyncio.to_thread(os.path.getsize, path)
        if size <= self.part_size:
            data = await asyncio.to_thread(path.read_bytes)
            return await self._put(key, data, content_type, cache_control)
        extra = {"CacheControl": cache_control} if cache_control is not None else {}
        s3, name = self._s3(), self.key_prefix + key
        with self._translated("storing", key):
            created = await s3.create_multipart_upload(
                Bucket=self.bucket, Key=name, ContentType=content_type, **extra
            )
        upload = created["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            with path.open("rb") as source:
                while chunk := await asyncio.to_thread(source.read, self.part_size):
                    checksum = base64.b64encode(
                        hashlib.md5(chunk, usedforsecurity=False).digest()
                    ).decode()
                    with self._translated("storing", key):
                        answer = await s3.upload_part(
                            Bucket=self.bucket,
                            Key=name,
                            UploadId=upload,
                            PartNumber=len(parts) + 1,
                            Body=chunk,
                            ContentMD5=checksum,
                        )
                    parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
            with self._translated("storing", key):
                response = await s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
            raise
        return StoredObject(key, size, content_type, cache_control, _etag(response))

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
        about = f" {shown_key(key)}" if key is not None else ""
        try:
            yield
        except ClientError as error:
            code, status = _code(error), _status(error)
            if code == "NoSuchBucket" or (key is None and status == 404):
                raise ObjectStoreError(f"{self._where} does not exist") from error
            if key is not None and (code in _NOT_FOUND_CODES or status == 404):
                raise ObjectNotFound(f"no object under {shown_key(key)}") from error
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


def _content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
