"""What one account export costs: time, CPU and peak memory of ``resolvers.exports.run_export``.

An account with ``--posts`` posts (every tenth edited twice, each with a comment of its own) and
``--images`` images (half on artworks, half on posts), each with a stored display derivative of
``--derivative-kb`` and a kept original of ``--original-kb`` (incompressible bytes: what JPEG and
WebP files are to zip). The export runs the job's code as a worker runs it, against SQLite (or
``--database``) and a local store in a temporary directory: once timed, once under tracemalloc.

    python -m bench.export --posts 100 --images 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from resolvers import exports
from resolvers.services import MediaService, Services
from storage import db
from storage.models import (
    AccountExport,
    Artwork,
    Comment,
    ExportStatus,
    MediaAsset,
    MediaKind,
    Post,
    PostRevision,
    User,
)
from storage.objects import LocalObjectStore, content_key, original_key


async def seed(
    store: LocalObjectStore, posts: int, images: int, derivative: int, original: int
) -> User:
    user = await User.create(
        handle="exporter", handle_key="exporter", email="e@example.com",
        email_key="e@example.com", password_hash="-",  # noqa: S106 (never signs in)
    )  # fmt: skip
    post_rows = [await Post.create(author_id=user.id, text=f"post {n} " * 20) for n in range(posts)]
    for n, post in enumerate(post_rows):
        await Comment.create(author_id=user.id, post_id=post.id, text=f"note {n}")
        if n % 10 == 0:
            for text in ("first", "second"):
                await PostRevision.create(post_id=post.id, text=text, written_at=post.created_at)
    for n in range(images):
        display = os.urandom(derivative)
        upload = os.urandom(original)
        key = content_key(display, "image/webp", prefix="m/")
        kept = original_key(upload, "image/jpeg")
        await store.put(key, display, content_type="image/webp")
        await store.put(kept, upload, content_type="image/jpeg", private=True)
        on_post = n % 2 == 1
        artwork = None if on_post else await Artwork.create(owner_id=user.id, title=f"work {n}")
        await MediaAsset.create(
            owner_id=user.id,
            artwork_id=None if artwork is None else artwork.id,
            post_id=post_rows[n % len(post_rows)].id if on_post else None,
            kind=MediaKind.POST if on_post else MediaKind.ARTWORK,
            watermark_id=n + 1,
            width=2048,
            height=1536,
            variants=[variant(key, derivative)],
            original_key=kept,
        )
    return user


def variant(key: str, size: int) -> dict[str, object]:
    return {
        "size": "display",
        "format": "webp",
        "content_type": "image/webp",
        "width": 2048,
        "height": 1536,
        "byte_size": size,
        "key": key,
    }


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gesso-bench-export-") as folder:
        url = args.database or f"sqlite://{Path(folder) / 'bench.sqlite3'}"
        await db.migrate(url)
        await db.connect(url)
        store = LocalObjectStore(Path(folder) / "media", keep_originals=True)
        await store.start()
        media = MediaService(
            store=store, watermark_key=b"w" * 32, cloak_keys=lambda _: b"c" * 32,
            exports_key=b"e" * 32,
        )  # fmt: skip
        services = Services(token_ttl_seconds=3600, media=media)
        try:
            user = await seed(
                store, args.posts, args.images, args.derivative_kb * 1024, args.original_kb * 1024
            )
            images_mib = args.images * (args.derivative_kb + args.original_kb) / 1024
            rows = []
            for traced in (False, True):
                row = await AccountExport.create(user_id=user.id)
                rows.append(row)
                before_rss = max_rss_mib()
                if traced:
                    tracemalloc.start()
                wall, cpu = time.perf_counter(), time.process_time()
                outcome = await exports.run_export(services, row.id)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                peak = 0
                if traced:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                done = await AccountExport.get(id=row.id)
                assert outcome == "ready", outcome
                assert done.status is ExportStatus.READY
                size = (done.byte_size or 0) / 1024 / 1024
                label = "under tracemalloc" if traced else "timed"
                print(
                    f"{label}: {args.posts} posts, {args.images} images ({images_mib:.0f} MiB of"
                    f" image files) -> archive {size:.1f} MiB; wall {wall:.2f} s, process CPU"
                    f" {cpu:.2f} s; max RSS {before_rss:.0f} -> {max_rss_mib():.0f} MiB"
                    + (f"; Python peak allocations {peak / 1024 / 1024:.1f} MiB" if traced else "")
                )
        finally:
            await store.close()
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--derivative-kb", type=int, default=700)
    parser.add_argument("--original-kb", type=int, default=3000)
    parser.add_argument("--database", default=None, help="a database URL (default: SQLite)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
