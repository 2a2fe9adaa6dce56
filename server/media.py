"""Media: the object store and upload services built from settings, and the /media route."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from imaging.provenance import SigningCredentials
from resolvers.consent import media_policy
from resolvers.services import MediaService
from resolvers.surrogates import ImageRef, NoPurger
from server.byterange import RangeNotSatisfiable, requested_range, sliced
from server.crawlers import ai_crawler
from server.origin import origin_of
from server.secrets import cloak_key, derive, platform_secret, watermark_key
from server.settings import Settings, SettingsError
from server.signals import media_signal_headers, tdm_policy_url
from server.signing import MediaSigner, SignatureError, media_signing_key
from storage.jobs import InProcessJobQueue, JobQueue, RedisJobQueue
from storage.models import TrainingPolicy
from storage.objects import (
    InvalidKey,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreUnavailable,
    ObjectStream,
    S3ObjectStore,
    public_key,
)
from storage.purge import HttpPurger


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
        exports_key=derive(secret, "account-export-url/v1"),
        intensity=settings.cloak_intensity,
        workers=settings.imaging_workers,
        keep_originals=settings.keep_originals,
        c2pa=c2pa_credentials(settings),
        queue=create_job_queue(settings),
        wait=settings.uploads_wait,
    )


def create_job_queue(settings: Settings) -> JobQueue:
    """Redis Streams with GESSO_JOBS=redis (the default with REDIS_URL), else in process."""
    if settings.jobs == "redis" and settings.redis_url:
        return RedisJobQueue(
            settings.redis_url,
            prefix=settings.jobs_prefix,
            visibility=float(settings.job_visibility_seconds),
            max_attempts=settings.job_max_attempts,
        )
    return InProcessJobQueue(max_attempts=settings.job_max_attempts)


def c2pa_credentials(settings: Settings) -> SigningCredentials | None:
    """The C2PA signing certificate (followed by its CA) and key from settings, or None."""
    given = {
        "GESSO_C2PA_CERT": settings.c2pa_certificate,
        "GESSO_C2PA_KEY": settings.c2pa_key,
        "GESSO_C2PA_CA": settings.c2pa_ca,
    }
    if all(path is None for path in given.values()):
        return None
    contents: dict[str, bytes] = {}
    for name, path in given.items():
        if path is None:
            missing = " and ".join(n for n, p in given.items() if p is None)
            raise SettingsError(f"C2PA signing needs {missing} too (see gesso c2pa-init)")
        try:
            contents[name] = path.read_bytes()
        except OSError as error:
            raise SettingsError(f"{name}: cannot read {path}: {error.strerror}") from None
        if b"-----BEGIN " not in contents[name]:
            raise SettingsError(f"{name}: {path} is not a PEM file")
    try:
        import c2pa  # noqa: F401 - only to fail at start, not on the first upload
    except ImportError:
        raise SettingsError(
            "GESSO_C2PA_CERT is set but the c2pa extra is not installed (pip install 'gesso[c2pa]')"
        ) from None
    _check_pair(contents["GESSO_C2PA_CERT"], contents["GESSO_C2PA_KEY"])
    return SigningCredentials(
        certificate_chain=contents["GESSO_C2PA_CERT"].rstrip() + b"\n" + contents["GESSO_C2PA_CA"],
        private_key=contents["GESSO_C2PA_KEY"],
    )


def _check_pair(certificate_pem: bytes, key_pem: bytes) -> None:
    """Fail at start, not on the first upload, if the key or the certificate cannot sign."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as error:
        raise SettingsError(f"GESSO_C2PA_CERT / GESSO_C2PA_KEY unreadable: {error}") from None
    if certificate.public_key() != key.public_key():
        raise SettingsError("GESSO_C2PA_KEY is not the key of the GESSO_C2PA_CERT certificate")
    if certificate.not_valid_after_utc < datetime.now(UTC):
        raise SettingsError(
            f"GESSO_C2PA_CERT expired on {certificate.not_valid_after_utc:%Y-%m-%d}"
        )


def create_signer(settings: Settings) -> MediaSigner:
    return MediaSigner(
        media_signing_key(platform_secret(settings)), ttl_seconds=settings.media_url_ttl_seconds
    )


def media_urls(settings: Settings, signer: MediaSigner) -> Callable[[str, ImageRef], str]:
    """The function making the URL of a stored object: absolute when a media host
    (``GESSO_MEDIA_BASE_URL``, a CDN) or the public origin (``GESSO_PUBLIC_URL``) is set,
    else a path on the API's own origin."""
    base = (settings.media_base_url or settings.public_url or "").rstrip("/")
    if not base:
        return signer.url
    return lambda key, image: base + signer.url(key, image)


def create_purger(settings: Settings, on_outcome: Callable[[str], None]) -> HttpPurger | NoPurger:
    """``GESSO_MEDIA_PURGE_URL``: the cache in front of ``/media/`` to purge by surrogate key;
    without it, nothing caches images but the browsers, and a purge is a no-op."""
    if settings.media_purge_url is None:
        return NoPurger()
    return HttpPurger(settings.media_purge_url, on_outcome)


def media_route(
    store: ObjectStore,
    signer: MediaSigner,
    settings: Settings,
    on_response: Callable[[int], None] = lambda status: None,
) -> Callable[[Request], Awaitable[Response]]:
    """``GET /media/<key>?m=&u=&w=&t=&exp=&sig=``: a public object, if the URL is signed and
    current.

    Every response, refusals included, carries the "do not train" headers unless the image's
    policy allows training. Unsigned, altered or expired URLs get 403 before the store is
    touched, so keys cannot be probed; a known AI crawler gets 403 on reserved images.

    A URL signs the training policy in force when it was made, so what it serves never changes
    while it is valid, and shared caches may keep it until it expires (``Cache-Control: public``,
    with the surrogate keys a purge names: ``xkey``, ``Surrogate-Key`` and ``Cache-Tag``). A
    reserved URL needs no database at all. An ALLOWED one is checked against the policy in force
    now: consent withdrawn counts from the next response (the image is then served as
    reserved), never the other way round.
    """

    origin = origin_of(settings)

    async def serve(request: Request) -> Response:
        response = await answer(request)
        on_response(response.status_code)
        return response

    async def answer(request: Request) -> Response:
        key = request.path_params["key"]
        policy_url = tdm_policy_url(settings, origin(request))
        reserved = media_signal_headers(TrainingPolicy.DISALLOWED, policy_url)
        query = request.query_params
        try:
            if len(query.multi_items()) != len(query):
                raise SignatureError("the media URL repeats a parameter")
            signed = signer.verify(key, dict(query))
        except SignatureError as error:
            return _error(403, "MEDIA_URL_INVALID", str(error), reserved)
        policy = signed.image.policy
        if policy is TrainingPolicy.ALLOWED:
            current = await media_policy(signed.image.asset)
            if current is None:
                return _error(404, "NOT_FOUND", "not found", reserved)
            policy = current
        signals = media_signal_headers(policy, policy_url)
        crawler = ai_crawler(request.headers.get("user-agent"))
        if crawler is not None and settings.block_ai_crawlers and "X-Robots-Tag" in signals:
            return _error(403, "AI_CRAWLER", f"{crawler} may not fetch this image", signals)
        try:
            stream = await store.open_stream(public_key(key))
        except (InvalidKey, ObjectNotFound):
            return _error(404, "NOT_FOUND", "not found", signals)
        except ObjectStoreUnavailable:
            return _error(
                503,
                "STORAGE_UNAVAILABLE",
                "the media store is unavailable",
                {**signals, "Retry-After": "5"},
            )
        info = stream.info
        etag = f'"{info.etag}"' if info.etag and not info.etag.startswith('"') else info.etag
        max_age = max(0, signed.expires - int(signer.clock()))
        keys = signed.image.surrogate_keys()
        headers = {
            **signals,
            "Cache-Control": f"public, max-age={max_age}",
            # the same keys for Varnish's xkey, Fastly (space-separated), Cloudflare (commas)
            "xkey": " ".join(keys),
            "Surrogate-Key": " ".join(keys),
            "Cache-Tag": ",".join(keys),
        }
        if etag:
            headers["ETag"] = etag
        if etag and request.headers.get("if-none-match") == etag:
            stream.close()
            return Response(status_code=304, headers=headers)
        headers |= {"Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff"}
        try:
            wanted = requested_range(
                request.headers.get("range"),
                info.size,
                if_range=request.headers.get("if-range"),
                etag=etag,
            )
        except RangeNotSatisfiable:
            stream.close()
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{info.size}"}
            )
        if wanted is None:
            headers["Content-Length"] = str(info.size)
            return StreamingResponse(stream, media_type=info.content_type, headers=headers)
        headers |= {
            "Content-Length": str(wanted.length),
            "Content-Range": wanted.content_range(info.size),
        }
        return StreamingResponse(
            _closing(sliced(stream, wanted), stream),
            status_code=206,
            media_type=info.content_type,
            headers=headers,
        )

    return serve


async def _closing(chunks: AsyncIterator[bytes], stream: ObjectStream) -> AsyncIterator[bytes]:
    """``chunks`` of ``stream``, releasing the stream when they end early (a range's end)."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        stream.close()


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> Response:
    return JSONResponse(
        {"error": message, "code": code},
        status_code=status,
        headers={**headers, "Cache-Control": "no-store"},
    )
