"""Rights metadata: whitelisted EXIF, XMP with the do-not-train signal, read back per format."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imaging.errors import CorruptImage
from imaging.metadata import (
    DATA_MINING_PROHIBITED,
    RightsMetadata,
    read_metadata,
    save_options,
    xmp_packet,
)
from tests.imaging.images import photo_like

RECORD = RightsMetadata(creator="Zoë <Ink> & Co", rights='© 2025 Zoë, "all rights reserved"')


def _save(image_format: str, record: RightsMetadata = RECORD) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_like(64, 80, seed=41)).save(
        buffer, image_format, **save_options(image_format, record)
    )
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_fields_read_back_from_each_format(image_format: str) -> None:
    found = read_metadata(_save(image_format))
    assert found.creator == RECORD.creator
    assert found.rights == RECORD.rights
    assert found.marked is True
    assert found.data_mining == DATA_MINING_PROHIBITED
    assert found.data_mining == "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"
    # EXIF holds the two whitelisted tags and nothing else: no GPS, serials, maker notes, dates.
    expected = {"Artist": "Zoe <Ink> & Co", "Copyright": '(C) 2025 Zoe, "all rights reserved"'}
    assert found.exif == expected


def test_png_carries_the_packet_in_an_itxt_chunk() -> None:
    data = _save("PNG")
    assert b"iTXtXML:com.adobe.xmp" in data
    with Image.open(io.BytesIO(data)) as image:
        assert "plus:DataMining" in image.info["XML:com.adobe.xmp"]


def test_the_packet_is_well_formed_and_escaped() -> None:
    packet = xmp_packet(RECORD).decode("utf-8")
    assert "Zoë &lt;Ink&gt; &amp; Co" in packet
    assert 'xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"' in packet
    assert "<xmpRights:Marked>True</xmpRights:Marked>" in packet


def test_control_characters_are_dropped_and_length_is_bounded() -> None:
    found = read_metadata(_save("PNG", RightsMetadata(creator="Ada\x00\x07 Lovelace", rights="r")))
    assert found.creator == "Ada Lovelace"
    with pytest.raises(ValueError, match="creator"):
        xmp_packet(RightsMetadata(creator="x" * 501, rights="r"))


def test_the_reader_does_see_gps_and_serials_when_they_are_there() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    exif.get_ifd(0x8769)[0xA431] = "SN-12345"  # BodySerialNumber
    buffer = io.BytesIO()
    Image.fromarray(photo_like(64, 64, seed=42)).save(buffer, "JPEG", exif=exif.tobytes())
    found = read_metadata(buffer.getvalue())
    assert {"GPSInfo", "GPSLatitude", "BodySerialNumber", "Make"} <= set(found.exif)
    assert found.creator == ""
    assert found.marked is False


def test_unsupported_format_and_garbage() -> None:
    with pytest.raises(ValueError, match="GIF"):
        save_options("GIF", RECORD)
    with pytest.raises(CorruptImage):
        read_metadata(b"not an image")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(
        buffer, "WEBP", xmp=b"<x:xmpmeta><unclosed"
    )
    with pytest.raises(CorruptImage, match="XMP"):
        read_metadata(buffer.getvalue())
