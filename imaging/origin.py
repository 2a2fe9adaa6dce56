"""What an uploaded file says about its own origin, read before the pipeline strips it.

Two declarations are read:

- the IPTC *digital source type* in the file's XMP (``Iptc4xmpExt:DigitalSourceType``, as an
  attribute, an element or an ``rdf:resource``), which generators and editors write into JPEG,
  PNG and WebP files;
- the ``digitalSourceType`` of the actions of a C2PA manifest (``c2pa.actions`` and
  ``c2pa.actions.v2`` of the active manifest), read with the C2PA reference library (the
  ``c2pa`` extra; without it only the XMP is read).

A file declares itself *generated* when one of them is ``trainedAlgorithmicMedia`` or
``compositeWithTrainedAlgorithmicMedia`` (IPTC NewsCodes, digital source type vocabulary). Other
values (``digitalCapture``, ``digitalCreation``, ``algorithmicMedia`` for procedural art made
without a trained model, ``algorithmicallyEnhanced`` ...) are not. A C2PA claim counts whether
or not its signature checks out: a file that claims to be generated is taken at its word.

This reads declarations, it proves nothing: a generated image whose metadata was removed (a
screenshot, a re-encode, most social networks) or never written passes, and a false declaration
is believed.

References
----------
IPTC NewsCodes "Digital Source Type" (https://cv.iptc.org/newscodes/digitalsourcetype/); IPTC
Photo Metadata Standard 2023.1, "Digital Source Type"; C2PA Technical Specification 2.x,
"Actions" and "Digital source type".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imaging.provenance import ProvenanceError, ProvenanceUnavailable, read_credentials

GENERATED_SOURCE_TYPES = frozenset(
    {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"}
)

_XMP_PACKET = re.compile(rb"<x:xmpmeta\b.*?</x:xmpmeta>", re.DOTALL)
_SOURCE_TYPE = re.compile(
    rb"(?:\w+:)?DigitalSourceType"
    rb"(?:\s*=\s*[\"']([^\"']+)[\"']"  # an attribute of rdf:Description
    rb"|\s+rdf:resource\s*=\s*[\"']([^\"']+)[\"']"  # an element naming a resource
    rb"|\s*>\s*([^<\s]+)\s*<)"  # an element with text
)
_C2PA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/avif")


@dataclass(frozen=True, slots=True)
class Origin:
    """A declaration of origin found in a file."""

    source: str  # "c2pa" or "xmp"
    digital_source_type: str  # the term, without the vocabulary's prefix

    @property
    def generated(self) -> bool:
        return self.digital_source_type in GENERATED_SOURCE_TYPES


def _term(value: str) -> str:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` ->
    ``trainedAlgorithmicMedia``."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1]


def xmp_origins(data: bytes) -> list[Origin]:
    """The digital source types the file's XMP packets declare, in file order."""
    found: list[Origin] = []
    for packet in _XMP_PACKET.finditer(data):
        for match in _SOURCE_TYPE.finditer(packet.group(0)):
            value = next(group for group in match.groups() if group is not None)
            found.append(Origin("xmp", _term(value.decode("utf-8", "replace"))))
    return found


def c2pa_origins(data: bytes, content_type: str) -> list[Origin]:
    """The digital source types of the actions of the file's active C2PA manifest (none when
    the file has none, the library is missing or the manifest cannot be read)."""
    if content_type not in _C2PA_TYPES:
        return []
    try:
        credentials = read_credentials(data, content_type)
    except (ProvenanceUnavailable, ProvenanceError):
        return []
    if credentials is None:
        return []
    found: list[Origin] = []
    for label in ("c2pa.actions", "c2pa.actions.v2"):
        actions = credentials.assertion(label) or {}
        for action in actions.get("actions", []):
            value = action.get("digitalSourceType") if isinstance(action, dict) else None
            if isinstance(value, str) and value:
                found.append(Origin("c2pa", _term(value)))
    return found


def declared_origin(data: bytes, content_type: str) -> Origin | None:
    """The first declaration that the file is generated (C2PA first, then XMP), else the first
    declaration of any origin, else None."""
    origins = c2pa_origins(data, content_type) + xmp_origins(data)
    generated = [origin for origin in origins if origin.generated]
    if generated:
        return generated[0]
    return origins[0] if origins else None


def sniff_type(data: bytes) -> str:
    """The media type of an image from its first bytes (for the C2PA reader), or ""."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    return ""
