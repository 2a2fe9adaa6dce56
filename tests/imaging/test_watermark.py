"""The watermark: payload, round trip, robustness, crops, and no false ids on unmarked images."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from imaging import geometry, tiling, watermark
from imaging.planes import luma
from imaging.report import psnr
from tests.imaging import pictures
from tests.imaging.images import blur, photo_like, recompress, rescale

KEY = b"platform-watermark-key"
ASSET = 0xA1B2_C3D4_E5F6  # 48 bits


@pytest.fixture(scope="module")
def photo() -> NDArray[np.uint8]:
    return photo_like(1024, 1280, seed=31)


@pytest.fixture(scope="module")
def marked(photo: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return watermark.embed(photo, asset_id=ASSET, key=KEY)


def test_payload_is_the_id_then_its_keyed_check_bits() -> None:
    bits = watermark.payload_bits(ASSET, key=KEY)
    assert bits.shape == (64,)
    assert int("".join("1" if bit else "0" for bit in bits[:48]), 2) == ASSET
    assert not np.array_equal(bits[48:], watermark.payload_bits(ASSET, key=b"other")[48:])
    with pytest.raises(ValueError, match="2\\*\\*48"):
        watermark.payload_bits(1 << 48, key=KEY)
    with pytest.raises(ValueError, match="-1"):
        watermark.payload_bits(-1, key=KEY)


def test_round_trip_leaves_the_input_alone(
    photo: NDArray[np.uint8], marked: NDArray[np.uint8]
) -> None:
    before = photo.copy()
    again = watermark.embed(photo, asset_id=ASSET, key=KEY)
    assert np.array_equal(photo, before)
    assert np.array_equal(again, marked)
    assert marked.dtype == np.uint8
    assert marked.shape == photo.shape
    decoded = watermark.decode(marked, key=KEY)
    assert decoded.asset_id == ASSET
    assert watermark.bit_accuracy(decoded, ASSET, key=KEY) == 1.0
    assert decoded.period == (64.0, 64.0)
    assert psnr(photo, marked) > 43.0


def test_the_key_is_needed(marked: NDArray[np.uint8]) -> None:
    assert watermark.decode(marked, key=b"wrong key").asset_id is None


ATTACKS: dict[str, Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = {
    "jpeg50": lambda image: recompress(image, "JPEG", 50),
    "webp75": lambda image: recompress(image, "WEBP", 75),
    "half": lambda image: rescale(image, 0.5),
    "blur1": blur,
}


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_survives_compression_resizing_and_blur(marked: NDArray[np.uint8], attack: str) -> None:
    decoded = watermark.decode(ATTACKS[attack](marked), key=KEY)
    assert watermark.bit_accuracy(decoded, ASSET, key=KEY) >= 0.99
    assert decoded.asset_id == ASSET


CROPS: dict[str, Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = {
    "left": lambda image: image[:, image.shape[1] // 10 :],
    "right": lambda image: image[:, : image.shape[1] - image.shape[1] // 10],
    "top": lambda image: image[image.shape[0] // 10 :],
    "bottom": lambda image: image[: image.shape[0] - image.shape[0] // 10],
}


@pytest.mark.parametrize("edge", list(CROPS), ids=list(CROPS))
def test_survives_cropping_ten_percent_off_one_edge(marked: NDArray[np.uint8], edge: str) -> None:
    decoded = watermark.decode(np.ascontiguousarray(CROPS[edge](marked)), key=KEY)
    assert watermark.bit_accuracy(decoded, ASSET, key=KEY) >= 0.95
    stretched = decoded.period[0] if edge in {"left", "right"} else decoded.period[1]
    assert stretched == pytest.approx(64 / 0.9, abs=0.5)


def _unmarked(rng: np.random.Generator, index: int) -> NDArray[np.uint8]:
    height, width = (int(side) for side in rng.integers(64, 400, 2))
    kind = index % 5
    if kind == 0:
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == 1:
        return photo_like(height, width, seed=10_000 + index)
    if kind == 2:
        walk = np.cumsum(rng.normal(0.0, 4.0, (height, width, 3)), axis=1) + rng.uniform(40, 200)
        return np.clip(walk, 0, 255).astype(np.uint8)
    if kind == 3:
        name = pictures.PICTURES[index // 5 % len(pictures.PICTURES)]
        image = pictures.picture(name, min_side=512)
        top, left = int(rng.integers(0, 200)), int(rng.integers(0, 200))
        crop = image[top : top + 64 + 4 * height // 3, left : left + 64 + 4 * width // 3]
        return recompress(np.ascontiguousarray(crop), "JPEG", 80)
    level = rng.integers(0, 256, 3)
    return np.broadcast_to(level.astype(np.uint8), (height, width, 3)).copy()


def test_unmarked_images_give_no_id() -> None:
    rng = np.random.default_rng(32)
    found = [watermark.decode(_unmarked(rng, index), key=KEY).asset_id for index in range(100)]
    assert found.count(None) == 100


def test_marking_with_another_id_reads_that_id(photo: NDArray[np.uint8]) -> None:
    small = np.ascontiguousarray(photo[:512, :640])
    for asset_id in (0, 1, (1 << 48) - 1):
        assert (
            watermark.decode(watermark.embed(small, asset_id=asset_id, key=KEY), key=KEY).asset_id
            == asset_id
        )


def test_fold_averages_the_copies_of_a_tile() -> None:
    tile = np.random.default_rng(33).normal(size=(64, 64))
    plane = np.tile(tile, (8, 8)).astype(np.float32)
    assert np.allclose(tiling.fold(plane), tile, atol=1e-5)
    assert np.allclose(tiling.fold(plane[:100, :130]), tile, atol=1e-5)


def test_the_lattice_is_found_after_a_crop(marked: NDArray[np.uint8]) -> None:
    grid = tiling.to_grid(luma(marked))
    assert np.allclose(geometry.lattice_candidates(grid)[0], np.eye(2) * 64, atol=0.2)
    cropped = np.ascontiguousarray(marked[:, : int(marked.shape[1] * 0.7)])
    basis = geometry.lattice_candidates(tiling.to_grid(luma(cropped)))[0]
    assert np.allclose(basis, [[64 / 0.7, 0.0], [0.0, 64.0]], atol=0.2)


def test_the_lattice_turns_with_the_picture(marked: NDArray[np.uint8]) -> None:
    turned = pictures.rotate(3.0)(marked)
    basis = geometry.lattice_candidates(tiling.to_grid(luma(turned)))[0]
    # Counter-clockwise on screen (y down): x moves up (-y), y moves right (+x); the grid
    # stretches the 1280 x 1024 picture's x by 512/1280 and y by 512/1024.
    angle = np.radians(3.0)
    sx, sy = 512 / 1280, 512 / 1024
    expected_x = 64 * np.array([np.cos(angle), -np.sin(angle) * sy / sx])
    expected_y = 64 * np.array([np.sin(angle) * sx / sy, np.cos(angle)])
    assert np.allclose(basis[:, 0], expected_x, atol=0.4)
    assert np.allclose(basis[:, 1], expected_y, atol=0.4)


def test_folding_part_of_a_plane_leaves_no_step() -> None:
    rng = np.random.default_rng(34)
    tile = rng.normal(size=(64, 64))
    plane = np.tile(tile, (3, 3)).astype(np.float32)
    inside = np.ones(plane.shape, dtype=bool)
    inside[:, 150:] = False  # the last tile column only partly inside
    assert np.allclose(geometry.fold_inside(plane, inside), tile, atol=1e-5)


def test_bad_arguments(photo: NDArray[np.uint8]) -> None:
    with pytest.raises(ValueError, match=r"\(32, 640, 3\)"):
        watermark.embed(photo[:32, :640], asset_id=1, key=KEY)
    with pytest.raises(ValueError, match="strength"):
        watermark.embed(photo, asset_id=1, key=KEY, strength=0.0)
    with pytest.raises(ValueError, match=r"\(1024, 1280\)"):
        watermark.decode(photo[..., 0], key=KEY)


# --- real pictures and reposts -------------------------------------------------------------------

REAL = ("coffee", "astronaut", "hubble_deep_field")


@pytest.fixture(scope="module")
def published() -> dict[str, NDArray[np.uint8]]:
    """Real pictures (upscaled to 1024 px), marked and published as JPEG q85."""
    return {
        name: recompress(
            watermark.embed(pictures.picture(name), asset_id=ASSET, key=KEY), "JPEG", 85
        )
        for name in REAL
    }


REPOSTS: dict[str, pictures.Attack] = {
    "crop 35% left": pictures.crop_edge("left", 0.35),
    "crop 35% bottom": pictures.crop_edge("bottom", 0.35),
    "centre crop 30%": pictures.crop_centre(0.3),
    "square feed": pictures.feed_crop(1.0),
    "4:5 feed": pictures.feed_crop(0.8),
    "rotate 2": pictures.rotate(2.0),
    "rotate -3, border cropped": pictures.rotate(-3.0, crop_border=True),
    "flip": pictures.flip,
    "flip and rotate 1": lambda image: pictures.rotate(1.0)(pictures.flip(image)),
    "crop 5% + 0.5x + JPEG q75": pictures.crop_shrink_jpeg,
    "print-scan chain": pictures.print_scan,
}


@pytest.mark.parametrize("attack", list(REPOSTS), ids=list(REPOSTS))
def test_reposts_of_real_pictures_are_identified(
    published: dict[str, NDArray[np.uint8]], attack: str
) -> None:
    for name, image in published.items():
        decoded = watermark.decode(REPOSTS[attack](image), key=KEY)
        assert decoded.asset_id == ASSET, (name, decoded.confidence)


def test_reposts_under_another_key_give_no_id(published: dict[str, NDArray[np.uint8]]) -> None:
    for image in published.values():
        for attack in REPOSTS.values():
            assert watermark.decode(attack(image), key=b"another platform key").asset_id is None


# --- busy and mixed pictures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def busy() -> dict[str, NDArray[np.uint8]]:
    """Grass (texture at the mark's own frequencies everywhere) and the motorcycle (busy parts
    beside flat ones), marked and published as JPEG q85."""
    return {
        name: recompress(
            watermark.embed(pictures.picture(name), asset_id=ASSET, key=KEY), "JPEG", 85
        )
        for name in ("grass", "motorcycle")
    }


@pytest.mark.parametrize("degrees", [-2.0, 3.0])
def test_turned_copies_of_busy_pictures_are_identified(
    busy: dict[str, NDArray[np.uint8]], degrees: float
) -> None:
    for name, image in busy.items():
        decoded = watermark.decode(pictures.rotate(degrees)(image), key=KEY)
        assert decoded.asset_id == ASSET, (name, decoded.confidence)


def test_a_deep_crop_of_a_mixed_picture_is_identified(busy: dict[str, NDArray[np.uint8]]) -> None:
    decoded = watermark.decode(pictures.crop_centre(0.35)(busy["motorcycle"]), key=KEY)
    assert decoded.asset_id == ASSET, decoded.confidence
    assert decoded.period == pytest.approx((64 / 0.65, 64 / 0.65), abs=1.0)


@pytest.mark.parametrize("edge", ["left", "top"])
def test_a_cropped_texture_is_identified(busy: dict[str, NDArray[np.uint8]], edge: str) -> None:
    """Grass has energy at the mark's own frequencies: the autocorrelation misses its lattice."""
    decoded = watermark.decode(pictures.crop_edge(edge, 0.2)(busy["grass"]), key=KEY)
    assert decoded.asset_id == ASSET, decoded.confidence
    along = (64 / 0.8, 64.0) if edge == "left" else (64.0, 64 / 0.8)
    assert decoded.period == pytest.approx(along, abs=0.5)


def test_a_four_by_five_repost_of_a_wide_picture_is_identified(
    busy: dict[str, NDArray[np.uint8]],
) -> None:
    """A 4:5 crop of a 3:2 picture keeps under 55% of its width."""
    decoded = watermark.decode(pictures.feed_crop(0.8)(busy["motorcycle"]), key=KEY)
    assert decoded.asset_id == ASSET, decoded.confidence
