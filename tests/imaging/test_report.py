"""The quality report: metrics against scikit-image's reference implementations, sampling, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.typing import NDArray
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from imaging import report
from imaging.planes import luma
from tests.imaging.images import photo_like


def _pair(height: int, width: int, seed: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    original = photo_like(height, width, seed=seed)
    changed = np.clip(original.astype(int) + rng.integers(-3, 4, original.shape), 0, 255)
    return original, changed.astype(np.uint8)


def test_psnr_matches_scikit_image() -> None:
    original, changed = _pair(120, 160, 61)
    reference = peak_signal_noise_ratio(original, changed, data_range=255)  # type: ignore[no-untyped-call]
    assert report.psnr(original, changed) == pytest.approx(reference, rel=1e-12)
    assert report.psnr(original, original) == float("inf")


def test_ssim_is_exact_on_small_images_and_a_close_estimate_on_large_ones() -> None:
    original, changed = _pair(120, 160, 62)
    exact = structural_similarity(luma(original), luma(changed), data_range=255.0)  # type: ignore[no-untyped-call]
    value, pixels = report.ssim(original, changed)
    assert value == pytest.approx(exact, abs=1e-9)
    assert pixels == 120 * 160
    big_a, big_b = _pair(1100, 1000, 63)
    estimate, sampled = report.ssim(big_a, big_b)
    full = structural_similarity(luma(big_a), luma(big_b), data_range=255.0)  # type: ignore[no-untyped-call]
    assert sampled < 1100 * 1000
    assert estimate == pytest.approx(full, abs=0.003)


def test_ciede2000_matches_scikit_image_and_samples_large_images() -> None:
    original, changed = _pair(100, 120, 64)
    reference = deltaE_ciede2000(rgb2lab(original), rgb2lab(changed))  # type: ignore[no-untyped-call]
    mean, p99, pixels = report.ciede2000(original, changed)
    assert mean == pytest.approx(reference.mean(), abs=1e-4)
    assert p99 == pytest.approx(np.percentile(reference, 99), abs=1e-3)
    assert pixels == 100 * 120
    sampled_mean, _, sampled = report.ciede2000(original, changed, max_pixels=5000)
    assert sampled == 5000
    assert sampled_mean == pytest.approx(reference.mean(), abs=0.03)


def test_fidelity_and_json() -> None:
    original, changed = _pair(64, 64, 65)
    before = changed.copy()
    quality = report.fidelity(original, changed)
    assert np.array_equal(changed, before)
    assert 30.0 < quality.psnr_db < 50.0
    check = report.DerivativeCheck("display.webp", 64, 64, 1000, 64, True, True, 0.05)
    full = report.ProtectionReport(
        fidelity=report.fidelity(original, original),
        cloak_effect=0.1,
        cloak_distance=(1.0, 0.9),
        intensity="default",
        watermark_strength=1.0,
        watermark_payload_bits=64,
        derivatives=(check,),
        timings={"ingest": 0.1},
    )
    as_dict = full.to_dict()
    assert as_dict["fidelity"]["psnr_db"] is None
    assert as_dict["derivatives"][0]["name"] == "display.webp"
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_shapes_are_checked() -> None:
    original, _ = _pair(64, 64, 66)
    with pytest.raises(ValueError, match=r"\(64, 64, 3\) and \(64, 60, 3\)"):
        report.fidelity(original, original[:, :60])
    with pytest.raises(ValueError, match=r"\(6, 6, 3\)"):
        report.ssim(original[:6, :6], original[:6, :6])
