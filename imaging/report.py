"""The quality report: what protection did to an image, in numbers stored with the asset.

Fidelity (protected against ingested pixels, full resolution): PSNR over R, G and B; SSIM on
luma (the cloak and the watermark change luma only, and SSIM was defined on luminance); mean and
99th-percentile CIEDE2000 colour difference on CIELAB. Effect: the cloak effect (how much the
surrogate style distance to the artist's target shrinks) and, per published file, the watermark
bits read back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from imaging.planes import RGBImage, as_rgb_uint8, luma

__all__ = [
    "CIEDE2000_SAMPLES",
    "DerivativeCheck",
    "Fidelity",
    "ProtectionReport",
    "ciede2000",
    "fidelity",
    "pixel_differences",
    "psnr",
    "sample_index",
    "ssim",
]

CIEDE2000_SAMPLES = 1_000_000
SSIM_SAMPLES = 1_000_000
_SSIM_TILE = 64


@dataclass(frozen=True, slots=True)
class Fidelity:
    """How close the protected image is to the ingested one.

    Attributes
    ----------
    psnr_db : float
        Peak signal-to-noise ratio over all channels, in dB (``inf`` when identical).
    ssim : float
        Mean structural similarity of the luma planes (7 x 7 window, data range 255).
    ssim_pixels : int
        How many pixels SSIM was computed on (all, or fixed-seed 64 x 64 tiles covering about
        `SSIM_SAMPLES` pixels on larger images).
    ciede2000_mean, ciede2000_p99 : float
        Mean and 99th percentile of the CIEDE2000 colour difference.
    ciede2000_pixels : int
        How many pixels the colour difference was computed on (all, or a fixed-seed sample of
        `CIEDE2000_SAMPLES` on larger images).
    """

    psnr_db: float
    ssim: float
    ssim_pixels: int
    ciede2000_mean: float
    ciede2000_p99: float
    ciede2000_pixels: int


@dataclass(frozen=True, slots=True)
class DerivativeCheck:
    """The checks of one published file (``name`` like ``"display.webp"``)."""

    name: str
    width: int
    height: int
    byte_size: int
    watermark_bits: int
    watermark_verified: bool
    watermark_required: bool
    cloak_effect: float


@dataclass(frozen=True, slots=True)
class ProtectionReport:
    """Everything measured while protecting one image; `to_dict` gives a JSON-able dict.

    Attributes
    ----------
    fidelity : Fidelity
    cloak_effect : float
        Relative shrink of the style distance to the target by the cloak stage alone.
    cloak_distance : tuple of float
        Style distance of the working plane to the target, before and after the cloak.
    intensity : str
    watermark_strength : float
        1.0, or more when a derivative needed a stronger mark to verify.
    watermark_payload_bits : int
        64.
    derivatives : tuple of DerivativeCheck
    timings : dict of str to float
        Seconds per stage.
    """

    fidelity: Fidelity
    cloak_effect: float
    cloak_distance: tuple[float, float]
    intensity: str
    watermark_strength: float
    watermark_payload_bits: int
    derivatives: tuple[DerivativeCheck, ...]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of str, int, float, bool, list and dict only (``inf`` PSNR becomes None)."""
        out = asdict(self)
        out["cloak_distance"] = list(self.cloak_distance)
        out["derivatives"] = [asdict(check) for check in self.derivatives]
        if not np.isfinite(self.fidelity.psnr_db):
            out["fidelity"]["psnr_db"] = None
        return out


def _check_pair(
    original: NDArray[np.generic], protected: NDArray[np.generic]
) -> tuple[RGBImage, RGBImage]:
    first = as_rgb_uint8(original, name="original")
    second = as_rgb_uint8(protected, name="protected")
    if first.shape != second.shape:
        raise ValueError(f"images must have the same shape, got {first.shape} and {second.shape}")
    return first, second


def sample_index(pixels: int, max_pixels: int, *, seed: int = 0) -> NDArray[np.intp] | None:
    """``max_pixels`` pixel indices drawn uniformly from ``pixels`` (with replacement, fixed
    ``seed``), or None when there are no more pixels than that (measure them all)."""
    if pixels <= max_pixels:
        return None
    return np.random.default_rng(seed).integers(0, pixels, size=max_pixels)


def pixel_differences(first: NDArray[np.uint8], second: NDArray[np.uint8]) -> NDArray[np.float32]:
    """CIEDE2000 between two lists of RGB ``uint8`` pixels of shape (N, 3), one value each."""
    # float32 halves the time of the colour maths; the error is far below 0.001 units.
    lab_a = rgb2lab(first.astype(np.float32) / np.float32(255.0))
    lab_b = rgb2lab(second.astype(np.float32) / np.float32(255.0))
    # scikit-image ships no annotations for this function.
    return np.asarray(deltaE_ciede2000(lab_a, lab_b))  # type: ignore[no-untyped-call]


def ciede2000(
    original: NDArray[np.generic],
    protected: NDArray[np.generic],
    *,
    max_pixels: int = CIEDE2000_SAMPLES,
    seed: int = 0,
) -> tuple[float, float, int]:
    """Mean and 99th percentile of CIEDE2000 between two RGB images, and the pixel count used.

    Images with more than ``max_pixels`` pixels are measured on that many pixels drawn
    uniformly at random (with replacement, fixed ``seed``, so reproducible); with a million
    samples the standard error of the mean is far below the third decimal.

    References
    ----------
    .. [1] G. Sharma, W. Wu and E. N. Dalal, "The CIEDE2000 color-difference formula:
           Implementation notes, supplementary test data, and mathematical observations,"
           Color Research & Application, vol. 30, no. 1, pp. 21-30, 2005.
    """
    first, second = _check_pair(original, protected)
    flat_a = first.reshape(-1, 3)
    flat_b = second.reshape(-1, 3)
    index = sample_index(flat_a.shape[0], max_pixels, seed=seed)
    if index is not None:
        flat_a, flat_b = flat_a[index], flat_b[index]
    difference = pixel_differences(flat_a, flat_b)
    return float(difference.mean()), float(np.percentile(difference, 99.0)), int(flat_a.shape[0])


def psnr(original: NDArray[np.generic], protected: NDArray[np.generic]) -> float:
    """Peak signal-to-noise ratio in dB for data range 255 (``inf`` for identical images).

    The same number as ``skimage.metrics.peak_signal_noise_ratio``, computed in integer row
    blocks so that a 12-megapixel image does not need float64 copies of both inputs.
    """
    first, second = _check_pair(original, protected)
    total = 0
    for start in range(0, first.shape[0], 256):
        rows = slice(start, start + 256)
        diff = first[rows].astype(np.int32) - second[rows]
        total += int(np.einsum("ijk,ijk->", diff, diff))
    if total == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 * first.size / total))


def ssim(
    original: NDArray[np.generic],
    protected: NDArray[np.generic],
    *,
    max_pixels: int = SSIM_SAMPLES,
    seed: int = 0,
) -> tuple[float, int]:
    """Mean SSIM of the luma planes, and the number of pixels it was computed on.

    Up to ``max_pixels`` pixels the whole image is used. Larger images are measured on 64 x 64
    tiles drawn at random (fixed ``seed``) from the tile grid until they cover ``max_pixels``:
    SSIM is the mean of a local map, so the tiles' mean estimates it without bias, at a
    fraction of the time and memory (12 megapixels in float take over a second and several
    hundred megabytes).

    Raises
    ------
    ValueError
        If the images are not ``(H, W, 3)`` of the same shape, or smaller than 7 x 7.

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment:
           from error visibility to structural similarity," IEEE Trans. Image Process., vol. 13,
           no. 4, pp. 600-612, 2004.
    """
    first, second = _check_pair(original, protected)
    height, width = first.shape[:2]
    if min(height, width) < 7:
        raise ValueError(f"images must be at least 7 x 7 for SSIM, got {first.shape}")
    if height * width <= max_pixels:
        return _ssim(luma(first), luma(second), channel_axis=None), height * width
    side = _SSIM_TILE
    rows, cols = height // side, width // side
    count = min(rows * cols, max(1, max_pixels // side**2))
    cells = np.random.default_rng(seed).choice(rows * cols, size=count, replace=False)
    ys = (cells // cols)[:, None] * side + np.arange(side)
    xs = (cells % cols)[:, None] * side + np.arange(side)
    tiles = [
        luma(image[ys[:, :, None], xs[:, None, :]].reshape(count * side, side, 3)).reshape(
            count, side, side
        )
        for image in (first, second)
    ]
    return _ssim(tiles[0], tiles[1], channel_axis=0), count * side * side


def _ssim(
    first: NDArray[np.float32], second: NDArray[np.float32], *, channel_axis: int | None
) -> float:
    # scikit-image ships no annotations for this function.
    value = structural_similarity(  # type: ignore[no-untyped-call]
        first, second, data_range=255.0, channel_axis=channel_axis
    )
    return float(value)


def fidelity(original: NDArray[np.generic], protected: NDArray[np.generic]) -> Fidelity:
    """`psnr`, `ssim` (luma) and `ciede2000` of ``protected`` against ``original``.

    Raises
    ------
    ValueError
        If the images are not ``(H, W, 3)`` of the same shape, or smaller than 7 x 7 (SSIM's
        window).
    """
    first, second = _check_pair(original, protected)
    similarity, ssim_pixels = ssim(first, second)
    mean, p99, pixels = ciede2000(first, second)
    return Fidelity(
        psnr_db=psnr(first, second),
        ssim=similarity,
        ssim_pixels=ssim_pixels,
        ciede2000_mean=mean,
        ciede2000_p99=p99,
        ciede2000_pixels=pixels,
    )
