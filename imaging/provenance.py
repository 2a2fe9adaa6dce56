"""C2PA content credentials for published JPEGs, saying who made them and "do not train".

Each JPEG derivative gets a manifest signed with the platform's certificate (ES256) holding:

- ``c2pa.actions``: created (by a person with digital tools: the artist's upload), then edited
  (cloaked and watermarked) and resized by this platform;
- ``cawg.training-mining``: ``notAllowed`` for ``cawg.ai_training``,
  ``cawg.ai_generative_training``, ``cawg.ai_inference`` and ``cawg.data_mining`` (the Creator
  Assertions Working Group's training-and-data-mining assertion).

No thumbnail is embedded (it would be an unprotected copy of the image). WebP files are left as
they are: their XMP carries the same refusal.

Needs the optional extra ``c2pa`` (the ``c2pa-python`` package, the C2PA reference library);
``ProvenanceUnavailable`` says so when it is missing.

References
----------
C2PA Technical Specification 2.x, "Actions" and "Digital source type"; CAWG "Training and Data
Mining assertion" 1.1 (https://cawg.io/training-and-data-mining/).
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imaging.pipeline import ProtectedImage

TRAINING_AND_MINING = (
    "cawg.ai_training",
    "cawg.ai_generative_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)
DIGITAL_CREATION = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation"
GENERATOR = "gesso"


class ProvenanceError(Exception):
    """Signing or reading content credentials failed; the message says why."""


class ProvenanceUnavailable(ProvenanceError):
    """The ``c2pa`` extra is not installed."""


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    """PEM bytes: the signing certificate followed by its issuing CA, and the signing key."""

    certificate_chain: bytes
    private_key: bytes


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError:
        raise ProvenanceUnavailable(
            "C2PA signing needs the optional extra: pip install 'gesso[c2pa]'"
        ) from None
    return c2pa


def manifest_definition(*, title: str, author: str) -> dict[str, Any]:
    """The manifest of one published JPEG, before signing."""
    return {
        "claim_generator_info": [{"name": GENERATOR}],
        "title": title,
        "format": "image/jpeg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_CREATION,
                            "parameters": {"description": f"uploaded by {author}"},
                        },
                        {
                            "action": "c2pa.edited",
                            "softwareAgent": {"name": GENERATOR},
                            "parameters": {"description": "cloaked and watermarked"},
                        },
                        {"action": "c2pa.resized", "softwareAgent": {"name": GENERATOR}},
                    ]
                },
            },
            {
                "label": "cawg.training-mining",
                "data": {"entries": {key: {"use": "notAllowed"} for key in TRAINING_AND_MINING}},
            },
        ],
    }


def sign_jpeg(data: bytes, credentials: SigningCredentials, *, title: str, author: str) -> bytes:
    """``data`` (a JPEG) with a signed manifest embedded; the pixels are untouched."""
    c2pa = _c2pa()
    try:
        context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                c2pa.C2paSigningAlg.ES256,
                credentials.certificate_chain,
                credentials.private_key,
                None,
            )
        )
        builder = c2pa.Builder.from_json(manifest_definition(title=title, author=author), context)
        out = io.BytesIO()
        with signer, builder:
            builder.sign(signer, "image/jpeg", io.BytesIO(data), out)
    except c2pa.C2paError as error:
        raise ProvenanceError(f"C2PA signing failed: {error}") from None
    return out.getvalue()


def sign_derivatives(
    image: ProtectedImage, credentials: SigningCredentials, *, title: str, author: str
) -> ProtectedImage:
    """``image`` with every JPEG derivative signed (WebP ones unchanged)."""
    derivatives = tuple(
        dataclasses.replace(d, data=sign_jpeg(d.data, credentials, title=title, author=author))
        if d.content_type == "image/jpeg"
        else d
        for d in image.derivatives
    )
    return dataclasses.replace(image, derivatives=derivatives)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a reader found: the active manifest and whether its signature checked out."""

    manifest: dict[str, Any]
    validation_state: str  # "Invalid", "Valid" (signature good) or "Trusted" (and the CA known)
    failures: tuple[str, ...]  # validation failure codes

    def assertion(self, label: str) -> dict[str, Any] | None:
        for item in self.manifest.get("assertions", []):
            if item.get("label") == label:
                data: dict[str, Any] = item.get("data", {})
                return data
        return None


def read_credentials(
    data: bytes, content_type: str, *, trust_anchors: bytes | None = None
) -> Credentials | None:
    """The content credentials of a file, checked against ``trust_anchors`` (PEM CAs) when
    given; None when the file has none."""
    c2pa = _c2pa()
    settings: dict[str, Any] = {}
    if trust_anchors is not None:
        settings = {
            "trust": {"trust_anchors": trust_anchors.decode()},
            "verify": {"verify_trust": True},
        }
    try:
        context = c2pa.Context.from_dict(settings)
        with c2pa.Reader(content_type, io.BytesIO(data), None, context) as reader:
            manifest = reader.get_active_manifest()
            state = reader.get_validation_state() or ""
            results = reader.get_validation_results() or {}
    except c2pa.C2paError.ManifestNotFound:
        return None
    except c2pa.C2paError as error:
        raise ProvenanceError(f"reading C2PA credentials failed: {error}") from None
    if manifest is None:
        return None
    failures = results.get("activeManifest", {}).get("failure", [])
    return Credentials(manifest, state, tuple(str(f.get("code")) for f in failures))
