"""The watermark's geometry: a canonical grid with a repeating tile, and finding it again.

The luma is resized to a ``GRID x GRID`` (512 x 512) canonical grid, whatever the image's size and
aspect, so resizing an image does not move anything on the grid. The mark is one ``TILE x TILE``
(64 x 64) tile repeated 8 x 8 times, so a reader can *fold* the grid (average all copies of the
tile onto one), which averages the picture away and keeps the mark.

A crop breaks the grid: the rest of the image is stretched onto 512 x 512 (the period grows) and
the tile starts elsewhere (it is shifted). `tile_period` measures the period from the spectrum and
`align` finds the shift by circular correlation with the key's patterns.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy import ndimage

from imaging.planes import resize_plane

__all__ = [
    "BLOCK",
    "GRID",
    "MAX_CROP",
    "TILE",
    "align",
    "block_dct",
    "block_idct",
    "fold",
    "tile_period",
    "to_grid",
]

GRID = 512
TILE = 64
BLOCK = 8
MAX_CROP = 0.2  # the largest crop, as a fraction of a side, that the period search covers


def block_idct(coefficients: NDArray[np.float64]) -> NDArray[np.float64]:
    """(TILE, TILE) coefficients laid out block by block -> pixels, orthonormal 2-D DCT-III."""
    n = TILE // BLOCK
    blocks = coefficients.reshape(n, BLOCK, n, BLOCK)
    pixels = scipy.fft.idctn(blocks, type=2, axes=(1, 3), norm="ortho")
    return np.asarray(pixels, dtype=np.float64).reshape(TILE, TILE)


def block_dct(pixels: NDArray[np.float64]) -> NDArray[np.float64]:
    """(TILE, TILE) pixels -> orthonormal 2-D DCT-II of each BLOCK x BLOCK block, same layout."""
    n = TILE // BLOCK
    blocks = pixels.reshape(n, BLOCK, n, BLOCK)
    coefficients = scipy.fft.dctn(blocks, type=2, axes=(1, 3), norm="ortho")
    return np.asarray(coefficients, dtype=np.float64).reshape(TILE, TILE)


def fold(plane: NDArray[np.float32]) -> NDArray[np.float64]:
    """Average of all (whole or partial) TILE x TILE tiles of a plane, tile origin at (0, 0)."""
    height, width = plane.shape
    ty, tx = -(-height // TILE), -(-width // TILE)
    padded = np.zeros((ty * TILE, tx * TILE))
    counts = np.zeros((ty * TILE, tx * TILE))
    padded[:height, :width] = plane
    counts[:height, :width] = 1.0
    total = padded.reshape(ty, TILE, tx, TILE).sum(axis=(0, 2))
    number = counts.reshape(ty, TILE, tx, TILE).sum(axis=(0, 2))
    return np.asarray(total / np.maximum(number, 1.0), dtype=np.float64)


def to_grid(plane: NDArray[np.float32]) -> NDArray[np.float32]:
    """A luma plane resized (antialiased) to the canonical ``GRID x GRID``."""
    return resize_plane(plane, (GRID, GRID))


def _band_mask() -> NDArray[np.bool_]:
    """Half-spectrum frequencies of the canonical grid where the mark's energy lies."""
    fy = np.fft.fftfreq(GRID)[:, None]
    fx = np.fft.rfftfreq(GRID)[None, :]
    radius = np.sqrt(fy * fy + fx * fx)
    return np.asarray((radius > 1.5 / BLOCK / 2.0) & (radius < 6.0 / BLOCK / 2.0))


_BAND_MASK = _band_mask()


def _peak_lag(profile: NDArray[np.float64]) -> float:
    """Lag, within the allowed crop range, whose first three multiples score highest."""
    lags = np.arange(TILE * 0.95, TILE / (1.0 - MAX_CROP), 0.02)
    multiples = lags[:, None] * np.arange(1, 4)[None, :]
    scores = np.interp(multiples, np.arange(profile.size), profile).sum(axis=1)
    best = float(lags[int(np.argmax(scores))])
    return float(TILE) if abs(best - TILE) < 0.2 else best


def tile_period(grid: NDArray[np.float32]) -> tuple[float, float]:
    """Tile period (x, y) on the canonical grid, from the autocorrelation of whitened power.

    The periodic mark puts its energy on a lattice of frequencies; dividing the power spectrum by
    its local mean leaves that lattice standing out of a flat floor, and the inverse transform of
    the result has peaks at multiples of the period along each axis (the autocorrelation
    theorem).
    """
    spectrum = scipy.fft.rfft2(grid - np.float32(grid.mean()))
    power = spectrum.real**2 + spectrum.imag**2
    whitened = power / np.maximum(ndimage.uniform_filter(power, 9, mode="wrap"), 1e-12)
    whitened = np.where(_BAND_MASK, whitened - 1.0, 0.0)
    # Only the two axes of the autocorrelation are needed: each is a 1-D transform of a sum.
    along_x = scipy.fft.irfft(whitened.sum(axis=0), n=GRID)
    both_halves = 2.0 * whitened.sum(axis=1) - whitened[:, 0] - whitened[:, -1]
    along_y = scipy.fft.ifft(both_halves).real
    return _peak_lag(along_x[: GRID // 2]), _peak_lag(along_y[: GRID // 2])


def align(tile: NDArray[np.float64], spectra: NDArray[np.complex64]) -> NDArray[np.float64]:
    """Undo a circular shift of the folded tile (a crop of the top or left), to subpixel."""
    spectrum = scipy.fft.rfft2(tile.astype(np.float32))
    correlations = scipy.fft.irfft2(spectrum[None] * spectra, s=(TILE, TILE), axes=(1, 2))
    scores = np.abs(correlations).sum(axis=0)
    dy, dx = np.unravel_index(int(np.argmax(scores)), scores.shape)

    def vertex(minus: float, centre: float, plus: float) -> float:
        curvature = minus - 2.0 * centre + plus
        if curvature >= 0.0:
            return 0.0
        return float(np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5))

    sy = float(dy) + vertex(scores[dy - 1, dx], scores[dy, dx], scores[(dy + 1) % TILE, dx])
    sx = float(dx) + vertex(scores[dy, dx - 1], scores[dy, dx], scores[dy, (dx + 1) % TILE])
    if sy == 0.0 and sx == 0.0:
        return tile
    fy = np.fft.fftfreq(TILE)[:, None]
    fx = np.fft.rfftfreq(TILE)[None, :]
    ramp = np.exp(2j * np.pi * (fy * sy + fx * sx))
    shifted = scipy.fft.irfft2(scipy.fft.rfft2(tile) * ramp, s=(TILE, TILE))
    return np.asarray(shifted, dtype=np.float64)
