"""The style cloak: a small, bounded change that pulls an image's style statistics to a decoy's.

Projected gradient descent on `imaging.style.style_loss` (the distance between the image's Gabor
Gram matrix and the artist's target Gram matrix) over a working copy of the luma whose long side
is 512 pixels. Each step, and the sum of the steps, is bounded per pixel by a multiple of the
just-noticeable-difference map (`imaging.jnd.jnd_map`); the finished change is resized to the
image and added equally to R, G and B.

What it is and is not: the statistic is hand-made (a linear filter bank), so the cloak is measured
against that surrogate, not against a diffusion model's encoder; noisy upscaling or regeneration
removes it. Because the Gram matrix of linear filters depends only on the power spectrum, the
cloak reshapes how texture energy is spread over orientations and scales.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from imaging.jnd import JND_CAP, jnd_map
from imaging.planes import RGBImage, apply_luma_delta, as_rgb_uint8, resize_plane
from imaging.style import style_distance, style_gradient, target_gram, working_plane

__all__ = [
    "INTENSITIES",
    "CloakResult",
    "Intensity",
    "cloak",
    "cloak_effect",
    "distance_shrink",
    "matched_noise",
    "scaled",
    "surrogate_distance",
]

Intensity = Literal["low", "default", "high"]


@dataclass(frozen=True, slots=True)
class _Schedule:
    bound: float  # the total change may reach bound * JND at each pixel
    steps: int
    step: float  # each step moves a pixel by at most step * bound * JND


INTENSITIES: dict[str, _Schedule] = {
    "low": _Schedule(bound=0.25, steps=10, step=0.2),
    "default": _Schedule(bound=0.5, steps=12, step=0.2),
    "high": _Schedule(bound=1.0, steps=14, step=0.2),
}


@dataclass(frozen=True, slots=True)
class CloakResult:
    """What `cloak` returns.

    Attributes
    ----------
    pixels : ndarray of uint8, shape (H, W, 3)
        The cloaked image.
    delta : ndarray of float32, shape (h, w)
        The luma change on the working plane (long side 512), before resizing to the image.
    distance_before, distance_after : float
        `imaging.style.style_distance` of the working plane to the target, before and after the
        (unrounded) change; the effect on the final pixels is `cloak_effect`.
    """

    pixels: RGBImage
    delta: NDArray[np.float32]
    distance_before: float
    distance_after: float


def cloak(
    image: NDArray[np.generic],
    *,
    artist_key: bytes,
    intensity: Intensity | str = "default",
) -> CloakResult:
    """Cloak an RGB image towards the style of the artist's decoy texture.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        ``uint8``, or float in ``[0, 1]``. Not modified.
    artist_key : bytes
        Secret of the artist; the same key and image always give the same result.
    intensity : {"low", "default", "high"}
        How far each pixel may move, as a multiple of its JND (0.25, 0.5, 1.0).

    Returns
    -------
    CloakResult
        ``pixels`` is ``uint8`` with the input's shape.

    Raises
    ------
    ValueError
        If the image is not ``(H, W, 3)`` or the intensity is unknown.

    Notes
    -----
    Each step is ``delta <- clip(delta - s * b * J * clip(g / q, -1, 1), -b * J, b * J)`` where
    ``g`` is the exact gradient of the style loss (`imaging.style.style_gradient`), ``q`` its
    99th percentile magnitude, ``J`` the JND map of `imaging.jnd.jnd_map` (Chou & Li; Yang et
    al.; capped at 6 grey levels), ``b`` the bound and ``s`` the step of the intensity. This is
    the projected gradient method of Madry et al. [1]_ with a per-pixel box instead of a
    uniform one; the levels follow Glaze's low / default / high [2]_.

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras and A. Vladu, "Towards deep learning
           models resistant to adversarial attacks," in Proc. ICLR, 2018.
    .. [2] S. Shan, J. Cryan, E. Wenger, H. Zheng, R. Hanocka and B. Y. Zhao, "Glaze: Protecting
           artists from style mimicry by text-to-image models," in Proc. USENIX Security, 2023.
    """
    rgb = as_rgb_uint8(image)
    schedule = INTENSITIES.get(intensity)
    if schedule is None:
        raise ValueError(f"intensity must be one of {sorted(INTENSITIES)}, got {intensity!r}")
    target = target_gram(artist_key)
    plane = working_plane(rgb)
    bound = schedule.bound * jnd_map(plane, cap=JND_CAP)
    delta = np.zeros_like(plane)
    loss_before = 0.0
    for step in range(schedule.steps):
        loss, grad = style_gradient(plane + delta, target)
        if step == 0:
            loss_before = loss
        scale = float(np.percentile(np.abs(grad), 99.0))
        if scale <= 0.0:
            break
        delta -= schedule.step * bound * np.clip(grad / scale, -1.0, 1.0)
        np.clip(delta, -bound, bound, out=delta)
    height, width = rgb.shape[:2]
    full = resize_plane(delta, (width, height))
    norm = float(np.linalg.norm(target))
    return CloakResult(
        pixels=apply_luma_delta(rgb, full),
        delta=delta.astype(np.float32),
        distance_before=float(np.sqrt(loss_before) / norm),
        distance_after=style_distance(plane + delta, target),
    )


def scaled(
    image: NDArray[np.generic], result: CloakResult, factor: float, *, artist_key: bytes
) -> CloakResult:
    """``result`` (of `cloak` on ``image`` with ``artist_key``) with its change multiplied by
    ``factor`` in ``[0, 1]``: the same direction, smaller; ``distance_after`` measured again.

    Raises
    ------
    ValueError
        If ``factor`` is outside ``[0, 1]`` or ``image`` is not ``(H, W, 3)``.
    """
    if not 0.0 <= factor <= 1.0:
        raise ValueError(f"factor must be in [0, 1], got {factor}")
    rgb = as_rgb_uint8(image)
    delta = (result.delta * np.float32(factor)).astype(np.float32)
    height, width = rgb.shape[:2]
    full = resize_plane(delta.astype(np.float64), (width, height))
    plane = working_plane(rgb)
    return CloakResult(
        pixels=apply_luma_delta(rgb, full),
        delta=delta,
        distance_before=result.distance_before,
        distance_after=style_distance(plane + delta, target_gram(artist_key)),
    )


def cloak_effect(
    original: NDArray[np.generic], changed: NDArray[np.generic], *, artist_key: bytes
) -> float:
    """Relative shrink of the surrogate style distance to the artist's target.

    ``(d(original) - d(changed)) / d(original)`` with ``d`` = `imaging.style.style_distance` on
    each image's working plane. Positive when ``changed`` is closer to the target style; the two
    images may differ in size (a derivative against the original).

    Raises
    ------
    ValueError
        If either image is not ``(H, W, 3)``.
    """
    before = surrogate_distance(as_rgb_uint8(original, name="original"), artist_key=artist_key)
    after = surrogate_distance(as_rgb_uint8(changed, name="changed"), artist_key=artist_key)
    return distance_shrink(before, after)


def distance_shrink(before: float, after: float) -> float:
    """``(before - after) / before``: the cloak effect from two style distances (0 if none)."""
    return (before - after) / before if before > 0.0 else 0.0


def surrogate_distance(image: NDArray[np.generic], *, artist_key: bytes) -> float:
    """The surrogate's style distance of an RGB image to the artist's target style.

    `imaging.style.style_distance` of the image's working plane (luma, long side 512) to
    `imaging.style.target_gram` of the key: 0 is the decoy's style, about 1 is unrelated.

    Raises
    ------
    ValueError
        If the image is not ``(H, W, 3)``.
    """
    plane = working_plane(as_rgb_uint8(image))
    return style_distance(plane, target_gram(artist_key))


def matched_noise(delta: NDArray[np.generic], *, seed: int) -> NDArray[np.float64]:
    """Noise with exactly the per-pixel magnitude of ``delta``: ``|delta|`` with random signs.

    The control for the cloak: the same L2 and L-infinity norm and the same spatial layout, but no
    direction. ``seed`` feeds a local generator.

    Raises
    ------
    ValueError
        If ``delta`` is not two-dimensional.
    """
    if delta.ndim != 2:
        raise ValueError(f"delta must have shape (H, W), got {delta.shape}")
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=delta.shape)
    return np.asarray(np.abs(delta.astype(np.float64)) * signs, dtype=np.float64)
