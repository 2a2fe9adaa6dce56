"""Real photographs for the imaging tests and benchmark, and the ways a repost changes a picture.

The pictures are those shipped inside scikit-image (no download), upscaled with Lanczos filtering
so their short side is at least 1024 pixels, as an uploaded photograph would be. The attacks are
what happens to a published file when it is reposted: crops of an edge or of the centre, square and
4:5 crops for a feed, small rotations, a mirror image, rescaling and recompression, and a chain
that imitates printing and scanning.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from skimage import data as samples

from tests.imaging.images import blur, recompress, rescale

Picture = NDArray[np.uint8]
Attack = Callable[[Picture], Picture]

# Photographs and scans of real scenes; the grey ones are given three equal channels.
PICTURES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "motorcycle",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "camera",
    "moon",
    "brick",
    "grass",
)
MIN_SIDE = 1024


@functools.lru_cache(maxsize=4)
def _sample(name: str) -> Picture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "motorcycle":
            image = np.asarray(samples.stereo_motorcycle()[0], dtype=np.uint8)  # type: ignore[no-untyped-call]
        else:
            image = np.asarray(getattr(samples, name)(), dtype=np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    out = np.ascontiguousarray(image[..., :3])
    out.flags.writeable = False
    return out


def picture(name: str, *, min_side: int = MIN_SIDE) -> Picture:
    """One of `PICTURES` as RGB ``uint8``, upscaled (Lanczos) so its short side is ``min_side``.

    A picture already that large is returned at its own size. A new array each call.
    """
    image = _sample(name)
    height, width = image.shape[:2]
    factor = min_side / min(height, width)
    if factor <= 1.0:
        return image.copy()
    size = (round(width * factor), round(height * factor))
    resized = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
    return np.array(resized, dtype=np.uint8)


# --- attacks ----------------------------------------------------------------------------------


def crop_edge(edge: str, fraction: float) -> Attack:
    """Remove ``fraction`` of the axis at one edge (``left``, ``right``, ``top``, ``bottom``)."""

    def apply(image: Picture) -> Picture:
        height, width = image.shape[:2]
        cut_x, cut_y = round(width * fraction), round(height * fraction)
        region = {
            "left": (slice(None), slice(cut_x, None)),
            "right": (slice(None), slice(None, width - cut_x)),
            "top": (slice(cut_y, None), slice(None)),
            "bottom": (slice(None, height - cut_y), slice(None)),
        }[edge]
        return np.ascontiguousarray(image[region])

    return apply


def crop_centre(fraction: float) -> Attack:
    """Keep the centre, removing ``fraction`` of each axis (half on each side)."""

    def apply(image: Picture) -> Picture:
        height, width = image.shape[:2]
        keep_y, keep_x = round(height * (1 - fraction)), round(width * (1 - fraction))
        top, left = (height - keep_y) // 2, (width - keep_x) // 2
        return np.ascontiguousarray(image[top : top + keep_y, left : left + keep_x])

    return apply


def crop_aspect(ratio: float) -> Attack:
    """The largest centred crop of aspect ``ratio`` (width over height), as feeds do."""

    def apply(image: Picture) -> Picture:
        height, width = image.shape[:2]
        if width / height > ratio:
            keep = round(height * ratio)
            left = (width - keep) // 2
            return np.ascontiguousarray(image[:, left : left + keep])
        keep = round(width / ratio)
        top = (height - keep) // 2
        return np.ascontiguousarray(image[top : top + keep])

    return apply


def fit(image: Picture, long_side: int) -> Picture:
    """Resize (Lanczos) so the long side is ``long_side``."""
    height, width = image.shape[:2]
    return rescale(image, long_side / max(height, width))


def rotate(degrees: float, *, crop_border: bool = False) -> Attack:
    """Rotate counter-clockwise (bicubic); the corners are black unless ``crop_border``.

    With ``crop_border`` the largest centred rectangle of the same aspect without a black corner
    is kept.
    """

    def apply(image: Picture) -> Picture:
        height, width = image.shape[:2]
        turned = Image.fromarray(image).rotate(degrees, Image.Resampling.BICUBIC)
        out = np.array(turned, dtype=np.uint8)
        if not crop_border:
            return out
        angle = np.radians(abs(degrees))
        # The inner rectangle of the same aspect: scale s with s*(w cos + h sin) <= w etc.
        scale = min(
            width / (width * np.cos(angle) + height * np.sin(angle)),
            height / (height * np.cos(angle) + width * np.sin(angle)),
        )
        keep_x, keep_y = int(width * scale), int(height * scale)
        left, top = (width - keep_x) // 2, (height - keep_y) // 2
        return np.ascontiguousarray(out[top : top + keep_y, left : left + keep_x])

    return apply


def flip(image: Picture) -> Picture:
    """The mirror image (left and right swapped)."""
    return np.ascontiguousarray(image[:, ::-1])


def noise(image: Picture, sigma: float, *, seed: int = 0) -> Picture:
    """Gaussian noise of ``sigma`` grey levels on each channel, rounded and clipped."""
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.asarray(np.clip(np.rint(noisy), 0, 255), dtype=np.uint8)


def feed_crop(ratio: float) -> Attack:
    """A repost to a feed: crop to ``ratio``, resize to 1080 px on the long side, JPEG q80."""

    def apply(image: Picture) -> Picture:
        return recompress(fit(crop_aspect(ratio)(image), 1080), "JPEG", 80)

    return apply


def print_scan(image: Picture) -> Picture:
    """Like printing and scanning: blur of sigma 1, noise of 3 grey levels, JPEG 85, 0.5 degree."""
    return rotate(0.5)(recompress(noise(blur(image, 1.0), 3.0, seed=1), "JPEG", 85))


def crop_shrink_jpeg(image: Picture) -> Picture:
    """Crop 5% of the left edge, halve, JPEG q75."""
    return recompress(rescale(crop_edge("left", 0.05)(image), 0.5), "JPEG", 75)


# The rows of the robustness table, the rows that passed before first.
ATTACKS: dict[str, Attack] = {
    "JPEG q50": lambda image: recompress(image, "JPEG", 50),
    "WebP q75": lambda image: recompress(image, "WEBP", 75),
    "0.5x resize": lambda image: rescale(image, 0.5),
    "blur sigma 1": blur,
    **{
        f"crop {round(100 * fraction)}% {edge}": crop_edge(edge, fraction)
        for fraction in (0.1, 0.2, 0.3, 0.35)
        for edge in ("left", "right", "top", "bottom")
    },
    **{f"centre crop {round(100 * f)}%": crop_centre(f) for f in (0.1, 0.2, 0.35)},
    "square, 1080 px, JPEG q80": feed_crop(1.0),
    "4:5, 1080 px, JPEG q80": feed_crop(0.8),
    "rotate 1 deg": rotate(1.0),
    "rotate -2 deg": rotate(-2.0),
    "rotate 3 deg": rotate(3.0),
    "rotate -3 deg, border cropped": rotate(-3.0, crop_border=True),
    "flip": flip,
    "crop 5% + 0.5x + JPEG q75": crop_shrink_jpeg,
    "print-scan chain": print_scan,
}
