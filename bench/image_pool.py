"""A pool of real protected images for the page-view benchmark, made once and kept on disk.

Each picture is generated (a gradient with shapes and paper grain, line art with hatching, or a
crop of one of scikit-image's bundled photographs), 512 to 1024 pixels on its long side, and put
through the real protection pipeline (``resolvers.jobs.protect``: ``imaging.pipeline.protect``
and the dominant colour, as an upload is). Its six derivatives are written into a local object
store (``storage.objects.LocalObjectStore``, the layout the API serves from) under the pool's
directory by the protection job's own publishing step (``resolvers.jobs.write_derivatives``),
and ``pool.json`` lists what a ``media_assets`` row needs: size, colour, variants and the
protection report. Rows of the benchmark share the pool's pictures.

The pipeline takes a few seconds per picture, so a pool is reused while its ``pool.json`` says it
was made with the same version, count and seed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from storage.objects import LocalObjectStore

POOL_VERSION = 1
KINDS = ("shapes", "lines", "photo")
# scikit-image's photographs that ship with the package (no download)
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
ASPECTS = (1.0, 4 / 3, 3 / 4, 3 / 2, 2 / 3, 16 / 9)
WATERMARK_KEY = hashlib.sha256(b"gesso bench pageview watermark").digest()


def default_pool_dir(count: int, seed: int) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "gesso-bench" / f"pageview-pool-v{POOL_VERSION}-{count}-{seed}"


@dataclass(frozen=True, slots=True)
class PoolImage:
    """One protected picture: what its ``media_assets`` rows hold."""

    width: int
    height: int
    dominant_color: str
    variants: list[dict[str, Any]]
    report: dict[str, Any]

    def key(self, size: str, image_format: str = "webp") -> str:
        return next(
            str(v["key"])
            for v in self.variants
            if v["size"] == size and v["format"] == image_format
        )


def picture(index: int, seed: int) -> bytes:
    """The ``index``-th source picture of the pool (PNG bytes), deterministic for ``seed``."""
    rng = np.random.default_rng([seed, index])
    long_side = int(rng.integers(512, 1025))
    aspect = float(rng.choice(ASPECTS))
    width, height = (
        (long_side, round(long_side / aspect))
        if aspect >= 1
        else (round(long_side * aspect), long_side)
    )
    kind = KINDS[index % len(KINDS)]
    if kind == "photo":
        image = _photo_crop(rng, width, height)
    elif kind == "lines":
        image = _line_art(rng, width, height)
    else:
        image = _shapes(rng, width, height)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in rng.integers(0, 256, 3))
    return red, green, blue


def _grain(rng: np.random.Generator, pixels: np.ndarray, amount: float) -> Image.Image:
    noise = rng.normal(0.0, amount, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def _shapes(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, np.pi)
    t = ((x * np.cos(angle) + y * np.sin(angle)) / max(width, height))[..., None] % 1.0
    start, end = np.array(_colour(rng)), np.array(_colour(rng))
    image = Image.fromarray((start * (1 - t) + end * t).astype(np.uint8))
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(int(rng.integers(6, 30))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(8, max(9, min(width, height) // 3)))
        fill = (*_colour(rng), int(rng.integers(90, 256)))
        if rng.random() < 0.5:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            points = [(cx + int(rng.integers(-r, r)), cy + int(rng.integers(-r, r))) for _ in "abc"]
            draw.polygon(points, fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.5))))
    return _grain(rng, np.asarray(image, dtype=np.float64), float(rng.uniform(2, 9)))


def _line_art(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    paper = np.array(_colour(rng)) * 0.2 + 200
    image = Image.new("RGB", (width, height), tuple(int(v) for v in paper))
    draw = ImageDraw.Draw(image)
    ink = tuple(int(v) for v in rng.integers(0, 80, 3))
    for _ in range(int(rng.integers(40, 160))):
        points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(4)]
        draw.line(points, fill=ink, width=int(rng.integers(1, 4)), joint="curve")
    for _ in range(int(rng.integers(2, 6))):  # hatched patches
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size, step = int(rng.integers(40, 200)), int(rng.integers(3, 9))
        for offset in range(0, size, step):
            draw.line((x0 + offset, y0, x0, y0 + offset), fill=ink, width=1)
    return _grain(rng, np.asarray(image, dtype=np.float64), float(rng.uniform(1, 5)))


def _photo_crop(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    import skimage.data

    name = PHOTOS[int(rng.integers(0, len(PHOTOS)))]
    source = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    # a random crop of the picture's shape, scaled to the wanted size
    scale = float(rng.uniform(0.5, 1.0))
    crop_w = min(source.width, round(source.width * scale))
    crop_h = min(source.height, round(crop_w * height / width))
    crop_w = min(crop_w, round(crop_h * width / height))
    left = int(rng.integers(0, source.width - crop_w + 1))
    top = int(rng.integers(0, source.height - crop_h + 1))
    crop = source.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return crop.resize((width, height), Image.Resampling.LANCZOS)


def _protect(index: int, seed: int) -> tuple[int, Any, str] | None:
    """In a worker process: the ``index``-th picture through the real pipeline, or None when
    the pipeline refuses it (as it would refuse the upload)."""
    from imaging.errors import ImagingError
    from resolvers.jobs import ProtectArgs, protect

    artist = f"Pool Artist {index % 16}"
    args = ProtectArgs(
        data=picture(index, seed),
        watermark_id=1 + index,
        artist_key=hashlib.sha256(f"gesso bench pageview artist {index % 16}".encode()).digest(),
        watermark_key=WATERMARK_KEY,
        intensity="default",
        artist_name=artist,
        rights=f"© {artist}. All rights reserved.",
    )
    try:
        image, colour = protect(args, lambda _stage, _fraction: None)
    except ImagingError:
        return None
    return index, image, colour


async def _store(store: LocalObjectStore, image: Any) -> list[dict[str, Any]]:
    """The derivatives written as a protection job writes them (``resolvers.jobs``)."""
    from resolvers.jobs import write_derivatives

    return await write_derivatives(store, image, [])


def load_pool(
    directory: Path,
    count: int,
    seed: int,
    *,
    workers: int = 2,
    say: Callable[[str], None] = print,
) -> list[PoolImage]:
    """The pool in ``directory``: read from its ``pool.json`` when it matches, else made (and
    written) now."""
    manifest = directory / "pool.json"
    wanted = {"version": POOL_VERSION, "count": count, "seed": seed}
    if manifest.exists():
        saved = json.loads(manifest.read_text(encoding="utf-8"))
        if {k: saved.get(k) for k in wanted} == wanted and _complete(directory, saved["images"]):
            return [PoolImage(**entry) for entry in saved["images"]]
    say(f"making the image pool: {count} pictures through the protection pipeline ({directory})")
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    store = LocalObjectStore(directory)
    made: dict[int, PoolImage] = {}
    refused = [0]
    context = multiprocessing.get_context("spawn")

    async def run() -> None:
        await store.start()
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            # pictures the pipeline refuses are replaced by the next ones, up to ``count``
            pending = {loop.run_in_executor(pool, _protect, index, seed) for index in range(count)}
            following, done = count, 0
            while pending:
                finished, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                for job in finished:
                    result = job.result()
                    if result is None:
                        refused[0] += 1
                        if refused[0] > count:
                            raise RuntimeError("the pipeline refused most pictures of the pool")
                        pending.add(loop.run_in_executor(pool, _protect, following, seed))
                        following += 1
                        continue
                    index, image, colour = result
                    made[index] = PoolImage(
                        width=max(d.width for d in image.derivatives),
                        height=max(d.height for d in image.derivatives),
                        dominant_color=colour,
                        variants=await _store(store, image),
                        report=image.report.to_dict(),
                    )
                    done += 1
                    if done % 25 == 0 or done == count:
                        say(f"  {done}/{count} pictures ({time.monotonic() - started:.0f} s)")

    asyncio.run(run())
    images = [made[index] for index in sorted(made)]
    say(f"  the pipeline refused {refused[0]} pictures (replaced by others)")
    body = {**wanted, "images": [_as_dict(image) for image in images]}
    manifest.write_text(json.dumps(body), encoding="utf-8")
    return images


def _as_dict(image: PoolImage) -> dict[str, Any]:
    return {
        "width": image.width,
        "height": image.height,
        "dominant_color": image.dominant_color,
        "variants": image.variants,
        "report": image.report,
    }


def _complete(directory: Path, entries: list[dict[str, Any]]) -> bool:
    return all(
        (directory / "objects" / str(v["key"])).is_file()
        for entry in entries
        for v in entry["variants"]
    )
