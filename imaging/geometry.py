"""Finding the watermark's tile again after a crop, a rescale, a small rotation or a mirror image.

On the canonical grid of an unchanged picture the mark repeats every ``TILE`` pixels along x and
y. Cropping, rescaling to another aspect and rotating the picture turn that square lattice into
another one: two lattice vectors ``g1`` (near the x axis) and ``g2`` (near the y axis), with
lengths from 64 up to 128 grid pixels (half an axis cropped away) and a few degrees of rotation
and shear. A mirror image mirrors the lattice and the tile: the plane unwarped with the lattice
found is then the mirror of the tile, which the reader also tries mirrored back.

The reader recovers the geometry in three steps:

1. `lattice_candidates`: the noise residual of the grid (the picture minus its smooth part,
   divided by the local contrast and clipped, so edges do not dominate) is whitened in the
   frequency domain; the inverse transform of that power spectrum (an autocorrelation) has peaks
   at the lattice vectors and their multiples, which are searched in two windows around the axes.
2. `unwarp`: the residual resampled (cubic spline) so that the candidate lattice becomes the square
   ``TILE`` lattice again, with a mask of the samples that fell inside the picture.
3. `register`: the unwarped residual is folded and the key's patterns are found in the folded tile
   by circular correlation, which gives the tile's shift (where the crop started).

Where the picture's own texture has energy at the mark's frequencies (grass, foliage), the
autocorrelation's peaks drown in it; `scanned_lattices` then scans the period with the key: the
grid folded with every period from a little under ``TILE`` to `MAX_PERIOD` in quarter pixels,
along one axis with the other untouched (an edge crop, a feed crop) or along both alike (a centre
crop), each fold scored by how clearly the key's patterns register in it.

The key's patterns are only used to register; whether an id is read is decided afterwards by the
check bits and the confidence threshold of `imaging.watermark`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.sparse
from numpy.typing import NDArray
from scipy import ndimage

from imaging.tiling import GRID, TILE, fold

__all__ = [
    "MAX_PERIOD",
    "Geometry",
    "Registration",
    "align",
    "fold_inside",
    "lattice_candidates",
    "register",
    "residual",
    "scanned_lattices",
    "spline",
    "unwarp",
]

MAX_PERIOD = 2.0 * TILE  # the longest lattice vector searched: half of an axis cropped away
_MIN_PERIOD = 0.94 * TILE  # a little shorter than the tile: the picture was padded or shrunk
_MAX_SKEW = 0.12  # |off-axis component| / length of a lattice vector: ~7 degrees of rotation/shear
_STEP = 0.25  # coarse search step in grid pixels
_CANDIDATES = 10  # local maxima kept per lattice vector
_REACH = 250.0  # multiples k * v are summed while |k * v| stays under this (circular wrap)


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where the tile lies on the grid: ``x = origin + basis @ u / TILE`` for tile coordinate u.

    Attributes
    ----------
    basis : ndarray of float64, shape (2, 2)
        Columns are the lattice vectors ``g1`` and ``g2`` in grid pixels, each as (x, y).
    origin : ndarray of float64, shape (2,)
        Grid position (x, y) of the tile's origin.
    """

    basis: NDArray[np.float64]
    origin: NDArray[np.float64]

    @property
    def period(self) -> tuple[float, float]:
        """Lengths of the two lattice vectors, in grid pixels."""
        return (
            float(np.hypot(*self.basis[:, 0])),
            float(np.hypot(*self.basis[:, 1])),
        )


@dataclass(frozen=True, slots=True)
class Registration:
    """Where a folded tile best matches the key's patterns.

    Attributes
    ----------
    shift : tuple of float
        (dy, dx): the patterns' origin lies at this position of the tile, to subpixel.
    score : float
        How far the best match stands out of the others, in standard deviations.
    """

    shift: tuple[float, float]
    score: float


def residual(grid: NDArray[np.float32], *, median: bool = True) -> NDArray[np.float32]:
    """The grid's fine detail over its local contrast, clipped: the mark is a large part of it.

    The folded tile reads it. Dividing by the local contrast weighs each area by how little the
    picture hides the mark there (busy texture and edges count less, quiet areas more): on real
    pictures the key's patterns register two to three times as clearly in its fold as in the
    fold of the plain detail. Its smooth part removed, the picture averages to about zero
    everywhere, so folding a plane where parts of the tile have fewer copies than others (the
    picture's border after a crop or rotation) does not turn the picture's brightness into steps
    in the folded tile.

    The detail is what a 3 x 3 median leaves, its contrast taken over a few pixels: on a texture
    with energy at the mark's own frequencies (grass) the bits stand about 15% clearer than
    with the detail of a Gaussian of sigma 1.5 and the contrast over 4 pixels, which the
    lattice's autocorrelation keeps (``median`` False): its peaks are sharper with it.
    """
    plane = grid.astype(np.float32)
    if median:
        detail = plane - ndimage.median_filter(plane, 3)
        contrast = ndimage.gaussian_filter(np.abs(detail), 2.0) + np.float32(0.5)
    else:
        detail = plane - ndimage.gaussian_filter(plane, 1.5)
        contrast = ndimage.gaussian_filter(np.abs(detail), 4.0) + np.float32(0.5)
    out = np.clip(detail / contrast, -2.0, 2.0)
    return np.asarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _band_mask(size: int) -> NDArray[np.bool_]:
    """Half-spectrum frequencies where a stretched or shrunk mark keeps most of its energy."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fy * fy + fx * fx)
    return np.asarray((radius > 0.04) & (radius < 0.42))


def _autocorrelation(grid: NDArray[np.float32]) -> NDArray[np.float64]:
    """Circular autocorrelation of the whitened, band-limited residual; (0, 0) at index (0, 0)."""
    size = grid.shape[0]
    residual_ = residual(grid, median=False)
    window = np.hanning(size).astype(np.float32)
    spectrum = scipy.fft.rfft2((residual_ - residual_.mean()) * window[:, None] * window[None, :])
    power = spectrum.real**2 + spectrum.imag**2
    whitened = power / np.maximum(ndimage.uniform_filter(power, 9, mode="wrap"), 1e-12)
    whitened = np.where(_band_mask(size), whitened - 1.0, 0.0)
    return np.asarray(scipy.fft.irfft2(whitened, s=(size, size)), dtype=np.float64)


def _scores(
    correlation: NDArray[np.float64], along: NDArray[np.float64], across: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Sum of the autocorrelation at the first multiples of each (along, across) vector, over
    the square root of how many multiples fit (so long vectors, with fewer, are not penalised).
    """
    total = np.zeros(along.shape)
    count = np.zeros(along.shape)
    limit = _REACH * correlation.shape[0] / GRID
    for k in (1, 2, 3):
        reach = np.hypot(along, across) * k <= limit
        if not reach.any():
            break
        coordinates = np.array([(k * across).ravel(), (k * along).ravel()])
        values = ndimage.map_coordinates(correlation, coordinates, order=1, mode="grid-wrap")
        total += np.where(reach, values.reshape(along.shape), 0.0)
        count += reach
    return total / np.sqrt(np.maximum(count, 1.0))


def _lattice_score(correlation: NDArray[np.float64], basis: NDArray[np.float64]) -> float:
    """The autocorrelation summed over the lattice's points within reach (not the origin), over
    the square root of their number."""
    m, n = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4), indexing="ij")
    points = basis @ np.array([m.ravel(), n.ravel()], dtype=np.float64)
    length = np.hypot(points[0], points[1])
    keep = (length > 0) & (length <= _REACH * correlation.shape[0] / GRID)
    values = ndimage.map_coordinates(
        correlation, np.array([points[1][keep], points[0][keep]]), order=1, mode="grid-wrap"
    )
    return float(values.sum() / np.sqrt(max(int(keep.sum()), 1)))


def _vector_candidates(correlation: NDArray[np.float64]) -> list[tuple[float, float, float]]:
    """Best (along, across, score) for a lattice vector along the correlation's second axis, in
    the correlation's own pixels."""
    scale = correlation.shape[0] / GRID
    step = _STEP * scale
    along = np.arange(_MIN_PERIOD * scale, (MAX_PERIOD + _STEP) * scale, step)
    reach = _MAX_SKEW * MAX_PERIOD * scale
    across = np.arange(-reach, reach + step, step)
    grid_along, grid_across = np.meshgrid(along, across, indexing="ij")
    scores = _scores(correlation, grid_along, grid_across)
    scores[np.abs(grid_across) > _MAX_SKEW * grid_along] = -np.inf
    peaks = (scores == ndimage.maximum_filter(scores, size=9, mode="nearest")) & np.isfinite(scores)
    order = np.argsort(scores[peaks])[::-1][:_CANDIDATES]
    found = []
    for i, j in zip(*(index[order] for index in np.nonzero(peaks)), strict=True):
        # Refine on a grid five times finer around the coarse peak.
        offsets = np.linspace(-step, step, 11)
        fa, fc = np.meshgrid(along[i] + offsets, across[j] + offsets, indexing="ij")
        fine = _scores(correlation, fa, fc)
        k = np.unravel_index(int(np.argmax(fine)), fine.shape)
        found.append((float(fa[k]), float(fc[k]), float(fine[k])))
    return found


def lattice_candidates(plane: NDArray[np.float32]) -> list[NDArray[np.float64]]:
    """Likely lattice bases (2 x 2, columns g1 and g2 as (x, y), in pixels of the canonical
    grid) of a luma plane resized to a square of any size, the likeliest first.

    A larger square than the canonical grid (1024 for a picture that large) holds more copies
    of the tile and sharper peaks. The best few vectors near each axis are paired, and the pairs
    ranked by the autocorrelation over all the lattice points they span.
    """
    correlation = _autocorrelation(plane)
    first = _vector_candidates(correlation)  # along x: rows are y, columns x
    second = _vector_candidates(np.ascontiguousarray(correlation.T))  # along y
    bases = [
        np.array([[a[0], b[1]], [a[1], b[0]]], dtype=np.float64) for a in first for b in second
    ]
    bases.sort(key=lambda basis: -_lattice_score(correlation, basis))
    return [basis * (GRID / plane.shape[0]) for basis in bases]


def spline(plane: NDArray[np.float32]) -> NDArray[np.float64]:
    """Cubic spline coefficients of a plane, computed once for every `unwarp` of it."""
    return np.asarray(ndimage.spline_filter(plane, order=3, mode="mirror"), dtype=np.float64)


def unwarp(
    coefficients: NDArray[np.floating], geometry: Geometry, *, order: int = 3
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """A grid resampled so the geometry's tile is the square ``TILE`` tile, origin at (0, 0).

    ``coefficients`` are the grid's `spline` (``order`` 3: cubic), or the grid itself for
    ``order`` 1 (linear, several times faster: enough to rank candidates). Returns the plane and
    the mask of its samples that fell inside the grid. The plane covers the grid with whole
    tiles, starting at a multiple of ``TILE`` in tile coordinates.
    """
    low = _tile_low(geometry)
    inverse = np.linalg.inv(geometry.basis) * TILE
    corners = np.array([[0, 0], [GRID - 1, 0], [0, GRID - 1], [GRID - 1, GRID - 1]], float)
    high = np.ceil(((corners - geometry.origin) @ inverse.T).max(axis=0) / TILE + 1e-9) * TILE
    width, height = (int(side) for side in high - low)
    # Output (row, column) -> grid (row, column): the basis with its axes in (y, x) order.
    matrix = geometry.basis[::-1, ::-1] / TILE
    offset = geometry.origin[::-1] + matrix @ low[::-1]
    plane = ndimage.affine_transform(
        coefficients,
        matrix,
        offset=offset,
        output_shape=(height, width),
        output=np.float32,
        order=order,
        mode="constant",
        cval=np.nan,
        prefilter=False,
    )
    inside = np.isfinite(plane)
    mean = float(plane[inside].mean()) if inside.any() else 0.0
    plane[~inside] = mean
    return plane, inside


def register(tile: NDArray[np.float64], spectra: NDArray[np.complex64]) -> Registration:
    """Find where the key's patterns lie in a folded tile (circular correlation, subpixel)."""
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
    spread = float(scores.std())
    score = (float(scores[dy, dx]) - float(scores.mean())) / max(spread, 1e-12)
    return Registration(shift=(sy, sx), score=score)


def align(tile: NDArray[np.float64], spectra: NDArray[np.complex64]) -> NDArray[np.float64]:
    """Undo a circular shift of a folded tile (where the crop started), to subpixel."""
    sy, sx = register(tile, spectra).shift
    if sy == 0.0 and sx == 0.0:
        return tile
    fy = np.fft.fftfreq(TILE)[:, None]
    fx = np.fft.rfftfreq(TILE)[None, :]
    ramp = np.exp(2j * np.pi * (fy * sy + fx * sx))
    shifted = scipy.fft.irfft2(scipy.fft.rfft2(tile) * ramp, s=(TILE, TILE))
    return np.asarray(shifted, dtype=np.float64)


def fold_inside(plane: NDArray[np.float32], inside: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Fold only the samples inside the picture, each tile position averaged over its copies."""
    total = fold(np.where(inside, plane, 0.0).astype(np.float32))
    share = fold(inside.astype(np.float32))
    mean = float(plane[inside].mean()) if inside.any() else 0.0
    out = np.where(share > 0.0, total / np.maximum(share, 1e-9), mean)
    return np.asarray(out, dtype=np.float64)


def _tile_low(geometry: Geometry) -> NDArray[np.float64]:
    """The tile coordinate of the unwarped plane's first sample (see `unwarp`)."""
    inverse = np.linalg.inv(geometry.basis) * TILE
    corners = np.array([[0, 0], [GRID - 1, 0], [0, GRID - 1], [GRID - 1, GRID - 1]], float)
    tiles = (corners - geometry.origin) @ inverse.T
    return np.asarray(np.floor(tiles.min(axis=0) / TILE) * TILE, dtype=np.float64)


# --- scanning the period with the key ------------------------------------------------------------

_SCAN_STEP = 0.25  # grid pixels between the periods scanned
_SCAN_PERIODS = np.arange(_MIN_PERIOD, MAX_PERIOD + _SCAN_STEP / 2, _SCAN_STEP)
_ALIKE_PERIODS = _SCAN_PERIODS[_SCAN_PERIODS <= 1.6 * TILE]  # both axes alike: 37% of each cut
_CHUNK = 16  # folded tiles registered at once over all their shifts


def _keys(offset: NDArray[np.float64]) -> NDArray[np.float64]:
    """Weights of the taps ``-1, 0, 1, 2`` of Keys' cubic kernel (a = -0.5) at ``offset``."""
    t = np.abs(offset[..., None] - np.arange(-1, 3, dtype=np.float64))
    near = (1.5 * t - 2.5) * t * t + 1.0
    far = ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0
    return np.asarray(np.where(t <= 1.0, near, np.where(t < 2.0, far, 0.0)))


@functools.lru_cache(maxsize=2)
def _fold_operator(periods: tuple[float, ...]) -> scipy.sparse.csr_array:
    """The (len(periods) * TILE, GRID) matrix that folds an axis of the grid with each period
    onto ``TILE`` samples: sample r averages the grid, interpolated (cubic), at
    ``(r + TILE k) p / TILE`` for every copy k inside the grid."""
    rows, columns, weights = [], [], []
    for index, period in enumerate(periods):
        copies = int(np.ceil(GRID / period)) + 1
        at = (np.arange(TILE)[:, None] + TILE * np.arange(copies)[None, :]) * period / TILE
        inside = at <= GRID - 1
        base = np.floor(at)
        weight = _keys(at - base) * inside[..., None] / inside.sum(axis=1)[:, None, None]
        column = np.clip(base[..., None].astype(np.intp) + np.arange(-1, 3), 0, GRID - 1)
        row = np.broadcast_to(index * TILE + np.arange(TILE)[:, None, None], column.shape)
        rows.append(row.ravel())
        columns.append(column.ravel())
        weights.append(weight.ravel())
    shape = (len(periods) * TILE, GRID)
    matrix = scipy.sparse.coo_array(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(columns))), shape=shape
    )
    return matrix.astype(np.float32).tocsr()


@functools.lru_cache(maxsize=1)
def _dense(periods: tuple[float, ...]) -> NDArray[np.float32]:
    """`_fold_operator` as one dense (TILE, GRID) matrix per period."""
    dense = np.asarray(_fold_operator(periods).toarray(), dtype=np.float32).reshape(-1, TILE, GRID)
    dense.flags.writeable = False
    return dense


def _row_shift_scores(
    tiles: NDArray[np.float32], spectra: NDArray[np.complex64]
) -> NDArray[np.float64]:
    """`register`'s score of each folded tile when its rows are known to be in place: only the
    64 shifts along x are searched."""
    spectrum = scipy.fft.rfft2(tiles).astype(np.complex64)  # (n, fy, fx)
    # Sum over fy of spectrum * spectra, per bit: the correlation at a zero shift along y.
    summed = np.matmul(spectrum.transpose(2, 0, 1), spectra.transpose(2, 1, 0))  # (fx, n, bit)
    correlations = scipy.fft.irfft(summed.transpose(1, 2, 0), n=TILE, axis=-1)
    return _standing_out(np.abs(correlations).sum(axis=1))


def _shift_scores(
    tiles: NDArray[np.float32], spectra: NDArray[np.complex64]
) -> NDArray[np.float64]:
    """`register`'s score of each folded tile, over all its shifts."""
    out = []
    for start in range(0, len(tiles), _CHUNK):
        spectrum = scipy.fft.rfft2(tiles[start : start + _CHUNK]).astype(np.complex64)
        correlations = scipy.fft.irfft2(
            spectrum[:, None] * spectra[None], s=(TILE, TILE), axes=(-2, -1)
        )
        out.append(_standing_out(np.abs(correlations).sum(axis=1).reshape(len(spectrum), -1)))
    return np.concatenate(out)


def _standing_out(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """How far each row's best shift stands out of its others, in standard deviations."""
    spread = np.maximum(scores.std(axis=-1), 1e-12)
    return np.asarray((scores.max(axis=-1) - scores.mean(axis=-1)) / spread, dtype=np.float64)


def _best_period(periods: NDArray[np.float64], scores: NDArray[np.float64]) -> tuple[float, float]:
    """The scanned period with the best score, refined between its neighbours, and the score."""
    i = int(np.argmax(scores))
    period = float(periods[i])
    if 0 < i < len(scores) - 1:
        minus, centre, plus = scores[i - 1], scores[i], scores[i + 1]
        curvature = minus - 2.0 * centre + plus
        if curvature < 0.0:
            period += _SCAN_STEP * float(np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5))
    return period, float(scores[i])


def _transposed(spectra: NDArray[np.complex64]) -> NDArray[np.complex64]:
    """The conjugate half spectra of the transposed patterns."""
    patterns = scipy.fft.irfft2(np.conj(spectra), s=(TILE, TILE), axes=(1, 2))
    flipped = np.ascontiguousarray(patterns.transpose(0, 2, 1))
    return np.asarray(np.conj(scipy.fft.rfft2(flipped, axes=(1, 2))), dtype=np.complex64)


def scanned_lattices(
    plane: NDArray[np.float32], spectra: NDArray[np.complex64]
) -> list[tuple[float, NDArray[np.float64], bool]]:
    """Lattices of a crop that kept one axis whole, or cut both axes alike, with their scores.

    ``plane`` is the grid's `residual`. Where the picture's own texture has energy at the mark's
    frequencies (grass, foliage, fabric), the autocorrelation's peaks are lost in it; the key's
    patterns still register in a fold at the right period. So the period is scanned in quarter
    pixels, from a little under ``TILE``, in three families: along x with y untouched (a crop
    of the left or right edge, a square or 4:5 feed crop of a wide picture), along y with x
    untouched, and both axes alike (a centre crop). Each fold is a product with folding
    matrices (cubic interpolation), scored by how clearly the key's patterns register in it;
    when an axis is untouched its shift is zero and only the other's is searched.

    Returns (score, basis, mirrored) for the best period of each family, the one-axis families
    also mirrored (left and right swapped). A one-axis score is over 64 shifts, so it runs lower
    than one over all 4096.
    """
    values = plane.astype(np.float32)
    found: list[tuple[float, NDArray[np.float64], bool]] = []
    scan = _fold_operator(tuple(float(p) for p in _SCAN_PERIODS))
    for along_x in (True, False):
        # Fold the untouched axis (rows of `grid`), then the scanned one with each period.
        grid = values if along_x else np.ascontiguousarray(values.T)
        strip = grid.reshape(GRID // TILE, TILE, GRID).mean(axis=0)  # (TILE, GRID)
        tiles = (scan @ strip.T).reshape(len(_SCAN_PERIODS), TILE, TILE).transpose(0, 2, 1)
        spectra_ = spectra if along_x else _transposed(spectra)
        for mirrored in (False, True):
            # Mirrored left and right: along x the tile's columns, along y (transposed) its rows.
            folded = tiles if not mirrored else (tiles[:, :, ::-1] if along_x else tiles[:, ::-1])
            scores = _row_shift_scores(np.ascontiguousarray(folded), spectra_)
            period, score = _best_period(_SCAN_PERIODS, scores)
            basis = np.diag([period, float(TILE)] if along_x else [float(TILE), period])
            found.append((score, basis, mirrored))
    periods = tuple(float(p) for p in _ALIKE_PERIODS)
    # y folded with each period, then x with the same one.
    rows = (_fold_operator(periods) @ values).reshape(len(_ALIKE_PERIODS), TILE, GRID)
    tiles = np.matmul(rows, _dense(periods).transpose(0, 2, 1))
    scores = _shift_scores(tiles, spectra)
    period, score = _best_period(_ALIKE_PERIODS, scores)
    found.append((score, np.diag([period, period]), False))
    return found
