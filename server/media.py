"""Media: the object store and upload services built from settings, and the /media route."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from resolvers.media import MediaService
from server.secrets import cloak_key, platform_secret, watermark_key
from server.settings import Settings, SettingsError
from storage.objects import (
    InvalidKey,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreUnavailable,
    S3ObjectStore,
    public_key,
)


def create_store(settings: Settings) -> ObjectStore:
    if settings.object_store == "s3":
        if settings.s3_bucket is None:
            raise SettingsError("S3_BUCKET is required when GESSO_OBJECT_STORE=s3")
        return S3ObjectStore(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key=settings.s3_access_key_id,
            secret_key=settings.s3_secret_access_key,
            key_prefix=settings.s3_key_prefix,
            addressing_style=settings.s3_addressing_style,  # type: ignore[arg-type]
            create_bucket=settings.s3_create_bucket,
            keep_originals=settings.keep_originals,
        )
    return LocalObjectStore(settings.media_dir, keep_originals=settings.keep_originals)


def create_media_service(settings: Settings, store: ObjectStore) -> MediaService:
    secret = platform_secret(settings)
    return MediaService(
        store=store,
        watermark_key=watermark_key(secret),
        cloak_keys=functools.partial(cloak_key, secret),
        intensity=settings.cloak_intensity,
        workers=settings.imaging_workers,
        keep_originals=settings.keep_originals,
    )


def media_route(store: ObjectStore) -> Callable[[Request], Awaitable[Response]]:
    """``GET /media/<key>``: a public object with its stored Content-Type, Cache-Control and ETag.

    Private keys and unknown keys are 404 alike.
    """

    async def serve(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            stream = await store.open_stream(public_key(key))
        except (InvalidKey, ObjectNotFound):
            return JSONResponse({"error": "not found"}, status_code=404)
        except ObjectStoreUnavailable:
            return JSONResponse(
                {"error": "the media store is unavailable"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        info = stream.info
        etag = f'"{info.etag}"' if info.etag and not info.etag.startswith('"') else info.etag
        if etag and request.headers.get("if-none-match") == etag:
            stream.close()
            return Response(status_code=304, headers={"ETag": etag})
        headers = {"Content-Length": str(info.size), "X-Content-Type-Options": "nosniff"}
        if info.cache_control:
            headers["Cache-Control"] = info.cache_control
        if etag:
            headers["ETag"] = etag
        return StreamingResponse(stream, media_type=info.content_type, headers=headers)

    return serve
