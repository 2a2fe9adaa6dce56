"""The watermark's geometry: a canonical grid with a repeating tile, and finding it again.

The luma is resized to a ``GRID x GRID`` (512 x 512) canonical grid, whatever the image's size and
aspect, so resizing an image does not move anything on the grid. The mark is one ``TILE x TILE``
(64 x 64) tile repeated 8 x 8 times, so a reader can *fold* the grid (average all copies of the
tile onto one), which averages the picture away and keeps the mark.

A crop breaks the grid: the rest of the image is stretched onto 512 x 512 (the period grows) and
the tile starts elsewhere (it is shifted); a rotation turns the tile too. `imaging.geometry` finds
the tile's lattice again and the tile's shift, by circular correlation with the key's patterns.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from imaging.planes import resize_plane

__all__ = [
    "BLOCK",
    "GRID",
    "TILE",
    "block_dct",
    "block_idct",
    "fold",
    "to_grid",
]

GRID = 512
TILE = 64
BLOCK = 8


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
