"""Derivatives: sizes never upscaled, both formats, metadata inside, watermark verified."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from imaging import watermark
from imaging.derivatives import WATERMARK_MIN_SIDE, render
from imaging.errors import WatermarkUnverified
from imaging.metadata import DATA_MINING_PROHIBITED, RightsMetadata, read_metadata
from tests.imaging.images import decode, photo_like

KEY = b"derivative-key"
RIGHTS = RightsMetadata(creator="Ada", rights="(C) Ada")


@pytest.fixture(scope="module")
def marked() -> NDArray[np.uint8]:
    return watermark.embed(photo_like(900, 1200, seed=51), asset_id=77, key=KEY)


def test_sizes_formats_and_checks(marked: NDArray[np.uint8]) -> None:
    before = marked.copy()
    files = render(marked, asset_id=77, watermark_key=KEY, rights=RIGHTS)
    assert np.array_equal(marked, before)
    summary = [(item.name, item.image_format, item.width, item.height) for item in files]
    assert summary == [
        ("display", "WEBP", 1200, 900),  # never upscaled to 2048
        ("display", "JPEG", 1200, 900),
        ("medium", "WEBP", 1024, 768),
        ("medium", "JPEG", 1024, 768),
        ("thumbnail", "WEBP", 400, 300),
        ("thumbnail", "JPEG", 400, 300),
    ]
    for item in files:
        assert item.content_type == {"WEBP": "image/webp", "JPEG": "image/jpeg"}[item.image_format]
        assert item.byte_size == len(item.data) > 0
        assert decode(item.data).shape == (item.height, item.width, 3)
        assert item.watermark_required == (min(item.width, item.height) >= WATERMARK_MIN_SIDE)
        if item.watermark_required:
            assert item.watermark_verified
            assert item.watermark_bits == 64
        found = read_metadata(item.data)
        assert (found.creator, found.data_mining) == ("Ada", DATA_MINING_PROHIBITED)
        assert set(found.exif) == {"Artist", "Copyright"}
    assert [item.watermark_required for item in files] == [True] * 4 + [False] * 2


def test_a_small_image_is_never_upscaled() -> None:
    image = watermark.embed(photo_like(200, 300, seed=52), asset_id=5, key=KEY)
    files = render(image, asset_id=5, watermark_key=KEY, rights=RIGHTS)
    assert {(item.width, item.height) for item in files} == {(300, 200)}
    assert not any(item.watermark_required for item in files)


def test_an_unmarked_image_is_not_accepted() -> None:
    with pytest.raises(WatermarkUnverified) as caught:
        render(photo_like(600, 800, seed=53), asset_id=5, watermark_key=KEY, rights=RIGHTS)
    assert caught.value.code == "WATERMARK_UNVERIFIED"
    assert "display WEBP" in caught.value.message


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(10, 10\)"):
        render(np.zeros((10, 10), dtype=np.uint8), asset_id=5, watermark_key=KEY, rights=RIGHTS)
