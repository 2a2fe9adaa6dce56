"""A big account, seeded fast: posts, artworks and images as the upload job leaves them.

Putting 200 images through the protection pipeline takes minutes; these images take its last
step only, as ``resolvers.jobs._publish`` does it: six small real pictures per image (three
sizes, WebP and JPEG, each different), stored content-addressed under ``m/`` with the same
Content-Type and Cache-Control, the original kept under the private originals prefix when the
store keeps originals, and the ``MediaAsset`` row READY with its variants. A few images are left
PROCESSING with their staged upload in ``private/staging/``, as an upload waiting for its job.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field

from PIL import Image

from resolvers.media import STAGING_PREFIX
from storage.models import (
    Artwork,
    MediaAsset,
    MediaKind,
    MediaStatus,
    Post,
    Visibility,
)
from storage.objects import IMMUTABLE, ObjectStore, content_key

SIZES = (("display", 24), ("medium", 16), ("thumbnail", 8))
FORMATS = (("webp", "WEBP", "image/webp"), ("jpeg", "JPEG", "image/jpeg"))
_counter = itertools.count(1)


def picture(seed: int, side: int, image_format: str) -> bytes:
    """A small real picture, different for every seed."""
    colour = (seed * 37 % 256, seed * 91 % 256, (seed // 256) * 53 % 256)
    image = Image.new("RGB", (side, side), colour)
    image.putpixel((0, 0), (seed % 256, (seed >> 8) % 256, (seed >> 16) % 256))
    out = io.BytesIO()
    image.save(out, format=image_format, quality=90)
    return out.getvalue()


async def publish_image(
    store: ObjectStore,
    owner_id: int,
    *,
    kind: MediaKind,
    artwork_id: int | None = None,
    post_id: int | None = None,
    position: int = 0,
    processing: bool = False,
) -> MediaAsset:
    """One image as a finished protection job publishes it (or, ``processing``, as an upload
    waiting for its job)."""
    seed = next(_counter) * 1009 + owner_id % 1000
    if processing:
        staged = f"{STAGING_PREFIX}{owner_id}/{seed}"
        await store.put(staged, picture(seed, 32, "PNG"), content_type="image/png", private=True)
        return await MediaAsset.create(
            owner_id=owner_id,
            artwork_id=artwork_id,
            post_id=post_id,
            kind=kind,
            position=position,
            watermark_id=seed,
            width=32,
            height=32,
            status=MediaStatus.PROCESSING,
            stage="queued",
            staging_key=staged,
        )
    variants: list[dict[str, object]] = []
    for size, side in SIZES:
        for name, image_format, content_type in FORMATS:
            data = picture(seed, side, image_format)
            key = content_key(data, content_type, prefix="m/")
            await store.put(key, data, content_type=content_type, cache_control=IMMUTABLE)
            variants.append(
                {
                    "size": size,
                    "format": name,
                    "content_type": content_type,
                    "width": side,
                    "height": side,
                    "byte_size": len(data),
                    "key": key,
                }
            )
    kept = await store.put_original(picture(seed, 40, "PNG"), content_type="image/png")
    return await MediaAsset.create(
        owner_id=owner_id,
        artwork_id=artwork_id,
        post_id=post_id,
        kind=kind,
        position=position,
        watermark_id=seed,
        width=24,
        height=24,
        variants=variants,
        original_key=kept.key if kept is not None else None,
        status=MediaStatus.READY,
    )


@dataclass
class Seeded:
    posts: list[int] = field(default_factory=list)
    artworks: list[int] = field(default_factory=list)
    images: list[int] = field(default_factory=list)


async def seed_account(
    store: ObjectStore, owner_id: int, *, posts: int, images: int, artworks: int = 50
) -> Seeded:
    """``posts`` posts of every visibility in turn and ``artworks`` artworks; ``images`` images
    spread over them (artworks first, then posts), one of them the avatar and two still
    PROCESSING."""
    seeded = Seeded()
    visibilities = list(Visibility)
    for n in range(artworks):
        artwork = await Artwork.create(
            owner_id=owner_id, title=f"Work {n}", visibility=visibilities[n % 3], position=n
        )
        seeded.artworks.append(artwork.id)
    for n in range(posts):
        post = await Post.create(
            author_id=owner_id, text=f"post {n} #leaving", visibility=visibilities[n % 3]
        )
        seeded.posts.append(post.id)
    avatar = await publish_image(store, owner_id, kind=MediaKind.AVATAR)
    seeded.images.append(avatar.id)
    for n in range(images - 1):
        on_artwork = n < 2 * len(seeded.artworks)
        row = await publish_image(
            store,
            owner_id,
            kind=MediaKind.ARTWORK if on_artwork else MediaKind.POST,
            artwork_id=seeded.artworks[n // 2] if on_artwork else None,
            post_id=None if on_artwork else seeded.posts[n % len(seeded.posts)],
            processing=n in (5, 150),
        )
        seeded.images.append(row.id)
    return seeded
