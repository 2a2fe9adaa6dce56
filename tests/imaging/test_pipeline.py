"""The whole pipeline: quality targets, files, metadata, progress, identify, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from skimage import data
from skimage.metrics import structural_similarity

from imaging.errors import ImagingError
from imaging.ingest import ingest
from imaging.metadata import DATA_MINING_PROHIBITED, read_metadata
from imaging.perturb import cloak
from imaging.pipeline import STAGES, ProtectedImage, identify, protect
from imaging.report import fidelity
from imaging.watermark import embed
from tests.imaging.images import decode, encode, photo_like
from tests.imaging.pictures import picture

ARTIST = b"artist-secret"
WATERMARK = b"platform-secret"
ASSET = 123_456_789_012


def _camera_jpeg() -> bytes:
    """A photo-like JPEG carrying what cameras and phones leak: GPS, serials, maker notes."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneCo"
    exif[0x0110] = "Model X"
    exif[0x0112] = 6  # stored rotated: displayed 768 wide, 1024 high
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 29.0)
    exif.get_ifd(0x8825)[4] = (2.0, 17.0, 40.0)
    exif.get_ifd(0x8769)[0xA431] = "BODY-0042"
    exif.get_ifd(0x8769)[0x927C] = b"maker note bytes"
    stored = np.ascontiguousarray(np.rot90(photo_like(1024, 768, seed=71), 1))
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


@pytest.fixture(scope="module")
def protected() -> ProtectedImage:
    return protect(
        _camera_jpeg(),
        asset_id=ASSET,
        artist_key=ARTIST,
        watermark_key=WATERMARK,
        artist_name="Ada Lovelace",
        rights="(C) 2025 Ada Lovelace, no AI training",
    )


def test_the_files_to_publish(protected: ProtectedImage) -> None:
    summary = [
        (item.name, item.content_type, item.width, item.height) for item in protected.derivatives
    ]
    assert summary == [
        ("display", "image/webp", 768, 1024),
        ("display", "image/jpeg", 768, 1024),
        ("medium", "image/webp", 768, 1024),
        ("medium", "image/jpeg", 768, 1024),
        ("thumbnail", "image/webp", 300, 400),
        ("thumbnail", "image/jpeg", 300, 400),
    ]
    assert protected.source.orientation == 6
    assert protected.source.size == (768, 1024)


def test_the_report_meets_the_targets(protected: ProtectedImage) -> None:
    report = protected.report
    assert report.fidelity.psnr_db >= 40.0
    assert report.fidelity.ssim >= 0.95
    assert report.fidelity.ciede2000_mean <= 0.6
    assert report.cloak_effect > 0.0
    assert report.watermark_strength == 1.0
    for check in report.derivatives:
        if check.watermark_required:
            assert check.watermark_verified
            assert check.watermark_bits == 64
        assert check.cloak_effect > 0.0
    assert set(report.timings) == set(STAGES)
    as_dict = protected.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["derivatives"][0]["byte_size"] == protected.derivatives[0].byte_size


def test_metadata_is_rebuilt_and_nothing_leaks(protected: ProtectedImage) -> None:
    for item in protected.derivatives:
        found = read_metadata(item.data)
        assert found.creator == "Ada Lovelace"
        assert found.rights == "(C) 2025 Ada Lovelace, no AI training"
        assert found.marked
        assert found.data_mining == DATA_MINING_PROHIBITED
        assert set(found.exif) == {"Artist", "Copyright"}


def test_identify_reads_the_asset_back(protected: ProtectedImage) -> None:
    for item in protected.derivatives[:4]:
        assert identify(item.data, watermark_key=WATERMARK) == ASSET
    assert identify(protected.derivatives[0].data, watermark_key=b"another key") is None
    assert identify(_camera_jpeg(), watermark_key=WATERMARK) is None


def _protect_picture(
    original: NDArray[np.uint8],
    *,
    artist_key: bytes = ARTIST,
    watermark_key: bytes = WATERMARK,
    intensity: str = "default",
) -> ProtectedImage:
    """``protect`` of a picture sent as a PNG, with id 7."""
    return protect(
        encode(original, "PNG"),
        asset_id=7,
        artist_key=artist_key,
        watermark_key=watermark_key,
        intensity=intensity,
        artist_name="A",
        rights="R",
    )


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_quality_targets_on_photographs(name: str) -> None:
    original = getattr(data, name)()
    protected = _protect_picture(original)
    quality = protected.report.fidelity
    assert quality.psnr_db >= 40.0
    assert quality.ssim >= 0.95
    assert quality.ciede2000_mean <= 0.6
    # The same cloak and mark, measured with colour SSIM as well.
    both = embed(cloak(original, artist_key=ARTIST).pixels, asset_id=7, key=WATERMARK)
    assert structural_similarity(original, both, channel_axis=2, data_range=255) >= 0.95  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("name", ["brick", "grass"])
def test_a_busy_texture_gets_a_smaller_cloak_within_the_colour_bar(name: str) -> None:
    # given a real picture whose texture, under these keys, lets cloak and mark together pass a
    # mean CIEDE2000 of 0.6
    artist, platform = b"bench-artist", b"bench-wm"
    original = picture(name)
    full = cloak(original, artist_key=artist)
    both = embed(full.pixels, asset_id=7, key=platform)
    assert fidelity(original, both).ciede2000_mean > 0.6
    # when it is protected
    protected = _protect_picture(original, artist_key=artist, watermark_key=platform)
    # then it stays within the bar, the cloak gave way (still pulling towards the decoy) and the
    # mark is whole: every derivative gives the id back
    report = protected.report
    assert report.fidelity.ciede2000_mean <= 0.6
    assert report.fidelity.psnr_db >= 40.0
    assert full.distance_after < report.cloak_distance[1] < report.cloak_distance[0]
    assert report.watermark_strength == 1.0
    for item in protected.derivatives:
        assert identify(item.data, watermark_key=platform) == 7


def test_the_high_intensity_keeps_its_whole_cloak_on_a_busy_texture() -> None:
    # (the artist's choice of a stronger, visible cloak: the colour budget is the default's)
    original = picture("brick")
    full = cloak(original, artist_key=ARTIST, intensity="high")
    protected = _protect_picture(original, intensity="high")
    assert protected.report.cloak_distance == (full.distance_before, full.distance_after)
    assert protected.report.fidelity.ciede2000_mean > 0.6


def test_a_picture_within_the_colour_bar_keeps_its_whole_cloak() -> None:
    original = data.astronaut()  # type: ignore[no-untyped-call]
    full = cloak(original, artist_key=ARTIST)
    protected = _protect_picture(original)
    assert protected.report.cloak_distance == (full.distance_before, full.distance_after)


def test_progress_is_reported_in_order() -> None:
    calls: list[tuple[str, float]] = []
    protect(
        encode(photo_like(300, 400, seed=72), "PNG"),
        asset_id=1,
        artist_key=ARTIST,
        watermark_key=WATERMARK,
        artist_name="A",
        rights="R",
        progress=lambda stage, done: calls.append((stage, done)),
    )
    assert [stage for stage, _ in calls] == [*STAGES, "done"]
    fractions = [done for _, done in calls]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0


def test_bad_arguments_fail_before_any_work() -> None:
    options = {"artist_key": ARTIST, "watermark_key": WATERMARK, "artist_name": "A", "rights": "R"}
    with pytest.raises(ValueError, match="intensity"):
        protect(b"", asset_id=1, intensity="max", **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="asset_id"):
        protect(b"", asset_id=1 << 48, **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="creator"):
        protect(
            b"",
            asset_id=1,
            artist_key=ARTIST,
            watermark_key=WATERMARK,
            artist_name="x" * 600,
            rights="R",
        )


def test_refused_uploads_raise_imaging_errors() -> None:
    with pytest.raises(ImagingError) as caught:
        protect(
            b"", asset_id=1, artist_key=ARTIST, watermark_key=WATERMARK, artist_name="A", rights="R"
        )
    assert caught.value.code == "EMPTY"
    with pytest.raises(ImagingError) as caught:
        identify(b"<svg/>", watermark_key=WATERMARK)
    assert caught.value.code == "UNSUPPORTED_FORMAT"


def test_a_flat_artwork_still_gets_a_verified_mark() -> None:
    """Flat colour with a white background: the hardest case for the mark, kept honest here."""
    canvas = np.full((600, 800, 3), 255, dtype=np.uint8)
    canvas[150:450, 200:600] = (200, 40, 60)
    canvas[250:350, 300:500] = (30, 60, 160)
    protected = protect(
        encode(canvas, "PNG"),
        asset_id=9,
        artist_key=ARTIST,
        watermark_key=WATERMARK,
        artist_name="A",
        rights="R",
    )
    display = decode(protected.derivatives[0].data)
    assert display.shape == (600, 800, 3)
    assert all(
        check.watermark_verified
        for check in protected.report.derivatives
        if check.watermark_required
    )
    assert ingest(protected.derivatives[1].data).info.source_format == "JPEG"
