"""The origin a file declares (imaging.origin): C2PA actions and the IPTC digital source type in
its XMP, read from files made the way generators and editors make them."""

from __future__ import annotations

import pytest

from imaging.origin import GENERATED_SOURCE_TYPES, Origin, declared_origin, sniff_type
from tests.images import photo, with_c2pa_source_type, with_xmp_source_type


@pytest.mark.parametrize("source_type", sorted(GENERATED_SOURCE_TYPES))
def test_a_c2pa_manifest_that_says_generated(source_type: str) -> None:
    data = with_c2pa_source_type(photo(96, 64), source_type)
    found = declared_origin(data, "image/jpeg")
    assert found == Origin("c2pa", source_type)
    assert found.generated


@pytest.mark.parametrize("form", ["attribute", "element", "resource"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_iptc_digital_source_type_in_xmp(form: str, fmt: str) -> None:
    data = with_xmp_source_type(photo(96, 64), "trainedAlgorithmicMedia", form=form, fmt=fmt)
    found = declared_origin(data, sniff_type(data))
    assert found == Origin("xmp", "trainedAlgorithmicMedia")
    assert found.generated


@pytest.mark.parametrize(
    "source_type", ["digitalCapture", "digitalCreation", "algorithmicMedia", "minorHumanEdits"]
)
def test_other_origins_are_not_generated(source_type: str) -> None:
    data = with_xmp_source_type(photo(96, 64), source_type)
    found = declared_origin(data, "image/jpeg")
    assert found == Origin("xmp", source_type)
    assert not found.generated


def test_an_ordinary_photo_declares_nothing() -> None:
    assert declared_origin(photo(96, 64), "image/jpeg") is None
    assert declared_origin(photo(96, 64, fmt="PNG"), "image/png") is None


def test_the_files_own_type() -> None:
    assert [sniff_type(photo(16, 16, fmt=f)) for f in ("JPEG", "PNG", "WEBP")] == [
        "image/jpeg",
        "image/png",
        "image/webp",
    ]
    assert sniff_type(b"GIF89a") == ""
