"""Small photo-like test images made on the spot (seeded, so every run sees the same pixels)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo


def photo(width: int = 640, height: int = 512, *, seed: int = 3, fmt: str = "JPEG") -> bytes:
    """Smooth colour gradients with texture and a few edges, encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            0.5 + 0.4 * np.sin(x / 57 + seed),
            0.5 + 0.4 * np.cos(y / 43),
            0.5 + 0.3 * np.sin((x + y) / 91),
        ],
        axis=-1,
    )
    base[height // 3 : height // 2, width // 4 : width // 2] *= 0.6
    pixels = np.clip(base + rng.normal(0, 0.04, base.shape), 0, 1)
    out = io.BytesIO()
    Image.fromarray((pixels * 255).astype(np.uint8)).save(out, format=fmt, quality=92)
    return out.getvalue()


IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def with_xmp_source_type(
    data: bytes, source_type: str, *, form: str = "attribute", fmt: str = "JPEG"
) -> bytes:
    """``data`` re-encoded with an XMP packet whose IPTC digital source type is ``source_type``
    (a term of the IPTC vocabulary), written as an ``attribute``, an ``element`` or a
    ``resource``, as generators and editors write it."""
    uri = IPTC_SOURCE_TYPES + source_type
    ns = 'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    if form == "attribute":
        description = f'<rdf:Description rdf:about="" {ns} Iptc4xmpExt:DigitalSourceType="{uri}"/>'
    elif form == "element":
        description = (
            f'<rdf:Description rdf:about="" {ns}>'
            f"<Iptc4xmpExt:DigitalSourceType>{uri}</Iptc4xmpExt:DigitalSourceType>"
            "</rdf:Description>"
        )
    else:
        description = (
            f'<rdf:Description rdf:about="" {ns}>'
            f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{uri}"/></rdf:Description>'
        )
    xmp = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{description}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()
    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        if fmt == "PNG":  # an iTXt chunk, as the XMP specification puts it in a PNG
            info = PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode())
            image.save(out, format=fmt, pnginfo=info)
        else:
            image.save(out, format=fmt, quality=92, xmp=xmp)
    return out.getvalue()


def with_c2pa_source_type(data: bytes, source_type: str) -> bytes:
    """``data`` (a JPEG) with a C2PA manifest, signed with a development certificate, whose
    ``c2pa.created`` action has the IPTC digital source type ``source_type`` (what a generator
    that writes content credentials embeds)."""
    import c2pa

    from server.c2pa_ca import make_development_ca

    ca_pem, _, leaf_pem, leaf_key = make_development_ca("Image generator")
    manifest = {
        "claim_generator_info": [{"name": "an image generator"}],
        "title": "generated.jpg",
        "format": "image/jpeg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC_SOURCE_TYPES + source_type,
                        }
                    ]
                },
            }
        ],
    }
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, leaf_pem + ca_pem, leaf_key, None)
    )
    builder = c2pa.Builder.from_json(manifest, context)
    out = io.BytesIO()
    with signer, builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(data), out)
    return out.getvalue()
