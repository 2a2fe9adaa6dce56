"""Small array helpers shared by the stages: input checks, luma, resampling, applying a delta.

Every stage works on an RGB ``uint8`` array of shape ``(H, W, 3)``; the perturbations (cloak and
watermark) are achromatic, so they are computed on luma and added equally to R, G and B.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "FloatPlane",
    "RGBImage",
    "apply_luma_delta",
    "as_plane",
    "as_rgb_uint8",
    "fit_long_side",
    "luma",
    "resize_plane",
]

RGBImage = NDArray[np.uint8]
FloatPlane = NDArray[np.float32] | NDArray[np.float64]

# ITU-R BT.601 weights on the gamma-encoded values: the Y' that JPEG and WebP compress.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def as_rgb_uint8(image: NDArray[np.generic], *, name: str = "image") -> RGBImage:
    """Check an RGB image and return it as ``uint8``, never modifying the input.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        ``uint8`` (returned as is, not copied) or floating point in ``[0, 1]`` (the scikit-image
        convention; scaled by 255, rounded and clipped).
    name : str
        Used in error messages.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)

    Raises
    ------
    ValueError
        If the shape is not ``(H, W, 3)`` with ``H, W >= 1`` or the dtype is neither ``uint8`` nor
        floating point.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.uint8, copy=False)
    if np.issubdtype(image.dtype, np.floating):
        scaled = np.rint(np.clip(image, 0.0, 1.0) * 255.0)
        return np.asarray(scaled, dtype=np.uint8)
    raise ValueError(f"{name} must be uint8 or floating point in [0, 1], got dtype {image.dtype}")


def as_plane(plane: NDArray[np.generic], *, name: str = "plane") -> NDArray[np.float64]:
    """Check a single-channel image and return it as ``float64`` (a new array).

    Raises
    ------
    ValueError
        If the shape is not ``(H, W)`` with ``H, W >= 2``.
    """
    if plane.ndim != 2 or plane.shape[0] < 2 or plane.shape[1] < 2:
        raise ValueError(f"{name} must have shape (H, W) with H, W >= 2, got {plane.shape}")
    return np.array(plane, dtype=np.float64)


def luma(image: RGBImage) -> NDArray[np.float32]:
    """BT.601 luma ``Y'`` of an RGB ``uint8`` image, ``float32`` in ``[0, 255]``, shape (H, W)."""
    rgb = as_rgb_uint8(image)
    out = np.multiply(rgb[..., 0], _LUMA_WEIGHTS[0], dtype=np.float32)
    out += rgb[..., 1] * _LUMA_WEIGHTS[1]
    out += rgb[..., 2] * _LUMA_WEIGHTS[2]
    return np.asarray(out, dtype=np.float32)


def fit_long_side(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled so that the longer side is exactly ``long_side`` (at least 1)."""
    width, height = size
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_plane(plane: FloatPlane, size: tuple[int, int]) -> NDArray[np.float32]:
    """Resample a float plane to ``size = (width, height)`` with an antialiased bilinear filter.

    Downscaling averages over the footprint of the output pixel (Pillow widens the filter support
    by the scale factor), so it does not alias; upscaling interpolates linearly and never
    overshoots the input range.
    """
    source = np.ascontiguousarray(plane, dtype=np.float32)
    if (source.shape[1], source.shape[0]) == size:
        return source.copy()
    resized = Image.fromarray(source).resize(size, Image.Resampling.BILINEAR)
    return np.array(resized, dtype=np.float32)


def apply_luma_delta(image: RGBImage, delta: FloatPlane) -> RGBImage:
    """Add an achromatic change to an RGB image: ``round(delta)`` on every channel, clipped.

    Rounding the delta (not each channel) keeps the change free of chroma noise.

    Raises
    ------
    ValueError
        If ``delta`` is not the image's ``(H, W)``.
    """
    rgb = as_rgb_uint8(image)
    if delta.shape != rgb.shape[:2]:
        raise ValueError(f"delta must have shape {rgb.shape[:2]}, got {delta.shape}")
    step = np.rint(delta).astype(np.int16)
    out = rgb.astype(np.int16)
    out += step[..., None]
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)
