"""exportAccount: the archive is built by a real job, announced in the inbox, holds everything of
the account and nothing of others, and downloads once from its signed URL; on SQLite and
PostgreSQL, with the local store and S3 (moto)."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from graphql import ExecutionResult

from resolvers import exports, jobs
from resolvers.context import Context
from schema.root import schema
from storage.jobs import EXPORT as EXPORT_JOB
from storage.jobs import InProcessJobQueue, RedisJobQueue
from storage.models import AccountExport, ExportStatus, MediaAsset, User
from storage.objects import S3ObjectStore
from tests.graphql import GraphQLClient, pk_of
from tests.images import photo
from tests.services import MotoServer, free_port

SECRET = "a-test-secret-that-is-long-enough-0123456789"
EXPORT = """mutation { exportAccount {
  accountExport { id status createdAt expiresAt url } errors { code message } } }"""
VIEWER = """{ viewer { accountExport { status createdAt readyAt expiresAt byteSize url } } }"""
ARTWORK = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id } errors { code } } }"""
POST = (
    """mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }"""
)
EDIT = """mutation($id: ID!, $t: String!) { updatePost(id: $id, text: $t) { errors { code } } }"""
COMMENT = """mutation($s: ID!, $t: String!) { addComment(input: {subjectId: $s, text: $t}) {
  comment { id } errors { code } } }"""
INBOX = "{ notifications(first: 10) { edges { node { kind text } } } }"


@pytest.fixture(params=["local", "s3"])
async def site(request: pytest.FixtureRequest, clean_db: str) -> AsyncIterator[GraphQLClient]:
    """The app (originals kept) with the object store of the parameter; "ada" and "bea"."""
    environ = {"GESSO_SECRET_KEY": SECRET, "GESSO_KEEP_ORIGINALS": "true"}
    if request.param == "s3":
        server: MotoServer = request.getfixturevalue("moto_server")
        environ |= {
            "GESSO_OBJECT_STORE": "s3",
            "S3_BUCKET": f"gesso-export-{uuid.uuid4().hex[:12]}",
            "S3_ENDPOINT_URL": server.endpoint_url,
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_CREATE_BUCKET": "true",
        }
    async with GraphQLClient.for_app(**environ) as client:
        await client.sign_up("ada")
        await client.sign_up("bea")
        yield client


@pytest.fixture
async def plain(clean_db: str) -> AsyncIterator[GraphQLClient]:
    """The app with the local store and no images: for the rules of requesting."""
    async with GraphQLClient.for_app(GESSO_SECRET_KEY=SECRET) as client:
        await client.sign_up("ada")
        yield client


async def _ok(site: GraphQLClient, query: str, variables: dict[str, Any], as_: str) -> Any:
    result = await site.execute(query, variables, as_=as_)
    (payload,) = result.data.values()
    assert payload["errors"] == [], payload
    return payload


async def _world(site: GraphQLClient) -> dict[str, Any]:
    """ada: 2 artworks (one with an image), 3 posts (one with an image, one edited twice, one
    private), comments of her own on her post and on bea's; bea: a comment on ada's post and a
    private post of her own."""
    made = await site.upload(
        ARTWORK,
        {"i": {"title": "Dawn", "tags": ["sky"], "images": [{"file": None, "altText": "red"}]}},
        {"i.images.0.file": ("a.jpg", photo(480, 384, seed=5), "image/jpeg")},
        as_="ada",
    )
    dawn = made.data["createArtwork"]["artwork"]["id"]
    dusk = (await _ok(site, ARTWORK, {"i": {"title": "Dusk"}}, "ada"))["artwork"]["id"]
    with_image = await site.upload(
        POST,
        {"i": {"text": "new work", "artworkIds": [dawn], "images": [{"file": None}]}},
        {"i.images.0.file": ("p.png", photo(320, 256, seed=9, fmt="PNG"), "image/png")},
        as_="ada",
    )
    first = with_image.data["createPost"]["post"]["id"]
    edited = (await _ok(site, POST, {"i": {"text": "tpyo"}}, "ada"))["post"]["id"]
    await _ok(site, EDIT, {"id": edited, "t": "typo"}, "ada")
    await _ok(site, EDIT, {"id": edited, "t": "typo fixed"}, "ada")
    secret = await _ok(site, POST, {"i": {"text": "only me", "visibility": "PRIVATE"}}, "ada")
    beas = (await _ok(site, POST, {"i": {"text": "bea's"}}, "bea"))["post"]["id"]
    await _ok(site, POST, {"i": {"text": "bea private", "visibility": "PRIVATE"}}, "bea")
    mine = [
        (await _ok(site, COMMENT, {"s": first, "t": "thanks all"}, "ada"))["comment"]["id"],
        (await _ok(site, COMMENT, {"s": beas, "t": "lovely"}, "ada"))["comment"]["id"],
    ]
    await _ok(site, COMMENT, {"s": first, "t": "bea was here"}, "bea")
    return {
        "artworks": {pk_of(dawn), pk_of(dusk)},
        "posts": {pk_of(first), pk_of(edited), pk_of(secret["post"]["id"])},
        "edited": pk_of(edited),
        "comments": {pk_of(c) for c in mine},
    }


async def _ready(site: GraphQLClient, as_: str = "ada") -> dict[str, Any]:
    """viewer.accountExport once the job has run (the embedded queue runs it in process)."""
    for _ in range(600):
        export = (await site.execute(VIEWER, as_=as_)).data["viewer"]["accountExport"]
        if export["status"] != "PENDING":
            return dict(export)
        await asyncio.sleep(0.05)
    raise AssertionError("the export was not built within 30 s")


async def _download(site: GraphQLClient, url: str) -> Any:
    return await site.http.get(url)


def _refusal(response: Any) -> tuple[int, str | None]:
    """The status and code of a download's answer (None: it served the archive)."""
    if response.headers["content-type"] != "application/json":
        return response.status_code, None
    return response.status_code, response.json()["code"]


def _altered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


async def test_the_archive_holds_the_accounts_things_and_downloads_once(
    site: GraphQLClient,
) -> None:
    world = await _world(site)
    store = site.services.media.store
    # when ada asks for her archive
    payload = await _ok(site, EXPORT, {}, "ada")
    assert payload["accountExport"]["status"] == "PENDING"
    assert payload["accountExport"]["url"] is None
    export = await _ready(site)
    # then it is built, announced in her inbox, and bea sees nothing of it
    assert export["status"] == "READY", export
    expires = datetime.fromisoformat(export["expiresAt"])
    ready = datetime.fromisoformat(export["readyAt"])
    assert expires - ready == timedelta(hours=24)
    kinds = [e["node"]["kind"] for e in (await site.execute(INBOX, as_="ada")).data[
        "notifications"]["edges"]]  # fmt: skip
    assert "EXPORT_READY" in kinds
    assert (await site.execute(VIEWER, as_="bea")).data["viewer"]["accountExport"] is None
    row = await AccountExport.get()
    assert row.object_key is not None
    assert row.object_key.startswith("private/exports/")
    # and its object is never reachable by a /media URL
    media = await site.http.get(f"/media/{row.object_key}")
    assert media.status_code in (403, 404)
    # when she downloads it
    response = await _download(site, export["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="gesso-ada-{ready.date().isoformat()}.zip"'
    )
    assert int(response.headers["content-length"]) == export["byteSize"] == len(response.content)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    manifest = json.loads(archive.read("manifest.json"))
    assert (manifest["format"], manifest["version"]) == ("gesso-account-export", 1)
    profile = json.loads(archive.read("profile.json"))
    assert (profile["handle"], profile["email"]) == ("ada", "ada@example.com")
    datetime.fromisoformat(profile["createdAt"])
    posts = json.loads(archive.read("posts.json"))
    artworks = json.loads(archive.read("artworks.json"))
    comments = json.loads(archive.read("comments.json"))
    # then every post, artwork and comment of hers is there, and nothing of bea's
    assert {int(p["id"]) for p in posts} == world["posts"]
    assert {int(a["id"]) for a in artworks} == world["artworks"]
    assert {int(c["id"]) for c in comments} == world["comments"]
    assert "bea" not in json.dumps([posts, artworks, comments])
    assert manifest["counts"] == {"posts": 3, "artworks": 2, "comments": 2, "files": 4}
    edited = next(p for p in posts if int(p["id"]) == world["edited"])
    assert edited["text"] == "typo fixed"
    assert [r["text"] for r in edited["revisions"]] == ["tpyo", "typo"]
    for revision in edited["revisions"]:
        datetime.fromisoformat(revision["writtenAt"])
    # and each image is the stored derivative of the largest size, with the kept original
    images = [i for item in posts + artworks for i in item["images"]]
    assert len(images) == 2
    for image in images:
        asset = await MediaAsset.get(id=int(image["id"]))
        largest = max(asset.variants, key=lambda v: int(v["width"]) * int(v["height"]))  # type: ignore[call-overload]
        assert archive.read(image["file"]) == (await store.get(str(largest["key"]))).data
        assert asset.original_key is not None
        assert archive.read(image["original"]) == (await store.get(asset.original_key)).data
        names -= {image["file"], image["original"]}
    assert names == {
        "README.txt", "manifest.json", "profile.json", "posts.json", "artworks.json",
        "comments.json",
    }  # fmt: skip
    # and the object is gone: a second download is refused
    assert not await store.exists(row.object_key)
    again = await _download(site, export["url"])
    assert _refusal(again) == (410, "EXPORT_ALREADY_DOWNLOADED")
    after = (await site.execute(VIEWER, as_="ada")).data["viewer"]["accountExport"]
    assert (after["status"], after["url"]) == ("DOWNLOADED", None)


async def test_an_altered_or_expired_url_is_refused_and_expiry_removes_the_archive(
    site: GraphQLClient,
) -> None:
    await _ok(site, EXPORT, {}, "ada")
    export = await _ready(site)
    url = export["url"]
    row = await AccountExport.get()
    store = site.services.media.store
    assert row.object_key is not None
    # an altered signature, expiry or id, a missing or an added parameter: 403, nothing spent
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    forged = "A" + sig[1:] if sig[0] != "A" else "B" + sig[1:]
    exp = int(parse_qs(urlsplit(url).query)["exp"][0])
    for bad in (
        _altered(url, sig=forged),
        _altered(url, exp=str(exp + 3600)),
        _altered(url, extra="1"),
        urlsplit(url).path + f"?exp={exp}",
        _altered(url).replace(str(row.id), str(row.id + 1)),
    ):
        refused = await _download(site, bad)
        assert _refusal(refused) == (403, "EXPORT_URL_INVALID"), bad
        assert refused.headers["cache-control"] == "private, no-store"
    assert (await AccountExport.get()).status is ExportStatus.READY
    # when the 24 hours are over
    await AccountExport.filter(id=row.id).update(expires_at=datetime.now(UTC) - timedelta(1))
    # then the viewer is offered no URL, and the signed one is refused as expired
    shown = (await site.execute(VIEWER, as_="ada")).data["viewer"]["accountExport"]
    assert shown["url"] is None
    late = await _download(site, url)
    assert _refusal(late) == (410, "EXPORT_EXPIRED")
    # and the archive is removed (lazily here; the periodic prune does it for the others)
    assert not await store.exists(row.object_key)
    gone = await AccountExport.get()
    assert (gone.status, gone.object_key) == (ExportStatus.EXPIRED, None)


async def test_prune_removes_an_expired_archive_nobody_asked_for(site: GraphQLClient) -> None:
    await _ok(site, EXPORT, {}, "ada")
    await _ready(site)
    row = await AccountExport.get()
    assert row.object_key is not None
    store = site.services.media.store
    assert await exports.prune(site.services) == 0
    assert await store.exists(row.object_key)
    await AccountExport.filter(id=row.id).update(expires_at=datetime.now(UTC) - timedelta(1))
    assert await exports.prune(site.services) == 1
    assert not await store.exists(row.object_key)
    assert (await AccountExport.get()).status is ExportStatus.EXPIRED


async def test_delete_exports_of_removes_rows_and_objects(site: GraphQLClient) -> None:
    await _ok(site, EXPORT, {}, "ada")
    await _ok(site, EXPORT, {}, "bea")
    await _ready(site, "ada")
    await _ready(site, "bea")
    ada = await User.get(handle_key="ada")
    rows = {row.user_id: row for row in await AccountExport.all()}
    store = site.services.media.store
    # when ada's account is deleted, its exports go first
    assert await exports.delete_exports_of(site.services, ada.id) == 1
    # then no row and no object of hers is left; bea's export is untouched
    assert await AccountExport.filter(user_id=ada.id).count() == 0
    assert not await store.exists(str(rows[ada.id].object_key))
    assert await store.exists(str(next(r for u, r in rows.items() if u != ada.id).object_key))
    assert await exports.delete_exports_of(site.services, ada.id) == 0  # again: nothing to do


async def test_one_export_at_a_time_and_one_per_day(plain: GraphQLClient) -> None:
    ada = await User.get(handle_key="ada")
    # while one is being prepared, another is refused
    pending = await AccountExport.create(user_id=ada.id)
    result = await plain.execute(EXPORT, as_="ada")
    assert [e["code"] for e in result.data["exportAccount"]["errors"]] == ["EXPORT_IN_PROGRESS"]
    # one that failed does not count
    await AccountExport.filter(id=pending.id).update(status=ExportStatus.FAILED)
    await _ok(plain, EXPORT, {}, "ada")
    await _ready(plain)
    # one was requested less than 24 hours ago: refused, saying when the next one may be
    result = await plain.execute(EXPORT, as_="ada")
    (error,) = result.data["exportAccount"]["errors"]
    assert error["code"] == "EXPORT_TOO_SOON"
    assert "24 hours" in error["message"]
    assert await AccountExport.all().count() == 2
    # a day later, it may be asked again
    await AccountExport.all().update(created_at=datetime.now(UTC) - timedelta(hours=25))
    await _ok(plain, EXPORT, {}, "ada")
    # signed out: refused before anything
    anonymous = await plain.execute(EXPORT)
    assert anonymous.codes == ["UNAUTHENTICATED"]
    assert await AccountExport.all().count() == 3


LIVE = "subscription { notifications { kind text } }"


async def test_the_live_inbox_announces_the_archive(plain: GraphQLClient) -> None:
    viewer = await User.get(handle_key="ada")
    stream = await schema.subscribe(LIVE, context_value=Context(plain.services, viewer))
    assert not isinstance(stream, ExecutionResult), stream
    try:
        pending = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.1)  # subscribed
        # when ada asks for her archive and it is built
        await _ok(plain, EXPORT, {}, "ada")
        # then her live inbox says so
        result = await asyncio.wait_for(pending, timeout=30)
        assert result.errors is None, result.errors
        assert result.data is not None
        event = result.data["notifications"]
        assert event["kind"] == "EXPORT_READY"
        assert "download it once" in event["text"]
    finally:
        await stream.aclose()


@pytest.fixture
async def redis_queue() -> AsyncIterator[RedisJobQueue]:
    prefix = f"test-exports-{uuid.uuid4().hex[:10]}"
    queue = RedisJobQueue("redis://127.0.0.1:6379/13", prefix=prefix, visibility=30)
    try:
        yield queue
    finally:
        async for key in queue.client.scan_iter(f"{prefix}:*"):
            await queue.client.delete(key)
        await queue.close()


async def test_a_worker_takes_the_export_job_from_redis_once(
    plain: GraphQLClient, redis_queue: RedisJobQueue
) -> None:
    media = plain.services.media
    media.queue = redis_queue  # as with REDIS_URL: `gesso worker` runs the jobs
    await _ok(plain, EXPORT, {}, "ada")
    job = await redis_queue.receive("w-0", wait=1)
    assert job is not None
    assert job.kind == EXPORT_JOB
    worker = jobs.Worker(plain.services, jobs.in_thread, consumer="w")
    assert await worker.handle(job, "w-0") == "ready"
    row = await AccountExport.get()
    assert row.status is ExportStatus.READY
    assert row.object_key is not None
    assert await media.store.exists(row.object_key)
    # the same job delivered again changes nothing
    await redis_queue.enqueue(row.id, kind=EXPORT_JOB)
    again = await redis_queue.receive("w-0", wait=1)
    assert again is not None
    assert await worker.handle(again, "w-0") == "skipped"
    assert (await AccountExport.get()).ready_at == row.ready_at


async def test_an_export_the_store_refuses_every_time_fails_and_is_told(
    plain: GraphQLClient,
) -> None:
    media = plain.services.media
    media.queue = InProcessJobQueue(max_attempts=1)
    # a store that cannot be reached
    media.store = S3ObjectStore(
        bucket="nowhere",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key="x",
        secret_key="y",
        connect_timeout=0.5,
        max_attempts=1,
    )
    await media.store.start()
    try:
        await _ok(plain, EXPORT, {}, "ada")
        job = await media.queue.receive("w-0", wait=1)
        assert job is not None
        worker = jobs.Worker(plain.services, jobs.in_thread, consumer="w")
        assert await worker.handle(job, "w-0") == "dead"
    finally:
        await media.store.close()
    row = await AccountExport.get()
    assert (row.status, row.object_key) == (ExportStatus.FAILED, None)
    assert row.error
    shown = (await plain.execute(VIEWER, as_="ada")).data["viewer"]["accountExport"]
    assert (shown["status"], shown["url"]) == ("FAILED", None)
    texts = [e["node"]["text"] for e in (await plain.execute(INBOX, as_="ada")).data[
        "notifications"]["edges"]]  # fmt: skip
    assert texts == ["Your archive could not be prepared; please request it again."]
    # a failed export does not count against the one per day
    await _ok(plain, EXPORT, {}, "ada")


async def test_a_download_cut_short_can_be_taken_again(plain: GraphQLClient) -> None:
    await _ok(plain, EXPORT, {}, "ada")
    export = await _ready(plain)
    parts = urlsplit(export["url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    ident = parts.path.rsplit("/", 1)[1]
    row = await exports.claim_download(plain.services, ident, query)
    # a second download while the first runs is refused
    with pytest.raises(exports.DownloadRefused) as refused:
        await exports.claim_download(plain.services, ident, query)
    assert refused.value.status == 410
    # when the first broke off before its last byte, the claim is given back
    await exports.finish_download(plain.services, row, complete=False)
    assert (await AccountExport.get()).status is ExportStatus.READY
    whole = await _download(plain, export["url"])
    assert whole.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(whole.content)).testzip() is None
