"""Synthetic photo-like test images: smooth light, soft-edged shapes, textures and grain.

Seeded and deterministic; cheap enough to make a 12-megapixel image for the benchmark.
"""

from __future__ import annotations

import io

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage


def _pink_noise(rng: np.random.Generator, height: int, width: int) -> NDArray[np.float32]:
    """Noise with a 1/f amplitude spectrum (natural-image-like), unit standard deviation."""
    fy = np.fft.fftfreq(height).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(width).astype(np.float32)[None, :]
    radius = np.sqrt(fy * fy + fx * fx)
    radius[0, 0] = 1.0
    spectrum = scipy.fft.rfft2(rng.standard_normal((height, width), dtype=np.float32))
    spectrum /= radius
    spectrum[0, 0] = 0.0
    noise = scipy.fft.irfft2(spectrum, s=(height, width)).astype(np.float32)
    noise /= max(float(noise.std()), 1e-6)
    return np.asarray(noise, dtype=np.float32)


def _smooth_field(
    rng: np.random.Generator, height: int, width: int, cells: int
) -> NDArray[np.float32]:
    """A smooth random field in [0, 1]: a few random values interpolated bicubically."""
    coarse = rng.uniform(0.0, 1.0, (cells, cells)).astype(np.float32)
    field = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(field, dtype=np.float32), 0.0, 1.0)


def photo_like(height: int, width: int, *, seed: int) -> NDArray[np.uint8]:
    """A photo-like RGB ``uint8`` image of shape ``(height, width, 3)``.

    Smooth colour gradients, a dozen soft-edged ellipses of other colours, 1/f texture in some
    regions (and an oriented texture in one), and a little sensor grain.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= height
    xx /= width
    base = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):
        base[..., channel] = 60.0 + 130.0 * _smooth_field(rng, height, width, 4)
        base[..., channel] += 30.0 * (xx - 0.5) * rng.uniform(-1, 1) + 30.0 * (yy - 0.5)
    scale = min(height, width)
    for _ in range(12):
        cy, cx = rng.uniform(0, 1, 2)
        ry, rx = rng.uniform(0.05, 0.25, 2)
        dist = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
        softness = 1.5 / (scale * min(ry, rx))
        inside = np.clip((1.0 - dist) / softness + 0.5, 0.0, 1.0)[..., None]
        colour = rng.uniform(20, 235, 3).astype(np.float32)
        base = base * (1.0 - 0.85 * inside) + 0.85 * inside * colour
    texture = _pink_noise(rng, height, width) * 14.0
    texture *= 0.2 + _smooth_field(rng, height, width, 3)
    base += texture[..., None]
    stripes = np.sin(2 * np.pi * (xx * np.cos(0.7) + yy * np.sin(0.7)) * scale / 6.0)
    stripes *= _pink_noise(rng, height, width) * 0.5 + 1.0
    region = _smooth_field(rng, height, width, 3) > 0.6
    base += (8.0 * stripes * region)[..., None]
    base += rng.normal(0.0, 1.5, base.shape).astype(np.float32)
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


def encode(pixels: NDArray[np.uint8], image_format: str, **options: object) -> bytes:
    """Encode an array with Pillow (``image_format`` like ``"PNG"``), options passed to save."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format, **options)
    return buffer.getvalue()


def decode(data: bytes) -> NDArray[np.uint8]:
    """Decode bytes with Pillow to an RGB ``uint8`` array."""
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"), dtype=np.uint8)


def recompress(pixels: NDArray[np.uint8], image_format: str, quality: int) -> NDArray[np.uint8]:
    """The pixels after a round trip through a lossy encoder at ``quality``."""
    return decode(encode(pixels, image_format, quality=quality))


def rescale(pixels: NDArray[np.uint8], factor: float) -> NDArray[np.uint8]:
    """The pixels resized by ``factor`` with Lanczos filtering."""
    height, width = pixels.shape[:2]
    size = (round(width * factor), round(height * factor))
    return np.array(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)


def blur(pixels: NDArray[np.uint8], sigma: float = 1.0) -> NDArray[np.uint8]:
    """The pixels after a Gaussian blur of ``sigma`` pixels (each channel, rounded)."""
    blurred = ndimage.gaussian_filter(pixels.astype(np.float64), (sigma, sigma, 0.0))
    return np.asarray(np.clip(np.rint(blurred), 0, 255), dtype=np.uint8)
