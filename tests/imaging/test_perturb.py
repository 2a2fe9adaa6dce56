"""The cloak: JND map, Gabor Gram statistics and their gradient, and the cloak's effect."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from imaging import jnd, perturb, style
from imaging.planes import apply_luma_delta
from imaging.report import psnr
from tests.imaging.images import blur, photo_like, recompress, rescale

KEY = b"artist-key-1"


@pytest.fixture(scope="module")
def photo() -> NDArray[np.uint8]:
    return photo_like(768, 1024, seed=21)


@pytest.fixture(scope="module")
def cloaked(photo: NDArray[np.uint8]) -> perturb.CloakResult:
    return perturb.cloak(photo, artist_key=KEY)


def test_luminance_threshold_matches_chou_and_li() -> None:
    # T_l(0) = 17 + 3, T_l(127) = 3, T_l(255) = 3/128 * 128 + 3 (Chou & Li 1995, eq. 2).
    values = jnd.luminance_threshold(np.array([0.0, 127.0, 255.0]))
    assert np.allclose(values, [20.0, 3.0, 6.0])


def test_jnd_is_higher_in_texture_than_on_flat_grey() -> None:
    rng = np.random.default_rng(1)
    flat = np.full((64, 64), 127.0)
    textured = flat + rng.normal(0.0, 20.0, flat.shape)
    assert np.allclose(jnd.jnd_map(flat), 3.0)
    assert jnd.jnd_map(textured).mean() > 4.0
    assert jnd.jnd_map(textured, cap=4.0).max() <= 4.0
    with pytest.raises(ValueError, match=r"\(64, 64, 3\)"):
        jnd.jnd_map(np.zeros((64, 64, 3)))


def test_gram_matrix_equals_that_of_the_fft_convolution_responses() -> None:
    plane = ndimage.gaussian_filter(np.random.default_rng(2).normal(128, 30, (96, 80)), 1.0)
    responses = style.gabor_responses(plane).reshape(12, -1)
    gram = responses @ responses.T / responses.shape[1]
    assert np.allclose(style.gram_matrix(plane), gram / np.trace(gram), rtol=1e-9, atol=1e-12)


def test_a_grating_excites_its_own_filter() -> None:
    yy, _xx = np.mgrid[0:128, 0:128]
    grating = 128 + 50 * np.cos(2 * np.pi * yy / 16.0)  # varies along y: the 90 degree filter
    diagonal = np.diag(style.gram_matrix(grating))
    index = style.WAVELENGTHS.index(16.0) * 4 + style.ORIENTATIONS_DEG.index(90.0)
    assert int(np.argmax(diagonal)) == index
    assert diagonal[index] > 0.5


def test_style_gradient_matches_finite_differences() -> None:
    plane = ndimage.gaussian_filter(np.random.default_rng(3).normal(128, 30, (40, 48)), 1.0)
    target = style.target_gram(KEY)
    _, gradient = style.style_gradient(plane, target)
    step = 1e-4
    for y, x in [(5, 7), (20, 30), (0, 0), (39, 47)]:
        plus, minus = plane.copy(), plane.copy()
        plus[y, x] += step
        minus[y, x] -= step
        numeric = (style.style_loss(plus, target) - style.style_loss(minus, target)) / (2 * step)
        assert numeric == pytest.approx(gradient[y, x], rel=1e-5, abs=1e-12)


def test_plane_functions_leave_their_input_alone() -> None:
    plane = np.random.default_rng(4).normal(128, 30, (48, 64))
    before = plane.copy()
    jnd.jnd_map(plane, cap=6.0)
    style.gram_matrix(plane)
    style.style_gradient(plane, style.target_gram(KEY))
    style.gabor_responses(plane)
    assert np.array_equal(plane, before)


def test_the_target_depends_only_on_the_key() -> None:
    first, again, other = style.target_gram(b"a"), style.target_gram(b"a"), style.target_gram(b"b")
    assert np.array_equal(first, again)
    assert np.trace(first) == pytest.approx(1.0)
    assert np.abs(first - other).max() > 0.05
    assert np.array_equal(style.decoy_texture(b"a"), style.decoy_texture(b"a"))


def test_cloak_output_is_deterministic_and_the_input_is_untouched(
    photo: NDArray[np.uint8], cloaked: perturb.CloakResult
) -> None:
    before = photo.copy()
    again = perturb.cloak(photo, artist_key=KEY)
    assert np.array_equal(photo, before)
    assert np.array_equal(again.pixels, cloaked.pixels)
    assert cloaked.pixels.dtype == np.uint8
    assert cloaked.pixels.shape == photo.shape
    assert cloaked.delta.shape == (384, 512)  # the working plane: long side 512
    assert not np.array_equal(
        perturb.cloak(photo, artist_key=b"someone else").pixels, cloaked.pixels
    )


def test_cloak_accepts_float_images(photo: NDArray[np.uint8]) -> None:
    as_float = photo[:256, :256] / 255.0
    result = perturb.cloak(as_float, artist_key=KEY)
    assert result.pixels.dtype == np.uint8
    assert result.pixels.shape == (256, 256, 3)


def test_cloak_moves_the_style_towards_the_target(
    photo: NDArray[np.uint8], cloaked: perturb.CloakResult
) -> None:
    assert cloaked.distance_after < cloaked.distance_before
    effect = perturb.cloak_effect(photo, cloaked.pixels, artist_key=KEY)
    assert effect > 0.02
    assert psnr(photo, cloaked.pixels) > 42.0


def test_cloak_beats_random_noise_of_the_same_per_pixel_size_tenfold() -> None:
    # At 512 x 384 the working plane is the image: the noise has exactly |delta| at every pixel.
    image = photo_like(384, 512, seed=22)
    result = perturb.cloak(image, artist_key=KEY)
    noise = perturb.matched_noise(result.delta, seed=5)
    assert np.array_equal(np.abs(noise), np.abs(result.delta))
    noisy = apply_luma_delta(image, noise)
    cloak = perturb.cloak_effect(image, result.pixels, artist_key=KEY)
    control = perturb.cloak_effect(image, noisy, artist_key=KEY)
    assert cloak >= 10.0 * abs(control)


@pytest.mark.parametrize(
    "transform",
    [lambda image: recompress(image, "JPEG", 75), lambda image: rescale(image, 0.5), blur],
    ids=["jpeg75", "half", "blur1"],
)
def test_most_of_the_effect_survives(
    photo: NDArray[np.uint8],
    cloaked: perturb.CloakResult,
    transform: Callable[[NDArray[np.uint8]], NDArray[np.uint8]],
) -> None:
    effect = perturb.cloak_effect(photo, cloaked.pixels, artist_key=KEY)
    after = perturb.cloak_effect(transform(photo), transform(cloaked.pixels), artist_key=KEY)
    assert after >= 0.6 * effect


def test_intensity_trades_effect_for_fidelity(photo: NDArray[np.uint8]) -> None:
    image = photo[:384, :512]
    effects, fidelities = [], []
    for intensity in ("low", "default", "high"):
        pixels = perturb.cloak(image, artist_key=KEY, intensity=intensity).pixels
        effects.append(perturb.cloak_effect(image, pixels, artist_key=KEY))
        fidelities.append(psnr(image, pixels))
    assert effects[0] < effects[1] < effects[2]
    assert fidelities[0] > fidelities[1] > fidelities[2]


def test_bad_arguments(photo: NDArray[np.uint8]) -> None:
    with pytest.raises(ValueError, match="intensity"):
        perturb.cloak(photo, artist_key=KEY, intensity="max")
    with pytest.raises(ValueError, match=r"\(768, 1024\)"):
        perturb.cloak(photo[..., 0], artist_key=KEY)
    with pytest.raises(ValueError, match="dtype int64"):
        perturb.cloak(photo.astype(np.int64), artist_key=KEY)
    with pytest.raises(ValueError, match=r"\(4, 4, 4\)"):
        perturb.matched_noise(np.zeros((4, 4, 4)), seed=1)


def test_a_scaled_cloak_moves_the_same_way_less() -> None:
    image = photo_like(256, 320, seed=11)
    result = perturb.cloak(image, artist_key=b"scaled")
    # the whole change is the cloak itself, none is the image
    whole = perturb.scaled(image, result, 1.0, artist_key=b"scaled")
    assert np.array_equal(whole.pixels, result.pixels)
    assert whole.distance_after == pytest.approx(result.distance_after, abs=1e-6)
    assert np.array_equal(perturb.scaled(image, result, 0.0, artist_key=b"scaled").pixels, image)
    half = perturb.scaled(image, result, 0.5, artist_key=b"scaled")
    moved = np.abs(half.pixels.astype(int) - image.astype(int))
    assert 0 < moved.sum() < np.abs(result.pixels.astype(int) - image.astype(int)).sum()
    assert result.distance_after < half.distance_after < result.distance_before
    for factor in (-0.1, 1.5):
        with pytest.raises(ValueError, match="factor"):
            perturb.scaled(image, result, factor, artist_key=b"scaled")
