"""Just-noticeable-difference (JND) map of a luma plane: how far each pixel may move unseen.

The cloak bounds every gradient step by this map and the watermark scales its strength by it, so
both hide in bright-or-dark and textured areas and stay small on flat mid-grey and on clean edges.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from imaging.planes import as_plane

__all__ = ["JND_CAP", "jnd_map", "luminance_threshold"]

# Chou & Li (1995): background luminance is a 5x5 weighted mean without the centre pixel ...
_BACKGROUND = (
    np.array(
        [
            [1, 1, 1, 1, 1],
            [1, 2, 2, 2, 1],
            [1, 2, 0, 2, 1],
            [1, 2, 2, 2, 1],
            [1, 1, 1, 1, 1],
        ],
        dtype=np.float64,
    )
    / 32.0
)

# ... and the local contrast is the largest of four directional high-pass responses.
_DIRECTIONAL = (
    np.array(
        [
            [
                [0, 0, 0, 0, 0],
                [1, 3, 8, 3, 1],
                [0, 0, 0, 0, 0],
                [-1, -3, -8, -3, -1],
                [0, 0, 0, 0, 0],
            ],
            [
                [0, 0, 1, 0, 0],
                [0, 8, 3, 0, 0],
                [1, 3, 0, -3, -1],
                [0, 0, -3, -8, 0],
                [0, 0, -1, 0, 0],
            ],
            [
                [0, 0, 1, 0, 0],
                [0, 0, 3, 8, 0],
                [-1, -3, 0, 3, 1],
                [0, -8, -3, 0, 0],
                [0, 0, -1, 0, 0],
            ],
            [
                [0, 1, 0, -1, 0],
                [0, 3, 0, -3, 0],
                [0, 8, 0, -8, 0],
                [0, 3, 0, -3, 0],
                [0, 1, 0, -1, 0],
            ],
        ],
        dtype=np.float64,
    )
    / 16.0
)

# Chou & Li allow up to 20 grey levels in near-black areas; SSIM and bright screens notice far
# less than that, so the stages cap the map (``jnd_map(plane, cap=JND_CAP)``).
JND_CAP = 6.0
_TEXTURE_GAIN = 0.117  # eta in Yang et al. (2005)
_OVERLAP = 0.3  # C in the nonlinear additivity model for masking (NAMM)
_EDGE_WEIGHT = 0.1  # texture masking kept on edges, where distortion shows (Yang et al.)


def luminance_threshold(background: NDArray[np.float64]) -> NDArray[np.float64]:
    """Visibility threshold from luminance adaptation alone, in grey levels (Chou & Li, 1995).

    High in dark areas (the eye is less sensitive there), 3 grey levels around mid-grey, rising
    slowly towards white.
    """
    dark = 17.0 * (1.0 - np.sqrt(np.clip(background, 0.0, 127.0) / 127.0)) + 3.0
    bright = 3.0 / 128.0 * (background - 127.0) + 3.0
    return np.where(background <= 127.0, dark, bright)


def _edge_weight(plane: NDArray[np.float64]) -> NDArray[np.float64]:
    """1 in texture and flat areas, about 0.1 on and next to strong coherent edges."""
    smooth = ndimage.gaussian_filter(plane, 1.0)
    gy = ndimage.sobel(smooth, axis=0)
    gx = ndimage.sobel(smooth, axis=1)
    # Structure tensor: an edge has strong gradient energy in one direction only.
    jxx = ndimage.gaussian_filter(gx * gx, 1.5)
    jyy = ndimage.gaussian_filter(gy * gy, 1.5)
    jxy = ndimage.gaussian_filter(gx * gy, 1.5)
    trace = jxx + jyy
    root = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy * jxy)
    coherence = np.where(trace > 1e-9, root / np.maximum(trace, 1e-9), 0.0)
    strength = np.sqrt(trace) / 8.0  # Sobel gain: about grey levels per pixel
    edginess = coherence * np.clip(strength / 24.0, 0.0, 1.0)
    edginess = ndimage.gaussian_filter(edginess, 1.0)
    return np.asarray(1.0 - (1.0 - _EDGE_WEIGHT) * np.clip(edginess, 0.0, 1.0), dtype=np.float64)


def jnd_map(plane: NDArray[np.generic], *, cap: float | None = None) -> NDArray[np.float64]:
    """Per-pixel JND of a luma plane in grey levels (0..255 scale).

    Parameters
    ----------
    plane : ndarray, shape (H, W)
        Luma in ``[0, 255]``, any real dtype. Not modified.
    cap : float, optional
        Upper bound applied to the result (the stages use `JND_CAP`, 6 grey levels).

    Returns
    -------
    ndarray of float64, shape (H, W)
        Positive thresholds, at least 3 grey levels in flat mid-grey areas.

    Raises
    ------
    ValueError
        If ``plane`` is not two-dimensional (at least 2 x 2).

    Notes
    -----
    Luminance adaptation ``T_l`` and the background luminance follow Chou & Li [1]_. Texture
    masking is ``T_t = eta * mg * W_e``, where ``mg`` is Chou & Li's largest directional gradient
    and ``W_e`` lowers the masking on coherent edges (Yang et al. [2]_ use Canny edges; here the
    coherence of the structure tensor plays that part, which needs no threshold). The two are
    combined with the nonlinear additivity model of Yang et al. [2]_:
    ``JND = T_l + T_t - C * min(T_l, T_t)`` with ``C = 0.3``.

    References
    ----------
    .. [1] C.-H. Chou and Y.-C. Li, "A perceptually tuned subband image coder based on the measure
           of just-noticeable-distortion profile," IEEE Trans. Circuits Syst. Video Technol.,
           vol. 5, no. 6, pp. 467-476, 1995.
    .. [2] X. Yang, W. Lin, Z. Lu, E. Ong and S. Yao, "Just noticeable distortion model and its
           applications in video coding," Signal Processing: Image Communication, vol. 20, no. 7,
           pp. 662-680, 2005.
    """
    luma = as_plane(plane, name="plane")
    background = ndimage.correlate(luma, _BACKGROUND, mode="reflect")
    gradient = np.max(
        [np.abs(ndimage.correlate(luma, kernel, mode="reflect")) for kernel in _DIRECTIONAL],
        axis=0,
    )
    t_lum = luminance_threshold(background)
    t_tex = _TEXTURE_GAIN * gradient * _edge_weight(luma)
    out = t_lum + t_tex - _OVERLAP * np.minimum(t_lum, t_tex)
    if cap is not None:
        np.minimum(out, cap, out=out)
    return np.asarray(out, dtype=np.float64)
