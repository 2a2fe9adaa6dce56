"""``GET /account-exports/<id>?exp=&sig=``: an account's archive, once (``resolvers.exports``).

The signed URL alone is the permission (a browser follows it without the API's token): a URL not
signed as it is gets 403, an archive downloaded already or expired 410. The archive streams from
the store in chunks as an attachment; once its last byte is sent its object is deleted, and a
download that broke off leaves the archive downloadable until it expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from resolvers import exports
from resolvers.services import Services
from storage.models import AccountExport, User
from storage.objects import ObjectNotFound, ObjectStoreError, ObjectStream

NO_STORE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


def export_route(services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        query = request.query_params
        try:
            if len(query.multi_items()) != len(query):
                raise exports.DownloadRefused(
                    403, "EXPORT_URL_INVALID", "the download URL repeats a parameter"
                )
            row = await exports.claim_download(services, request.path_params["id"], dict(query))
        except exports.DownloadRefused as refused:
            return _error(refused.status, refused.code, refused.message)
        assert services.media is not None
        assert row.object_key is not None
        try:
            stream = await services.media.store.open_stream(row.object_key)
        except ObjectNotFound:
            return _error(410, "EXPORT_EXPIRED", "this export is gone; request a new one")
        except ObjectStoreError:
            await exports.finish_download(services, row, complete=False)
            return _error(503, "STORAGE_UNAVAILABLE", "the store is unavailable; try again")
        handle = await User.filter(id=row.user_id).first().values_list("handle", flat=True)
        name = exports.file_name(str(handle or "account"), row)
        headers = {
            **NO_STORE,
            "Content-Length": str(stream.info.size),
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        }
        return StreamingResponse(
            _once(services, row, stream), media_type="application/zip", headers=headers
        )

    return serve


async def _once(
    services: Services, row: AccountExport, stream: ObjectStream
) -> AsyncIterator[bytes]:
    """The archive's chunks; then its object goes, or, cut short, its claim is given back."""
    sent = 0
    try:
        async for chunk in stream:
            sent += len(chunk)
            yield chunk
    finally:
        stream.close()
        complete = sent == stream.info.size
        await asyncio.shield(exports.finish_download(services, row, complete=complete))


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=NO_STORE)
