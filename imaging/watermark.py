"""A keyed, blind 64-bit watermark: 48-bit asset id + 16-bit MAC, spread over mid-frequency DCT.

Where it lives (see `imaging.tiling`): on a canonical 512 x 512 grid (the luma resized, whatever
the image's size and aspect), one 64 x 64 tile repeated 8 x 8 times. In each of the tile's 8 x 8
pixel blocks, the 18 DCT coefficients with ``2 <= u + v <= 5`` carry the payload: each of the 64
bits owns 18 of the tile's 1152 coefficient slots (which ones, and with what sign, comes from the
key), so every bit is spread over 18 x 64 coefficients of the grid. The mark is added to luma
only, shaped by the JND map.

Embedding is informed: the host's own correlation with each bit's pattern is measured first and
only what is missing to reach ``+-A`` is added; the result is measured through resizing, rounding
and clipping and corrected once.

Reading folds the grid's 64 tile copies onto one, correlates with the key's patterns and keeps
each bit's t statistic (soft decoding); an id is returned only when the 16 check bits (an
HMAC-SHA256 of the id under the key) hold, allowing the 4 least reliable bits to be flipped, and
when the bits as a whole stand clearly out of the noise. When the grid as it is gives no id (the
picture was cropped, rescaled to another aspect, rotated or mirrored), the tile's lattice is
found again first (`imaging.geometry`).

What it does not do: survive crops of more than half an axis, rotations beyond about 4 degrees
on a 3:2 picture (7 on a square one: the lattice search's window), 90 degree turns,
perspective, or an attacker who knows the key; the repeated tile could be estimated by averaging
many marked images. A thumbnail (400 px) does not carry it reliably (see `imaging.derivatives`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from imaging.geometry import (
    Geometry,
    align,
    fold_inside,
    lattice_candidates,
    register,
    residual,
    scanned_lattices,
    spline,
    unwarp,
)
from imaging.jnd import JND_CAP, jnd_map
from imaging.planes import RGBImage, apply_luma_delta, as_rgb_uint8, luma, resize_plane
from imaging.tiling import (
    BLOCK,
    GRID,
    TILE,
    block_dct,
    block_idct,
    fold,
    to_grid,
)

__all__ = [
    "ID_BITS",
    "PAYLOAD_BITS",
    "Decoded",
    "bit_accuracy",
    "decode",
    "embed",
    "payload_bits",
]

ID_BITS = 48
CHECK_BITS = 16
PAYLOAD_BITS = ID_BITS + CHECK_BITS
_BAND = tuple((u, v) for u in range(BLOCK) for v in range(BLOCK) if 2 <= u + v <= 5)
_SLOTS = (TILE // BLOCK) ** 2 * len(_BAND)
_CHIPS = _SLOTS // PAYLOAD_BITS
_STRENGTH = 1.75  # target |correlation| per bit, in grey levels of a folded DCT coefficient
_CHASE_BITS = 4  # soft decoding: up to this many least reliable bits may be flipped
_MIN_CONFIDENCE_DIRECT = 1.3  # median |t| needed to accept a reading of the grid as it is
_MIN_CONFIDENCE_SEARCHED = 1.6  # ... and after recovering the geometry
_LATTICES = 12  # lattice candidates tried, each as it is and mirrored
_TRIALS = 3  # of those, the best registered ones that are read
_TURNS = tuple(0.25 * step for step in range(1, 15))  # degrees, either way: up to 3.5


@dataclass(frozen=True, slots=True)
class _Layout:
    """The key's secret: which coefficient slots each bit owns and their signs."""

    slot_bit: NDArray[np.intp]  # (SLOTS,) bit index of each slot
    slot_sign: NDArray[np.float64]  # (SLOTS,) +-1
    patterns: NDArray[np.float64]  # (PAYLOAD_BITS, TILE, TILE) spatial pattern of each bit
    spectra: NDArray[np.complex64]  # conj half spectra of the patterns, for circular correlation


@dataclass(frozen=True, slots=True)
class Decoded:
    """What `decode` read.

    Attributes
    ----------
    asset_id : int or None
        The id, only when the check bits hold and the bits are confident; else None.
    bits : ndarray of bool, shape (64,)
        The hard bits read (id, most significant bit first, then the check bits).
    soft : ndarray of float64, shape (64,)
        Each bit's t statistic (signed; its magnitude is the confidence).
    confidence : float
        Median ``|t|`` over the bits; unmarked images give about 0.7.
    period : tuple of float
        Lengths of the tile's lattice vectors on the canonical grid (near x, near y); 64 when
        the picture was not cropped.
    searched : bool
        The reading is the one after recovering the geometry (its threshold is higher).
    """

    asset_id: int | None
    bits: NDArray[np.bool_]
    soft: NDArray[np.float64]
    confidence: float
    period: tuple[float, float]
    searched: bool = False


def _check(asset_id: int, key: bytes) -> int:
    mac = hmac.new(key, b"gesso/watermark/check" + asset_id.to_bytes(6, "big"), hashlib.sha256)
    return int.from_bytes(mac.digest()[:2], "big")


def payload_bits(asset_id: int, *, key: bytes) -> NDArray[np.bool_]:
    """The 64 bits embedded for ``asset_id``: 48 id bits then a 16-bit HMAC-SHA256 of them.

    Raises
    ------
    ValueError
        If ``asset_id`` is not in ``[0, 2**48)``.
    """
    if not 0 <= asset_id < 1 << ID_BITS:
        raise ValueError(f"asset_id must be in [0, 2**{ID_BITS}), got {asset_id}")
    word = (asset_id << CHECK_BITS) | _check(asset_id, key)
    return np.array([(word >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)], dtype=bool)


def bit_accuracy(decoded: Decoded, asset_id: int, *, key: bytes) -> float:
    """Fraction of the 64 payload bits of ``asset_id`` that ``decoded`` read correctly."""
    return float(np.mean(decoded.bits == payload_bits(asset_id, key=key)))


def _slot_positions() -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row and column, in the (TILE, TILE) block-coefficient layout, of every slot."""
    n = TILE // BLOCK
    rows, cols = [], []
    for by in range(n):
        for bx in range(n):
            for u, v in _BAND:
                rows.append(by * BLOCK + u)
                cols.append(bx * BLOCK + v)
    return np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)


_ROWS, _COLS = _slot_positions()


@functools.lru_cache(maxsize=32)
def _layout(key: bytes) -> _Layout:
    seed = hmac.new(key, b"gesso/watermark/layout", hashlib.sha256).digest()
    rng = np.random.default_rng(int.from_bytes(seed[:16], "big"))
    slot_bit = rng.permutation(_SLOTS) % PAYLOAD_BITS
    slot_sign = rng.choice(np.array([-1.0, 1.0]), size=_SLOTS)
    patterns = np.empty((PAYLOAD_BITS, TILE, TILE))
    for bit in range(PAYLOAD_BITS):
        coefficients = np.zeros((TILE, TILE))
        mine = slot_bit == bit
        coefficients[_ROWS[mine], _COLS[mine]] = slot_sign[mine]
        patterns[bit] = block_idct(coefficients)
    spectra = np.conj(scipy.fft.rfft2(patterns.astype(np.float32), axes=(1, 2)))
    for array in (slot_bit, slot_sign, patterns, spectra):
        array.flags.writeable = False
    return _Layout(slot_bit, slot_sign, patterns, spectra)


def _correlations(tile: NDArray[np.float64], layout: _Layout) -> NDArray[np.float64]:
    """Mean signed slot coefficient of each bit in an aligned folded tile."""
    chips = block_dct(tile)[_ROWS, _COLS] * layout.slot_sign
    return np.bincount(layout.slot_bit, weights=chips, minlength=PAYLOAD_BITS) / _CHIPS


def _t_statistics(tile: NDArray[np.float64], layout: _Layout) -> NDArray[np.float64]:
    """Each bit's t statistic: mean of its chips over the standard error of the chip scatter.

    Chips are first divided by the RMS of their DCT frequency over the tile's 64 blocks, so the
    low frequencies, where the picture is loud, do not drown the quieter ones.
    """
    coefficients = block_dct(tile)[_ROWS, _COLS].reshape(-1, len(_BAND))
    spread = np.sqrt(np.mean(coefficients**2, axis=0))
    chips = (coefficients / np.maximum(spread, 1e-9)).ravel() * layout.slot_sign
    means = np.bincount(layout.slot_bit, weights=chips, minlength=PAYLOAD_BITS) / _CHIPS
    scatter = float(np.mean((chips - means[layout.slot_bit]) ** 2))
    error = np.sqrt(max(scatter, 1e-12) / _CHIPS)
    return np.asarray(means / error, dtype=np.float64)


def _tile(amplitude: NDArray[np.float64], layout: _Layout) -> NDArray[np.float64]:
    """The tile pattern that pushes each bit's correlation by its amplitude."""
    return np.asarray(np.tensordot(amplitude, layout.patterns, axes=1), dtype=np.float64)


def embed(
    image: NDArray[np.generic], *, asset_id: int, key: bytes, strength: float = 1.0
) -> RGBImage:
    """Mark an RGB image with ``asset_id`` under ``key``.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        ``uint8``, or float in ``[0, 1]``; at least 64 pixels on each side. Not modified.
    asset_id : int
        In ``[0, 2**48)``.
    key : bytes
        The secret that places the payload and signs it.
    strength : float
        Multiplies the target correlation of every bit (1.0: about 1 grey level RMS).

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)

    Raises
    ------
    ValueError
        If the image is not ``(H, W, 3)`` with both sides >= 64, ``asset_id`` is out of range or
        ``strength`` is not positive.

    Notes
    -----
    Spread-spectrum embedding with host-interference cancellation in the spirit of improved
    spread spectrum [1]_; the mark is added in the DCT domain of blocks [2]_, shaped by the JND
    map on the canonical grid, and the periodic tile follows the self-synchronising marks of
    Kutter [3]_.

    References
    ----------
    .. [1] H. S. Malvar and D. A. F. Florencio, "Improved spread spectrum: a new modulation
           technique for robust watermarking," IEEE Trans. Signal Process., vol. 51, no. 4,
           pp. 898-905, 2003.
    .. [2] I. J. Cox, J. Kilian, F. T. Leighton and T. Shamoon, "Secure spread spectrum
           watermarking for multimedia," IEEE Trans. Image Process., vol. 6, no. 12,
           pp. 1673-1687, 1997.
    .. [3] M. Kutter, "Watermarking resistance to translation, rotation, and scaling," in Proc.
           SPIE Multimedia Systems and Applications, vol. 3528, 1999, pp. 423-431.
    """
    rgb = as_rgb_uint8(image)
    height, width = rgb.shape[:2]
    if height < TILE or width < TILE:
        raise ValueError(f"image must be at least {TILE} x {TILE}, got {rgb.shape}")
    if strength <= 0.0:
        raise ValueError(f"strength must be positive, got {strength}")
    layout = _layout(key)
    signs = np.where(payload_bits(asset_id, key=key), 1.0, -1.0)
    target = _STRENGTH * strength
    plane = luma(rgb)
    grid = to_grid(plane)
    shape = jnd_map(grid, cap=JND_CAP)
    shape /= float(np.mean(shape))
    host = _correlations(fold(grid), layout)
    # First push: what is missing to reach the target, at least a quarter of it.
    push = signs * np.maximum(target - signs * host, 0.25 * target)
    amplitude = push.copy()
    tiles = (GRID // TILE, GRID // TILE)
    delta = resize_plane(shape * np.tile(_tile(amplitude, layout), tiles), (width, height))
    # Measure what the push reached through resizing, rounding and clipping, and correct it once:
    # per bit, the shortfall divided by the gain the first push showed.
    marked = np.clip(plane + np.rint(delta), 0.0, 255.0)
    reached = _correlations(fold(to_grid(marked)), layout)
    gain = np.clip((reached - host) / amplitude, 0.2, 2.0)
    amplitude += signs * np.maximum(target - signs * reached, 0.0) / gain
    delta = resize_plane(shape * np.tile(_tile(amplitude, layout), tiles), (width, height))
    return apply_luma_delta(rgb, delta)


def _chase(bits: NDArray[np.bool_], soft: NDArray[np.float64], key: bytes) -> int | None:
    """The id whose check bits hold, flipping at most the `_CHASE_BITS` least reliable bits.

    The flip patterns are tried from the most to the least likely (smallest total ``|t|`` of the
    flipped bits first), after Chase's second algorithm; the check bits decide.
    """
    weakest = np.argsort(np.abs(soft))[:_CHASE_BITS]
    patterns = sorted(
        range(1 << _CHASE_BITS),
        key=lambda p: sum(abs(soft[weakest[j]]) for j in range(_CHASE_BITS) if p >> j & 1),
    )
    weights = 1 << np.arange(PAYLOAD_BITS - 1, -1, -1, dtype=np.uint64)
    for pattern in patterns:
        trial = bits.copy()
        for j in range(_CHASE_BITS):
            if pattern >> j & 1:
                trial[weakest[j]] = not trial[weakest[j]]
        word = int(np.sum(weights[trial]))
        asset_id = word >> CHECK_BITS
        if word & ((1 << CHECK_BITS) - 1) == _check(asset_id, key):
            return asset_id
    return None


def _read(
    tile: NDArray[np.float64],
    layout: _Layout,
    key: bytes,
    threshold: float,
    period: tuple[float, float],
    *,
    searched: bool,
) -> Decoded:
    soft = _t_statistics(tile, layout)
    bits = soft > 0.0
    confidence = float(np.median(np.abs(soft)))
    asset_id = _chase(bits, soft, key) if confidence >= threshold else None
    return Decoded(
        asset_id=asset_id,
        bits=bits,
        soft=soft,
        confidence=confidence,
        period=period,
        searched=searched,
    )


def decode(image: NDArray[np.generic], *, key: bytes, search: bool = True) -> Decoded:
    """Read the payload of an image marked by `embed` with the same key.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        ``uint8``, or float in ``[0, 1]``; any size (it is resized to the canonical grid). Not
        modified.
    key : bytes
    search : bool
        Recover the geometry when the grid as it is gives no id. False only for an image known
        to be whole and unturned (a derivative being verified): it saves the search's time.

    Returns
    -------
    Decoded
        ``asset_id`` is None unless the check bits hold and the bits are confident. Of the two
        readings (see Notes) the one with an id, else the more confident one, is returned.

    Raises
    ------
    ValueError
        If the image is not ``(H, W, 3)``.

    Notes
    -----
    Two readings are tried. First the grid as it is (the image was not cropped): accepted when
    the median ``|t|`` of the bits is at least 1.3. Then, if that fails, after recovering the
    geometry (`imaging.geometry`: the lattice, a mirror image, the shift): accepted from 1.6,
    because the search itself lifts the statistic (it keeps the best of several tiles and
    shifts). On unmarked images the medians are about 0.7 +- 0.1 and 1.2 +- 0.1 (at most 1.49
    over 2,000 unmarked reads and 384 under another key, docs/benchmarks.md), so on top of the
    check bits (16 flip patterns, so a 1 in 4096 chance per reading; a search reads at most 8
    tiles), a false id needs a deviation of about four standard deviations or more.

    References
    ----------
    .. [1] D. Chase, "A class of algorithms for decoding block codes with channel measurement
           information," IEEE Trans. Inf. Theory, vol. 18, no. 1, pp. 170-182, 1972.
    """
    rgb = as_rgb_uint8(image)
    layout = _layout(key)
    plane = luma(rgb)
    grid = to_grid(plane)
    direct = _read(
        fold(grid), layout, key, _MIN_CONFIDENCE_DIRECT, (float(TILE), float(TILE)), searched=False
    )
    if direct.asset_id is not None or not search:
        return direct
    searched = _search(plane, grid, layout, key)
    if searched.asset_id is not None or searched.confidence > direct.confidence:
        return searched
    return direct


def _turned(shape: tuple[int, ...]) -> list[NDArray[np.float64]]:
    """The unchanged lattice turned by each of `_TURNS` either way, seen on the grid of a picture
    of ``shape``, whose axes the grid stretches differently; and the same turns with the black
    corners cropped away (the largest centred rectangle of the same aspect, which enlarges the
    lattice on the grid)."""
    height, width = shape[:2]
    stretch = (GRID / width) / (GRID / height)  # grid x scale over grid y scale
    out = []
    for degrees in _TURNS:
        for angle in (np.radians(degrees), -np.radians(degrees)):
            cos, sin = np.cos(angle), np.sin(angle)
            # Columns g1 and g2 as (x, y); y grows downwards, a positive angle turns counter-
            # clockwise on screen.
            turn = float(TILE) * np.array([[cos, sin * stretch], [-sin / stretch, cos]])
            kept = min(
                width / (width * cos + height * abs(sin)),
                height / (height * cos + width * abs(sin)),
            )
            out += [turn, turn / kept]
    return out


def _search(
    plane: NDArray[np.float32], grid: NDArray[np.float32], layout: _Layout, key: bytes
) -> Decoded:
    """Read after recovering the geometry (see `imaging.geometry`): the first id, else the best.

    The lattice is looked for on a square of twice the grid's side when the picture has that
    many pixels (more copies of the tile, sharper peaks), and the unchanged grid's lattice is
    always among the candidates (a mirror image, or a picture only rescaled), as are its turns
    by up to 3.5 degrees in quarter degrees (a picture turned without a crop, or a scan): in a
    busy picture the autocorrelation's peaks are lost in the texture, while the fold at the
    right turn still shows the key's patterns; each turn also with the black corners cropped
    away. Each lattice is tried as it is and mirrored, ranked on a linear resampling; the
    folded tiles of the best are read (cubic) in the order of how clearly the key's patterns
    register in them. When none gives an id, the period is scanned with the key
    (`imaging.geometry.scanned_lattices`: a crop of a texture whose own energy hides the
    lattice from the autocorrelation) and the best period of each family is read.
    """
    if min(plane.shape) >= 2 * GRID:
        candidates = lattice_candidates(resize_plane(plane, (2 * GRID, 2 * GRID)))
    else:
        candidates = lattice_candidates(grid)
    identity = np.eye(2) * float(TILE)
    bases = candidates[:_LATTICES]
    if not any(np.allclose(basis, identity, atol=1.0) for basis in bases):
        bases.append(identity)
    bases += _turned(plane.shape)
    residual_ = residual(grid)
    coefficients = spline(residual_)
    trials = []
    for basis in bases:
        geometry = Geometry(basis=basis, origin=np.zeros(2))
        tile = fold_inside(*unwarp(residual_, geometry, order=1))
        # A mirror image has the mirrored lattice; unwarped, it is the same plane mirrored, and
        # the fold of a mirrored plane is the folded tile mirrored (up to a circular shift).
        for mirrored in (False, True):
            folded = np.ascontiguousarray(tile[:, ::-1]) if mirrored else tile
            trials.append((register(folded, layout.spectra).score, mirrored, geometry))
    trials.sort(key=lambda trial: -trial[0])

    def geometries() -> Iterator[tuple[bool, Geometry]]:
        for _, mirrored, geometry in trials[:_TRIALS]:
            yield mirrored, geometry
        # A texture at the mark's own frequencies hides the lattice from the autocorrelation:
        # scan the period with the key (a crop along one axis, or both alike), only now.
        scanned = sorted(scanned_lattices(residual_, layout.spectra), key=lambda found: -found[0])
        for _, basis, mirrored in scanned:
            yield mirrored, Geometry(basis=basis, origin=np.zeros(2))

    best: Decoded | None = None
    for mirrored, geometry in geometries():
        tile = fold_inside(*unwarp(coefficients, geometry))
        decoded = _read_aligned(tile[:, ::-1] if mirrored else tile, layout, key, geometry)
        if decoded.asset_id is not None:
            return decoded
        if best is None or decoded.confidence > best.confidence:
            best = decoded
    assert best is not None
    return best


def _read_aligned(
    tile: NDArray[np.float64], layout: _Layout, key: bytes, geometry: Geometry
) -> Decoded:
    aligned = align(np.ascontiguousarray(tile), layout.spectra)
    return _read(aligned, layout, key, _MIN_CONFIDENCE_SEARCHED, geometry.period, searched=True)
