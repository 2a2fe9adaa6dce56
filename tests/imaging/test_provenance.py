"""C2PA content credentials: signed with the platform's certificate, read back with the C2PA
reference library (the ``c2pa`` extra, installed by scripts/test)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from imaging.provenance import (
    TRAINING_AND_MINING,
    ProvenanceError,
    SigningCredentials,
    read_credentials,
    sign_jpeg,
)
from server.c2pa_ca import make_development_ca
from tests.images import photo


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, SigningCredentials]:
    ca_pem, _, leaf_pem, leaf_key = make_development_ca("Test platform")
    return ca_pem, SigningCredentials(leaf_pem + ca_pem, leaf_key)


def test_a_signed_jpeg_says_do_not_train_and_is_trusted_by_its_ca(
    ca: tuple[bytes, SigningCredentials],
) -> None:
    # given a JPEG
    ca_pem, credentials = ca
    original = photo(96, 64, seed=5)
    # when it is signed
    signed = sign_jpeg(original, credentials, title="work of Ada", author="Ada")
    # then a reader that trusts the platform CA finds a trusted manifest ...
    found = read_credentials(signed, "image/jpeg", trust_anchors=ca_pem)
    assert found is not None
    assert (found.validation_state, found.failures) == ("Trusted", ())
    assert found.manifest["title"] == "work of Ada"
    assert found.manifest["signature_info"]["common_name"] == "Test platform content credentials"
    # ... with the actions and the training-and-mining refusal
    actions = found.assertion("c2pa.actions.v2")
    assert actions is not None
    assert [a["action"] for a in actions["actions"]] == [
        "c2pa.created",
        "c2pa.edited",
        "c2pa.resized",
    ]
    mining = found.assertion("cawg.training-mining")
    assert mining == {"entries": {key: {"use": "notAllowed"} for key in TRAINING_AND_MINING}}
    assert set(TRAINING_AND_MINING) == {
        "cawg.ai_training",
        "cawg.ai_generative_training",
        "cawg.ai_inference",
        "cawg.data_mining",
    }
    # and no thumbnail (an unprotected copy) is embedded
    assert "thumbnail" not in json.dumps(found.manifest)
    # and the pixels are those of the original
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(signed)) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))


def test_without_the_ca_the_signature_is_valid_but_not_trusted(
    ca: tuple[bytes, SigningCredentials],
) -> None:
    _, credentials = ca
    signed = sign_jpeg(photo(96, 64), credentials, title="t", author="a")
    found = read_credentials(signed, "image/jpeg")
    assert found is not None
    assert found.validation_state == "Valid"
    assert found.failures == ("signingCredential.untrusted",)


def test_a_file_without_credentials_has_none() -> None:
    assert read_credentials(photo(96, 64), "image/jpeg") is None


def test_a_changed_file_fails_validation(ca: tuple[bytes, SigningCredentials]) -> None:
    ca_pem, credentials = ca
    signed = bytearray(sign_jpeg(photo(96, 64), credentials, title="t", author="a"))
    signed[-200] ^= 0xFF  # a byte of the image data, after the manifest
    found = read_credentials(bytes(signed), "image/jpeg", trust_anchors=ca_pem)
    assert found is not None
    assert found.validation_state == "Invalid"
    assert "assertion.dataHash.mismatch" in found.failures


def test_a_key_that_does_not_match_the_certificate_is_refused(
    ca: tuple[bytes, SigningCredentials],
) -> None:
    _, credentials = ca
    _, _, _, other_key = make_development_ca("Other")
    with pytest.raises(ProvenanceError, match="C2PA signing failed"):
        sign_jpeg(
            photo(96, 64),
            SigningCredentials(credentials.certificate_chain, other_key),
            title="t",
            author="a",
        )
