"""Protected uploads through the API: multipart requests, the pipeline, the store, identify."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resolvers import media
from resolvers.surrogates import ImageRef
from storage.models import Artwork, MediaAsset, Post, TrainingPolicy
from storage.objects import LocalObjectStore
from tests.graphql import GraphQLClient
from tests.images import photo

CREATE = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id title images { id width height altText dominantColor
    variants { size format contentType width height url }
    url(size: MEDIUM, format: JPEG)
    protection { psnrDb ssim ciede2000Mean cloakEffect intensity
                 derivatives { name watermarkVerified watermarkRequired } } } }
  errors { field code message } } }"""
IDENTIFY = """mutation($f: Upload!) { identifyImage(file: $f) {
  found artist { handle } artwork { title } image { id } errors { field code } } }"""


@pytest.fixture
async def uploads(clean_db: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient.for_app() as client:
        await client.sign_up("painter")
        yield client


def _image_input(alt: str = "") -> dict[str, object]:
    return {"file": None, "altText": alt}


async def _create(gql: GraphQLClient, data: bytes, title: str = "Dunes") -> dict[str, object]:
    result = await gql.upload(
        CREATE,
        {"i": {"title": title, "images": [_image_input("sand at dusk")]}},
        {"i.images.0.file": ("dunes.jpg", data, "image/jpeg")},
        as_="painter",
    )
    payload: dict[str, object] = result.data["createArtwork"]
    return payload


async def test_an_uploaded_image_is_published_only_protected(uploads: GraphQLClient) -> None:
    # when an artist creates an artwork with an image
    payload = await _create(uploads, photo())
    assert payload["errors"] == []
    artwork = payload["artwork"]
    assert isinstance(artwork, dict)
    (image,) = artwork["images"]
    # then six derivatives exist (three sizes, WebP and JPEG), and the report is in the API
    assert sorted((v["size"], v["format"]) for v in image["variants"]) == [
        (size, fmt) for size in ("DISPLAY", "MEDIUM", "THUMBNAIL") for fmt in ("JPEG", "WEBP")
    ]
    assert (image["width"], image["height"], image["altText"]) == (640, 512, "sand at dusk")
    assert len(image["dominantColor"]) == 7
    report = image["protection"]
    assert report["psnrDb"] >= 40
    assert report["ssim"] >= 0.95
    assert report["ciede2000Mean"] <= 0.6
    assert report["intensity"] == "default"
    assert all(d["watermarkVerified"] for d in report["derivatives"] if d["watermarkRequired"])
    # and each variant is served with its type, cached privately until its signed URL expires
    for variant in image["variants"]:
        response = await uploads.http.get(variant["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == variant["contentType"]
        scope, max_age = response.headers["cache-control"].split(", max-age=")
        assert scope == "public"
        assert 3600 <= int(max_age) <= 3600 + 300
        assert response.headers["etag"]
    # and nobody can fetch the original: it was not stored at all
    row = await MediaAsset.get(
        artwork_id=await Artwork.get(title="Dunes").values_list("id", flat=True)
    )
    assert row.original_key is None


async def test_identify_finds_the_artist_of_a_copy(uploads: GraphQLClient) -> None:
    payload = await _create(uploads, photo(seed=5), title="Harbour")
    artwork = payload["artwork"]
    assert isinstance(artwork, dict)
    copy_url = artwork["images"][0]["url"]
    copy = (await uploads.http.get(copy_url)).content  # e.g. a scraped medium JPEG
    found = await uploads.upload(IDENTIFY, {"f": None}, {"f": ("copy.jpg", copy, "image/jpeg")})
    assert found.data["identifyImage"] == {
        "found": True,
        "artist": {"handle": "painter"},
        "artwork": {"title": "Harbour"},
        "image": {"id": artwork["images"][0]["id"]},
        "errors": [],
    }
    stranger = await uploads.upload(
        IDENTIFY, {"f": None}, {"f": ("x.jpg", photo(seed=9), "image/jpeg")}
    )
    assert stranger.data["identifyImage"]["found"] is False


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "IMAGE_INVALID"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "IMAGE_UNSUPPORTED"),
    ],
    ids=["empty", "svg"],
)
async def test_a_refused_image_changes_nothing(
    uploads: GraphQLClient, data: bytes, code: str
) -> None:
    payload = await _create(uploads, data)
    assert payload["artwork"] is None
    errors = payload["errors"]
    assert isinstance(errors, list)
    assert [(e["field"], e["code"]) for e in errors] == [("images", code)]
    assert await Artwork.all().count() == 0
    assert await MediaAsset.all().count() == 0


async def test_pixel_data_that_does_not_decode_is_refused_by_its_job(
    uploads: GraphQLClient,
) -> None:
    # given a JPEG whose header is sound and whose pixel data is cut short
    result = await uploads.upload(
        CREATE,
        {"i": {"title": "Cut", "images": [{"file": None, "uploadId": "a-1"}]}},
        {"i.images.0.file": ("cut.jpg", photo()[:2000], "image/jpeg")},
        as_="painter",
    )
    payload = result.data["createArtwork"]
    # then the artwork exists without the image, which was refused, typed, and nothing of it kept
    assert payload["errors"] == []
    assert payload["artwork"]["images"] == []
    row = await MediaAsset.get()
    assert (row.status, row.refusal_code, row.staging_key) == ("refused", "IMAGE_INVALID", None)
    state = await uploads.execute(
        "query($id: ID!) { uploadProgress(id: $id) { stage done code error } }",
        {"id": "a-1"},
        as_="painter",
    )
    progress = state.data["uploadProgress"]
    assert (progress["stage"], progress["done"], progress["code"]) == (
        "refused",
        True,
        "IMAGE_INVALID",
    )
    assert "cannot decode" in progress["error"]
    assert _files(Path(uploads.services.media.store.root)) == []
    # and the painter's inbox keeps the refusal, naming the artwork it was for
    inbox = await uploads.execute(
        "{ notifications { nodes { kind text actor { handle } artwork { title } } } }",
        {},
        as_="painter",
    )
    (told,) = inbox.data["notifications"]["nodes"]
    assert (told["kind"], told["actor"], told["artwork"]) == ("NOTICE", None, {"title": "Cut"})
    assert told["text"].startswith("An image you uploaded was refused (IMAGE_INVALID): ")


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_multipart_without_the_preflight_header_is_refused(uploads: GraphQLClient) -> None:
    result = await uploads.upload(
        IDENTIFY, {"f": None}, {"f": ("x.jpg", photo(), "image/jpeg")}, preflight=False
    )
    assert result.status == 400
    assert result.codes == ["CSRF_PREFLIGHT_REQUIRED"]


async def test_files_over_the_cap_are_refused_unread(clean_db: str) -> None:
    async with GraphQLClient.for_app(GESSO_UPLOAD_MAX_BYTES="4096") as gql:
        await gql.sign_up("painter")
        payload = await _create(gql, photo())
    assert payload["errors"] == [
        {"field": "images", "code": "IMAGE_TOO_LARGE", "message": "the file is larger than 0 MiB"}
    ]


async def test_deleting_removes_the_files(uploads: GraphQLClient) -> None:
    payload = await _create(uploads, photo(seed=7))
    artwork = payload["artwork"]
    assert isinstance(artwork, dict)
    urls = [v["url"] for v in artwork["images"][0]["variants"]]
    removed = await uploads.execute(
        "mutation($a: ID!) { deleteArtwork(id: $a) { deletedId errors { code } } }",
        {"a": artwork["id"]},
        as_="painter",
    )
    assert removed.data["deleteArtwork"]["errors"] == []
    for url in urls:
        assert (await uploads.http.get(url)).status_code == 404
    assert await MediaAsset.all().count() == 0


async def test_posts_and_avatars_take_images_too(uploads: GraphQLClient) -> None:
    posted = await uploads.upload(
        "mutation($i: CreatePostInput!) { createPost(input: $i) {"
        " post { text images { altText url } } errors { code } } }",
        {"i": {"text": "sketch", "images": [_image_input("pencil")]}},
        {"i.images.0.file": ("s.png", photo(seed=11, fmt="PNG"), "image/png")},
        as_="painter",
    )
    post = posted.data["createPost"]["post"]
    assert post["text"] == "sketch"
    assert [i["altText"] for i in post["images"]] == ["pencil"]
    assert await Post.all().count() == 1
    avatar = await uploads.upload(
        "mutation($i: ImageInput!) { setAvatar(image: $i) {"
        " user { avatar { width url(size: THUMBNAIL) } } errors { code } } }",
        {"i": _image_input()},
        {"i.file": ("me.webp", photo(seed=12, fmt="WEBP"), "image/webp")},
        as_="painter",
    )
    assert avatar.data["setAvatar"]["errors"] == []
    assert avatar.data["setAvatar"]["user"]["avatar"]["width"] == 640


async def test_a_failing_transaction_leaves_no_files(
    uploads: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an image already stored
    first = await _create(uploads, photo(seed=21), title="First")
    assert first["errors"] == []
    taken = int((await MediaAsset.get()).watermark_id)

    # when the next upload's rows cannot be written (its watermark id is taken: a real
    # uniqueness violation in the database)
    async def same_id() -> int:
        return taken

    monkeypatch.setattr(media, "_unused_watermark_id", same_id)
    store = uploads.services.media.store
    before = await _object_count(store)
    with pytest.raises(AssertionError):
        await _create(uploads, photo(seed=22), title="Second")
    # then no artwork, no image row and no new object remain
    assert await Artwork.filter(title="Second").count() == 0
    assert await MediaAsset.all().count() == 1
    assert await _object_count(store) == before


async def _object_count(store: LocalObjectStore) -> int:
    return sum(1 for path in (store.root / "objects").rglob("*") if path.is_file())


async def test_kept_originals_are_never_served(clean_db: str) -> None:
    async with GraphQLClient.for_app(GESSO_KEEP_ORIGINALS="true") as gql:
        await gql.sign_up("painter")
        payload = await _create(gql, photo(seed=31))
        assert payload["errors"] == []
        row = await MediaAsset.get()
        assert row.original_key is not None
        assert row.original_key.startswith("private/originals/")
        # the bytes are kept ...
        kept = await gql.services.media.store.get(row.original_key)
        assert kept.data == photo(seed=31)
        # ... and no URL reaches them, whatever the letter case, even one signed for them
        image = ImageRef.of(row, TrainingPolicy.DISALLOWED)
        for key in (row.original_key, row.original_key.upper(), "private/"):
            assert (await gql.http.get(gql.services.media_url(key, image))).status_code == 404
