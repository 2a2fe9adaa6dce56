"""Rights metadata written into every derivative, and a reader that parses it back.

Nothing of the upload's own metadata survives ingest; what the derivatives carry is rebuilt here
from a whitelist:

- EXIF: ``Artist`` and ``Copyright`` only (never GPS, serial numbers, maker notes, dates).
- XMP: ``dc:creator``, ``dc:rights``, ``xmpRights:Marked = True`` and the IPTC/PLUS
  ``plus:DataMining = http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING`` ("prohibited
  for AI/ML training"). JPEG and WebP carry the packet in their XMP slot (Pillow's ``xmp=``),
  PNG in an ``iTXt`` chunk with keyword ``XML:com.adobe.xmp``.

EXIF ASCII fields cannot hold every name: they get an ASCII transliteration (``Zoë`` -> ``Zoe``,
``©`` -> ``(C)``); the XMP keeps the exact UTF-8 text.
"""

from __future__ import annotations

import io
import unicodedata
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from PIL import ExifTags, Image, PngImagePlugin, UnidentifiedImageError

from imaging.errors import CorruptImage

__all__ = [
    "DATA_MINING_PROHIBITED",
    "MAX_TEXT",
    "RightsMetadata",
    "exif_bytes",
    "read_metadata",
    "save_options",
    "xmp_packet",
]

DATA_MINING_PROHIBITED = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"
MAX_TEXT = 500

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
}
_XMP_KEYWORD = "XML:com.adobe.xmp"
_ARTIST = 0x013B
_COPYRIGHT = 0x8298
_SUB_IFDS = {0x8769: "Exif", 0x8825: "GPSInfo", 0xA005: "Interop"}


@dataclass(frozen=True, slots=True)
class RightsMetadata:
    """Who made the image and on what terms, as written into and read from a file.

    Attributes
    ----------
    creator : str
        The artist's name (``dc:creator``, EXIF ``Artist``).
    rights : str
        The rights statement (``dc:rights``, EXIF ``Copyright``).
    marked : bool
        ``xmpRights:Marked``: the work is rights-managed.
    data_mining : str
        ``plus:DataMining``; `DATA_MINING_PROHIBITED` unless read otherwise.
    exif : dict of str to str
        Every EXIF tag found by `read_metadata`, by name, including sub-IFDs (``GPSInfo`` if a GPS
        directory is present); empty when writing.
    """

    creator: str
    rights: str
    marked: bool = True
    data_mining: str = DATA_MINING_PROHIBITED
    exif: dict[str, str] = field(default_factory=dict)


def _clean(text: str, what: str) -> str:
    """Text safe for XML 1.0 and EXIF: no control characters, trimmed, bounded."""
    kept = "".join(ch for ch in text if ch in "\t\n" or unicodedata.category(ch)[0] != "C")
    kept = kept.strip()
    if len(kept) > MAX_TEXT:
        raise ValueError(f"{what} must be at most {MAX_TEXT} characters, got {len(kept)}")
    return kept


def _ascii(text: str) -> str:
    """ASCII transliteration for EXIF: accents dropped (``é`` -> ``e``), ``©`` -> ``(C)``."""
    decomposed = unicodedata.normalize("NFKD", text.replace("©", "(C)").replace("®", "(R)"))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def xmp_packet(record: RightsMetadata) -> bytes:
    """The XMP packet (UTF-8) for a record.

    Raises
    ------
    ValueError
        If the creator or the rights text is longer than `MAX_TEXT` characters.
    """
    creator = escape(_clean(record.creator, "creator"))
    rights = escape(_clean(record.rights, "rights"))
    marked = "True" if record.marked else "False"
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        f'<x:xmpmeta xmlns:x="{_NS["x"]}">\n'
        f' <rdf:RDF xmlns:rdf="{_NS["rdf"]}">\n'
        '  <rdf:Description rdf:about=""\n'
        f'    xmlns:dc="{_NS["dc"]}"\n'
        f'    xmlns:xmpRights="{_NS["xmpRights"]}"\n'
        f'    xmlns:plus="{_NS["plus"]}">\n'
        f"   <dc:creator><rdf:Seq><rdf:li>{creator}</rdf:li></rdf:Seq></dc:creator>\n"
        "   <dc:rights><rdf:Alt>"
        f'<rdf:li xml:lang="x-default">{rights}</rdf:li>'
        "</rdf:Alt></dc:rights>\n"
        f"   <xmpRights:Marked>{marked}</xmpRights:Marked>\n"
        f"   <plus:DataMining>{escape(record.data_mining)}</plus:DataMining>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )
    return text.encode("utf-8")


def exif_bytes(record: RightsMetadata) -> bytes:
    """An EXIF block with ``Artist`` and ``Copyright`` only (ASCII transliterations)."""
    exif = Image.Exif()
    exif[_ARTIST] = _ascii(_clean(record.creator, "creator"))
    exif[_COPYRIGHT] = _ascii(_clean(record.rights, "rights"))
    return exif.tobytes()


def save_options(image_format: str, record: RightsMetadata) -> dict[str, Any]:
    """Keyword arguments for ``PIL.Image.Image.save`` that write the record in ``image_format``.

    Raises
    ------
    ValueError
        If ``image_format`` is not JPEG, WEBP or PNG, or a text is too long.
    """
    packet = xmp_packet(record)
    exif = exif_bytes(record)
    if image_format in {"JPEG", "WEBP"}:
        return {"exif": exif, "xmp": packet}
    if image_format == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt(_XMP_KEYWORD, packet.decode("utf-8"), lang="", tkey="")
        return {"exif": exif, "pnginfo": info}
    raise ValueError(f"image_format must be JPEG, WEBP or PNG, got {image_format!r}")


def _text(root: ElementTree.Element, path: str) -> str:
    node = root.find(path, _NS)
    return (node.text or "").strip() if node is not None else ""


def _parse_xmp(packet: bytes) -> tuple[str, str, bool, str]:
    # The packet comes from a file we are asked to inspect; expat does not fetch external
    # entities and bounds entity expansion, and the packet size is bounded by the file.
    root = ElementTree.fromstring(packet)  # noqa: S314
    description = ".//rdf:Description"
    creator = _text(root, f"{description}/dc:creator/rdf:Seq/rdf:li")
    rights = _text(root, f"{description}/dc:rights/rdf:Alt/rdf:li")
    node = root.find(description, _NS)
    marked_text = _text(root, f"{description}/xmpRights:Marked")
    mining = _text(root, f"{description}/plus:DataMining")
    if node is not None:
        marked_text = marked_text or node.get(f"{{{_NS['xmpRights']}}}Marked", "")
        mining = mining or node.get(f"{{{_NS['plus']}}}DataMining", "")
    return creator, rights, marked_text.lower() == "true", mining


def _exif_names(image: Image.Image) -> dict[str, str]:
    exif = image.getexif()
    names: dict[str, str] = {}
    for tag, value in exif.items():
        names[_SUB_IFDS.get(tag) or ExifTags.TAGS.get(tag, f"0x{tag:04X}")] = str(value)
    for pointer in _SUB_IFDS:
        lookup = ExifTags.GPSTAGS if pointer == 0x8825 else ExifTags.TAGS
        for tag, value in exif.get_ifd(pointer).items():
            names[lookup.get(tag, f"0x{tag:04X}")] = str(value)
    return names


def read_metadata(data: bytes) -> RightsMetadata:
    """Parse the rights metadata of a JPEG, PNG, WebP or AVIF file.

    Returns
    -------
    RightsMetadata
        Empty strings and ``marked=False`` for what is missing; ``exif`` lists every EXIF tag
        found, so a test can check that nothing but ``Artist`` and ``Copyright`` is there.

    Raises
    ------
    CorruptImage
        If the bytes are not an image Pillow can open, or the XMP is not well-formed XML.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            packet = image.info.get("xmp", b"")
            exif = _exif_names(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorruptImage(f"cannot read metadata: {error}") from error
    creator, rights, marked, mining = "", "", False, ""
    if packet:
        raw = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
        try:
            creator, rights, marked, mining = _parse_xmp(raw.strip(b"\x00 \n"))
        except ElementTree.ParseError as error:
            raise CorruptImage(f"malformed XMP: {error}") from error
    return RightsMetadata(
        creator=creator, rights=rights, marked=marked, data_mining=mining, exif=exif
    )
