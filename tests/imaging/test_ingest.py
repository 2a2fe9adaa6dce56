"""Ingest: formats by magic, caps before decoding, hostile files, orientation, colour, alpha."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from imaging.errors import ImagingError
from imaging.ingest import ingest, sniff_format
from tests.imaging.icc import red_cyan_cmyk_profile, swapped_rgb_profile
from tests.imaging.images import encode, photo_like

ORIENTATION = 0x0112


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(
    width: int, height: int, depth: int, colour: int, idat: bytes, extra: bytes = b""
) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def _filtered_rows(samples: NDArray[np.uint16]) -> bytes:
    """Big-endian 16-bit rows, each with one of the five PNG filters (0..4, cycling)."""
    height = samples.shape[0]
    rows = samples.reshape(height, -1).astype(">u2").view(np.uint8).reshape(height, -1)
    bpp = 2 * (samples.shape[2] if samples.ndim == 3 else 1)
    out = bytearray()
    previous = np.zeros(rows.shape[1], dtype=np.int32)
    for index in range(height):
        row = rows[index].astype(np.int32)
        left = np.concatenate([np.zeros(bpp, dtype=np.int32), row[:-bpp]])
        up_left = np.concatenate([np.zeros(bpp, dtype=np.int32), previous[:-bpp]])
        kind = index % 5
        if kind == 0:
            filtered = row
        elif kind == 1:
            filtered = row - left
        elif kind == 2:
            filtered = row - previous
        elif kind == 3:
            filtered = row - (left + previous) // 2
        else:
            estimate = left + previous - up_left
            pa, pb, pc = (
                np.abs(estimate - left),
                np.abs(estimate - previous),
                np.abs(estimate - up_left),
            )
            predictor = np.where(
                (pa <= pb) & (pa <= pc), left, np.where(pb <= pc, previous, up_left)
            )
            filtered = row - predictor
        out.append(kind)
        out.extend((filtered % 256).astype(np.uint8).tobytes())
        previous = row
    return bytes(out)


def _code(data: bytes, **options: int) -> str:
    with pytest.raises(ImagingError) as caught:
        ingest(data, **options)
    return caught.value.code


def _upright(height: int = 64, width: int = 96) -> NDArray[np.uint8]:
    """An image whose every flip and rotation differs: four coloured quadrants plus a ramp."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[: height // 2, : width // 2] = (230, 30, 30)
    image[: height // 2, width // 2 :] = (30, 230, 30)
    image[height // 2 :, : width // 2] = (30, 30, 230)
    image[height // 2 :, width // 2 :] = (230, 230, 30)
    image[..., 2] = np.clip(image[..., 2].astype(int) + np.arange(width)[None, :], 0, 255)
    return image


# The stored pixels for each EXIF orientation, from the tag's definition (which stored row and
# column become the visual top and left), independently of the code under test.
STORED = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],
    3: lambda u: u[::-1, ::-1],
    4: lambda u: u[::-1, :],
    5: lambda u: u.transpose(1, 0, 2),
    6: lambda u: np.rot90(u, 1),
    7: lambda u: u[::-1, ::-1].transpose(1, 0, 2),
    8: lambda u: np.rot90(u, -1),
}


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "AVIF"])
def test_each_allowed_format_gives_rgb_uint8(image_format: str) -> None:
    pixels = photo_like(96, 128, seed=1)
    result = ingest(
        encode(pixels, image_format, quality=95) if image_format != "PNG" else encode(pixels, "PNG")
    )
    assert result.info.source_format == image_format
    assert result.pixels.shape == (96, 128, 3)
    assert result.pixels.dtype == np.uint8
    assert result.pixels.flags.writeable
    assert np.abs(result.pixels.astype(int) - pixels).mean() < 4.0
    if image_format == "PNG":
        assert np.array_equal(result.pixels, pixels)


def test_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    pixels = photo_like(80, 80, seed=2)
    misnamed = tmp_path / "holiday.jpg"
    misnamed.write_bytes(encode(pixels, "PNG"))
    assert ingest(misnamed.read_bytes()).info.source_format == "PNG"
    other = tmp_path / "drawing.png"
    other.write_bytes(encode(pixels, "WEBP", quality=90))
    assert ingest(other.read_bytes()).info.source_format == "WEBP"


def test_empty_and_byte_cap() -> None:
    assert _code(b"") == "EMPTY"
    data = encode(photo_like(80, 80, seed=3), "PNG")
    assert _code(data, max_bytes=len(data) - 1) == "TOO_LARGE_BYTES"
    assert ingest(data, max_bytes=len(data)).info.byte_size == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
        b"PK\x03\x04" + b"\0" * 64,
        b"GIF89a" + b"\0" * 64,
        b"BM" + b"\0" * 64,
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 32,
        bytes(range(256)),
    ],
    ids=["svg", "svg-xml", "html", "zip", "gif", "bmp", "heic", "noise"],
)
def test_other_formats_are_refused(data: bytes) -> None:
    assert sniff_format(data) is None
    assert _code(data) == "UNSUPPORTED_FORMAT"


def test_polyglots_are_read_as_what_they_start_as_or_refused() -> None:
    png = encode(photo_like(80, 80, seed=4), "PNG")
    zip_tail = b"PK\x03\x04" + b"\x14" * 26 + b"payload.html<script>alert(1)</script>"
    # A valid PNG with a ZIP appended is a PNG; the tail is never looked at.
    assert ingest(png + zip_tail).info.source_format == "PNG"
    # The same pair the other way round starts like a ZIP, and an HTML page hiding a PNG is HTML.
    assert _code(zip_tail + png) == "UNSUPPORTED_FORMAT"
    assert _code(b"<html><!--" + png + b"--></html>") == "UNSUPPORTED_FORMAT"
    # A file that starts like a JPEG but is a PNG after the magic is a broken JPEG, not a PNG.
    assert _code(b"\xff\xd8\xff" + png) == "CORRUPT"


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_truncated_files_are_corrupt(image_format: str) -> None:
    data = encode(
        photo_like(256, 256, seed=5),
        image_format,
        **({"quality": 90} if image_format == "JPEG" else {}),
    )
    assert _code(data[: len(data) // 2]) == "CORRUPT"
    assert _code(data[:40]) == "CORRUPT"


def test_a_png_declaring_200_megapixels_is_refused_without_decoding() -> None:
    bomb = _png(20_000, 10_000, 8, 2, zlib.compress(b"\0" * 1000))
    start = time.perf_counter()
    assert _code(bomb) == "TOO_MANY_PIXELS"
    assert time.perf_counter() - start < 0.5


def test_the_pixel_cap_is_checked_on_the_header_before_decoding() -> None:
    # 50 megapixels with a broken IDAT: decoding would say CORRUPT, the header check comes first.
    data = _png(10_000, 5_000, 8, 2, b"not zlib")
    assert _code(data) == "TOO_MANY_PIXELS"
    assert _code(_png(100, 100, 8, 2, b"not zlib"), max_pixels=9_999) == "TOO_MANY_PIXELS"
    assert _code(_png(100, 100, 8, 2, b"not zlib")) == "CORRUPT"


def test_too_small() -> None:
    assert _code(encode(photo_like(63, 200, seed=6), "PNG")) == "TOO_SMALL"


def test_a_compressed_text_bomb_is_refused() -> None:
    text = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * 50_000_000, 9))
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    idat = zlib.compress(b"".join(b"\0" + row.tobytes() for row in pixels))
    data = _png(64, 64, 8, 2, idat, extra=text)
    assert len(data) < 100_000
    assert _code(data) == "CORRUPT"


@pytest.mark.parametrize("image_format", ["PNG", "WEBP", "AVIF"])
def test_animations_are_refused(image_format: str) -> None:
    frames = [Image.fromarray(photo_like(80, 80, seed=seed)) for seed in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, image_format, save_all=True, append_images=frames[1:], duration=100)
    assert _code(buffer.getvalue()) == "ANIMATED"


def test_a_multi_picture_jpeg_is_its_primary_image() -> None:
    # Phones store HDR gain maps and depth maps as extra MPF images: not an animation.
    primary = Image.fromarray(np.full((80, 80, 3), (200, 10, 10), dtype=np.uint8))
    extra = Image.fromarray(np.full((80, 80, 3), (10, 10, 200), dtype=np.uint8))
    buffer = io.BytesIO()
    primary.save(buffer, "MPO", save_all=True, append_images=[extra])
    result = ingest(buffer.getvalue())
    assert result.info.source_format == "JPEG"
    assert np.abs(result.pixels[40, 40].astype(int) - (200, 10, 10)).max() <= 4


def test_an_animated_gif_is_refused_as_a_format() -> None:
    frames = [Image.fromarray(photo_like(80, 80, seed=seed)) for seed in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert _code(buffer.getvalue()) == "UNSUPPORTED_FORMAT"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation: int) -> None:
    upright = _upright()
    stored = np.ascontiguousarray(STORED[orientation](upright))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    result = ingest(encode(stored, "PNG", exif=exif.tobytes()))
    assert result.info.orientation == orientation
    assert result.info.original_size == (stored.shape[1], stored.shape[0])
    assert np.array_equal(result.pixels, upright)


def test_orientation_in_a_jpeg() -> None:
    upright = _upright(128, 192)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    result = ingest(
        encode(np.ascontiguousarray(STORED[6](upright)), "JPEG", quality=95, exif=exif.tobytes())
    )
    assert result.pixels.shape == upright.shape
    assert np.abs(result.pixels.astype(int) - upright).mean() < 3.0


def test_huge_and_garbage_exif_do_not_stop_a_good_image() -> None:
    pixels = photo_like(96, 96, seed=7)
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription: close to the 64 KiB JPEG segment limit
    exif[ORIENTATION] = 3
    result = ingest(encode(pixels, "JPEG", quality=95, exif=exif.tobytes()))
    assert result.info.orientation == 3
    garbage = b"Exif\0\0" + bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))
    result = ingest(encode(pixels, "JPEG", quality=95, exif=garbage))
    assert result.info.orientation == 1
    big = Image.Exif()
    big[0x010E] = "y" * 3_000_000
    assert ingest(encode(pixels, "PNG", exif=big.tobytes())).pixels.shape == (96, 96, 3)


def test_cmyk_without_a_profile_uses_the_naive_formula() -> None:
    image = Image.new("CMYK", (80, 80), (0, 255, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    result = ingest(buffer.getvalue())
    assert (result.info.mode, result.info.cmyk) == ("CMYK", "naive")
    assert np.abs(result.pixels[40, 40].astype(int) - (255, 0, 255)).max() <= 3


def test_cmyk_goes_through_its_profile() -> None:
    image = Image.new("CMYK", (80, 80), (255, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, icc_profile=red_cyan_cmyk_profile())
    result = ingest(buffer.getvalue())
    assert result.info.cmyk == "icc"
    red, green, blue = result.pixels[40, 40].astype(int)
    assert red > 200
    assert green < 60
    assert blue < 60


def test_an_icc_profile_is_converted_to_srgb() -> None:
    pixels = np.full((80, 80, 3), (200, 30, 30), dtype=np.uint8)
    result = ingest(encode(pixels, "PNG", icc_profile=swapped_rgb_profile()))
    assert result.info.icc == "converted"
    red, green, blue = result.pixels[40, 40].astype(int)
    assert blue > 170
    assert red < 60
    assert green < 60


def test_a_broken_icc_profile_is_ignored() -> None:
    pixels = photo_like(80, 80, seed=8)
    result = ingest(encode(pixels, "PNG", icc_profile=b"definitely not a profile" * 10))
    assert result.info.icc == "invalid"
    assert np.array_equal(result.pixels, pixels)


def test_16_bit_colour_png_is_rounded_from_both_bytes() -> None:
    rng = np.random.default_rng(9)
    samples = rng.integers(0, 65536, size=(70, 66, 3), dtype=np.uint16)
    result = ingest(_png(66, 70, 16, 2, zlib.compress(_filtered_rows(samples))))
    expected = np.rint(samples * 255.0 / 65535.0).astype(np.uint8)  # round(v / 257)
    assert result.info.bit_depth == 16
    assert np.array_equal(result.pixels, expected)
    # Pillow alone would keep the high byte (v >> 8), which differs on many samples.
    assert np.mean((samples >> 8).astype(np.uint8) != expected) > 0.2


def test_16_bit_grey_png_is_rounded() -> None:
    rng = np.random.default_rng(10)
    samples = rng.integers(0, 65536, size=(64, 80), dtype=np.uint16)
    result = ingest(_png(80, 64, 16, 0, zlib.compress(_filtered_rows(samples))))
    expected = np.rint(samples * 255.0 / 65535.0).astype(np.uint8)
    assert result.info.bit_depth == 16
    assert np.array_equal(result.pixels, np.repeat(expected[..., None], 3, axis=2))


def test_16_bit_rgba_png_is_rounded_then_composited() -> None:
    samples = np.zeros((64, 64, 4), dtype=np.uint16)
    samples[..., 0] = 1257  # 1257 / 257 = 4.89: rounds to 5, the high byte alone would be 4
    samples[..., 3] = 65535
    result = ingest(_png(64, 64, 16, 6, zlib.compress(_filtered_rows(samples))))
    assert tuple(result.pixels[0, 0]) == (5, 0, 0)


def test_transparency_is_composited_onto_white() -> None:
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[:32] = (255, 0, 0, 128)  # half-transparent red
    rgba[32:] = (0, 0, 255, 0)  # fully transparent
    result = ingest(encode(rgba, "PNG"))
    assert result.info.had_alpha
    assert np.abs(result.pixels[0, 0].astype(int) - (255, 127, 127)).max() <= 1
    assert tuple(result.pixels[63, 63]) == (255, 255, 255)
    palette = Image.fromarray(rgba).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=palette.getpixel((63, 63)))
    assert ingest(buffer.getvalue()).info.had_alpha


def test_an_opaque_image_has_no_alpha_flag() -> None:
    assert not ingest(encode(photo_like(64, 64, seed=11), "PNG")).info.had_alpha


def test_info_is_json_able() -> None:
    info = ingest(encode(photo_like(64, 80, seed=12), "PNG")).info.to_dict()
    assert info["size"] == [80, 64]
    assert info["source_format"] == "PNG"
