"""Style statistics: Gram matrices of a multi-scale oriented Gabor filter bank, and their gradient.

This is the surrogate "style" the cloak is optimised against. A picture's style is summarised the
way Gatys et al. do with a network's features, but with a fixed linear filter bank: the Gram matrix
of the responses of 4 orientations x 3 scales of even Gabor filters, divided by its trace so that
it describes how the texture energy is spread over bands, not how much there is.

Everything is computed on a *working plane*: the luma resized so that its long side is
``WORK_LONG_SIDE`` pixels (up or down), which makes the statistic independent of the upload's
resolution (an image and its half-size copy have the same style).

What the statistic is, and is not: the bank is linear, so by Parseval's theorem its Gram matrix
is a weighted sum of the power spectrum. It sees how energy is spread over orientations and
scales, and nothing of phase or of the higher-order structure a network's features respond to.
That is also what makes it cheap: the Gram matrix is computed from one FFT over the band the
filters pass, and its exact gradient is one linear filter applied to the plane.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy.signal import windows

from imaging.planes import RGBImage, as_plane, fit_long_side, luma, resize_plane

__all__ = [
    "ORIENTATIONS_DEG",
    "WAVELENGTHS",
    "WORK_LONG_SIDE",
    "FilterBank",
    "decoy_texture",
    "filter_bank",
    "gabor_responses",
    "gram_matrix",
    "style_distance",
    "style_gradient",
    "style_loss",
    "target_gram",
    "working_plane",
]

WORK_LONG_SIDE = 512
WAVELENGTHS = (8.0, 16.0, 32.0)  # pixels of the working plane, one octave apart
ORIENTATIONS_DEG = (0.0, 45.0, 90.0, 135.0)
_BANDWIDTH_OCTAVES = 1.0
_TAPER = 0.125  # fraction of each side faded by the analysis window
_NEGLIGIBLE = 1e-4  # filter gain below which a frequency is left out of the sums


@dataclass(frozen=True, slots=True)
class FilterBank:
    """The Gabor bank of one working-plane shape, restricted to the frequencies it passes.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)`` of the working plane.
    band : ndarray of intp
        Flat indices into the ``(H, W // 2 + 1)`` half spectrum (``rfft2``) where any filter's
        gain is above ``1e-4``; everything else is multiplied by (almost) zero.
    spectra : ndarray of float64, shape (len(band), K)
        Real, even filter spectra at those frequencies, each filter of unit energy.
    weights : ndarray of float64, shape (len(band),)
        1 or 2: how often each half-spectrum frequency stands in the full spectrum.
    window : ndarray of float64, shape (H, W)
        Tukey analysis window; it removes the false edges of the periodic FFT extension.
    """

    shape: tuple[int, int]
    band: NDArray[np.intp]
    spectra: NDArray[np.float64]
    weights: NDArray[np.float64]
    window: NDArray[np.float64]

    @property
    def size(self) -> int:
        """Number of filters, ``K``."""
        return int(self.spectra.shape[1])


def _gabor_spectrum(
    fy: NDArray[np.floating], fx: NDArray[np.floating], wavelength: float, angle_deg: float
) -> NDArray[np.float64]:
    """Even (cosine-phase) Gabor filter's frequency response: two Gaussian lobes at +-f0."""
    f0 = 1.0 / wavelength
    theta = np.deg2rad(angle_deg)
    along = fx * np.cos(theta) + fy * np.sin(theta)
    across = -fx * np.sin(theta) + fy * np.cos(theta)
    ratio = 2.0**_BANDWIDTH_OCTAVES
    sigma_r = f0 * (ratio - 1.0) / (ratio + 1.0) / np.sqrt(2.0 * np.log(2.0))
    sigma_t = f0 * np.tan(np.pi / (2 * len(ORIENTATIONS_DEG))) / np.sqrt(2.0 * np.log(2.0))
    lobes = np.exp(-((along - f0) ** 2) / (2 * sigma_r**2) - across**2 / (2 * sigma_t**2))
    lobes += np.exp(-((along + f0) ** 2) / (2 * sigma_r**2) - across**2 / (2 * sigma_t**2))
    return np.asarray(lobes, dtype=np.float64)


@functools.lru_cache(maxsize=16)
def filter_bank(shape: tuple[int, int]) -> FilterBank:
    """The filter bank for a working plane of ``shape = (H, W)`` (cached: it is pure).

    Raises
    ------
    ValueError
        If either side is shorter than 16 pixels.
    """
    height, width = shape
    if height < 16 or width < 16:
        raise ValueError(f"working plane must be at least 16 x 16, got {shape}")
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    full = np.stack(
        [
            _gabor_spectrum(fy, fx, wavelength, angle)
            for wavelength in WAVELENGTHS
            for angle in ORIENTATIONS_DEG
        ],
        axis=-1,
    )
    full[0, 0, :] = 0.0  # no DC: responses are zero-mean
    weights_full = np.full(fx.shape, 2.0)
    weights_full[0, 0] = 1.0
    if width % 2 == 0:
        weights_full[0, -1] = 1.0
    weights_full = np.broadcast_to(weights_full, (height, fx.shape[1]))
    # Unit energy per filter: sum over the full spectrum of |G|^2 equals H * W.
    energy = np.einsum("yxk,yx->k", full**2, weights_full)
    full *= np.sqrt(height * width / energy)
    keep = full.max(axis=-1).ravel() > _NEGLIGIBLE
    band = np.flatnonzero(keep)
    window = np.outer(
        windows.tukey(height, 2 * _TAPER, sym=False), windows.tukey(width, 2 * _TAPER, sym=False)
    )
    return FilterBank(
        shape=(height, width),
        band=band,
        spectra=full.reshape(-1, full.shape[-1])[band],
        weights=weights_full.ravel()[band],
        window=window,
    )


def working_plane(image: RGBImage) -> NDArray[np.float64]:
    """Luma of an RGB image resized so its long side is ``WORK_LONG_SIDE`` (float64, 0..255)."""
    plane = luma(image)
    size = fit_long_side((plane.shape[1], plane.shape[0]), WORK_LONG_SIDE)
    return resize_plane(plane, size).astype(np.float64)


def _spectrum(plane: NDArray[np.float64], bank: FilterBank) -> NDArray[np.complex128]:
    """Half spectrum of the mean-removed, windowed plane."""
    centred = (plane - plane.mean()) * bank.window
    return np.asarray(scipy.fft.rfft2(centred), dtype=np.complex128)


def gabor_responses(plane: NDArray[np.generic]) -> NDArray[np.float64]:
    """Responses of the bank to a working plane, by FFT convolution: shape (K, H, W).

    The plane is mean-removed and windowed first, as in `gram_matrix`; the convolution is
    circular (the window makes the wrap-around seam invisible).
    """
    values = as_plane(plane)
    bank = filter_bank((values.shape[0], values.shape[1]))
    spectrum = _spectrum(values, bank)
    out = np.empty((bank.size, *bank.shape))
    for k in range(bank.size):
        filtered = np.zeros(spectrum.size, dtype=np.complex128)
        filtered[bank.band] = spectrum.ravel()[bank.band] * bank.spectra[:, k]
        out[k] = scipy.fft.irfft2(filtered.reshape(spectrum.shape), s=bank.shape)
    return out


def _raw_gram(
    spectrum: NDArray[np.complex128], bank: FilterBank
) -> tuple[NDArray[np.float64], NDArray[np.complex128]]:
    """Gram matrix ``(1/N) F F^T`` of the responses, by Parseval, and the band spectrum."""
    n = bank.shape[0] * bank.shape[1]
    values = spectrum.ravel()[bank.band]
    power = bank.weights * (values.real**2 + values.imag**2)
    gram = (bank.spectra.T * power) @ bank.spectra / (n * n)
    return gram, values


def gram_matrix(plane: NDArray[np.generic]) -> NDArray[np.float64]:
    """Trace-normalised Gram matrix of the bank's responses to a working plane, shape (K, K).

    Parameters
    ----------
    plane : ndarray, shape (H, W)
        A working plane (see `working_plane`), not modified.

    Returns
    -------
    ndarray of float64, shape (K, K)
        Symmetric, positive semi-definite, trace 1 (all zeros for a flat plane).

    Notes
    -----
    For responses ``F_k = g_k * x`` (circular convolution) Parseval gives
    ``G_kj = (1/N) sum_p F_k(p) F_j(p) = (1/N^2) sum_w |X(w)|^2 G_k(w) G_j(w)``: the Gram matrix
    of a linear bank is a weighted sum of the power spectrum, computed here over the band the
    filters pass. It equals the Gram matrix of `gabor_responses` to rounding.

    References
    ----------
    .. [1] L. A. Gatys, A. S. Ecker and M. Bethge, "Image style transfer using convolutional
           neural networks," in Proc. CVPR, 2016, pp. 2414-2423.
    .. [2] J. G. Daugman, "Uncertainty relation for resolution in space, spatial frequency, and
           orientation optimized by two-dimensional visual cortical filters," J. Opt. Soc. Am. A,
           vol. 2, no. 7, pp. 1160-1169, 1985.
    """
    values = as_plane(plane)
    bank = filter_bank((values.shape[0], values.shape[1]))
    gram, _ = _raw_gram(_spectrum(values, bank), bank)
    trace = float(np.trace(gram))
    return gram / trace if trace > 0.0 else gram


def style_loss(plane: NDArray[np.generic], target: NDArray[np.float64]) -> float:
    """Squared Frobenius distance between the plane's normalised Gram matrix and ``target``."""
    return float(np.sum((gram_matrix(plane) - target) ** 2))


def style_distance(plane: NDArray[np.generic], target: NDArray[np.float64]) -> float:
    """Relative style distance ``||G(plane) - T||_F / ||T||_F`` (0 means the target's style)."""
    return float(np.sqrt(style_loss(plane, target)) / np.linalg.norm(target))


def style_gradient(
    plane: NDArray[np.generic], target: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """`style_loss` and its exact gradient with respect to the plane's pixels.

    Returns
    -------
    loss : float
    gradient : ndarray of float64, shape (H, W)

    Notes
    -----
    With ``E = G/t - T`` (``t`` the trace) the loss ``||E||^2`` has
    ``dL/dG = M = (2/t) (E - <E, G/t> I)``. Through the responses,
    ``dL/dF_k = (2/N) sum_j M_kj F_j``, and back through the filters (a correlation with each
    ``g_k``) the pixel gradient is one filter applied to the plane: ``dL/dx = (2/N) IFFT(H X)`` with
    ``H(w) = sum_kj M_kj G_k(w) G_j(w)``, then back through the window and the mean removal.
    """
    values = as_plane(plane)
    bank = filter_bank((values.shape[0], values.shape[1]))
    spectrum = _spectrum(values, bank)
    gram, band_values = _raw_gram(spectrum, bank)
    n = bank.shape[0] * bank.shape[1]
    trace = float(np.trace(gram))
    if trace <= 0.0:
        return float(np.sum(target**2)), np.zeros(bank.shape)
    error = gram / trace - target
    loss = float(np.sum(error**2))
    outer = (2.0 / trace) * (error - np.sum(error * gram / trace) * np.eye(bank.size))
    gain = np.einsum("bk,kj,bj->b", bank.spectra, outer, bank.spectra)
    filtered = np.zeros(spectrum.size, dtype=np.complex128)
    filtered[bank.band] = gain * band_values
    grad_windowed = (2.0 / n) * scipy.fft.irfft2(filtered.reshape(spectrum.shape), s=bank.shape)
    grad = grad_windowed * bank.window
    return loss, grad - grad.mean()


def _key_rng(purpose: bytes, key: bytes) -> np.random.Generator:
    digest = hashlib.sha256(b"gesso/" + purpose + b"\x00" + key).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def decoy_texture(artist_key: bytes, *, size: int = WORK_LONG_SIDE) -> NDArray[np.float64]:
    """A texture made from the artist key alone: the style the cloak pulls that artist towards.

    Filtered noise with one dominant orientation and scale and a weaker second one, all drawn
    from a generator seeded by ``SHA-256(key)``: the same key always gives the same texture.
    Values are around 128 with a standard deviation of about 30 grey levels.
    """
    rng = _key_rng(b"decoy", artist_key)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    envelope = np.zeros((size, fx.shape[1]))
    for weight in (1.0, 0.35):
        wavelength = float(np.exp(rng.uniform(np.log(7.0), np.log(36.0))))
        angle = float(rng.uniform(0.0, 180.0))
        envelope += weight * _gabor_spectrum(fy, fx, wavelength, angle)
    noise = scipy.fft.rfft2(rng.standard_normal((size, size)))
    texture = scipy.fft.irfft2(noise * envelope, s=(size, size))
    texture *= 30.0 / max(float(texture.std()), 1e-12)
    return np.asarray(texture + 128.0, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def target_gram(artist_key: bytes) -> NDArray[np.float64]:
    """The artist's target style: `gram_matrix` of `decoy_texture` (read-only, cached)."""
    gram = gram_matrix(decoy_texture(artist_key))
    gram.flags.writeable = False
    return gram
