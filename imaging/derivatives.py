"""Derivatives: the sizes and formats that are published, each checked for its watermark.

Three sizes by long side, display (2048), medium (1024) and thumbnail (400), never upscaled, each
encoded as WebP and as JPEG with the rights metadata of `imaging.metadata`. Every file is decoded
again and its watermark read back before it is accepted.

Where the watermark can be relied on: a derivative whose *short* side is at least
`WATERMARK_MIN_SIDE` (512) pixels must give back the asset id, or `render` raises
`imaging.errors.WatermarkUnverified`. Below that the 64 bits are still read and reported, but not
required. The thumbnail (400 px on the long side) is therefore never required: there the mark's
upper frequencies sit next to the Nyquist limit, and on busy photographs (scikit-image's
astronaut, brick, camera) the 400 px WebP loses several of the 64 bits. Uploads whose short side
is under 512 pixels carry the mark but have no derivative where it is required.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from imaging import watermark
from imaging.errors import WatermarkUnverified
from imaging.metadata import RightsMetadata, save_options
from imaging.planes import RGBImage, as_rgb_uint8, fit_long_side

__all__ = [
    "ENCODINGS",
    "SIZES",
    "WATERMARK_MIN_SIDE",
    "Derivative",
    "Encoding",
    "render",
]

SIZES = (("display", 2048), ("medium", 1024), ("thumbnail", 400))
WATERMARK_MIN_SIDE = 512


@dataclass(frozen=True, slots=True)
class Encoding:
    """One output format and the encoder settings used for it."""

    image_format: str
    content_type: str
    extension: str
    options: tuple[tuple[str, Any], ...]


ENCODINGS = (
    Encoding("WEBP", "image/webp", "webp", (("quality", 82), ("method", 4))),
    Encoding(
        "JPEG", "image/jpeg", "jpg", (("quality", 85), ("optimize", True), ("progressive", True))
    ),
)


@dataclass(frozen=True, slots=True)
class Derivative:
    """One published file.

    Attributes
    ----------
    name : str
        ``"display"``, ``"medium"`` or ``"thumbnail"``.
    image_format, content_type, extension : str
        ``"WEBP"``/``"image/webp"``/``"webp"`` or ``"JPEG"``/``"image/jpeg"``/``"jpg"``.
    width, height : int
    data : bytes
        The encoded file, metadata included.
    watermark_bits : int
        How many of the 64 payload bits were read back correctly from ``data``.
    watermark_verified : bool
        The asset id itself was read back (check bits and confidence held).
    watermark_required : bool
        Whether the size is one where verification is required (short side >= 512).
    """

    name: str
    image_format: str
    content_type: str
    extension: str
    width: int
    height: int
    data: bytes
    watermark_bits: int
    watermark_verified: bool
    watermark_required: bool

    @property
    def byte_size(self) -> int:
        """Length of ``data``."""
        return len(self.data)


def _resize(image: Image.Image, long_side: int) -> Image.Image:
    """Downscale so the long side is ``long_side``; an image already that small is kept as is."""
    if max(image.size) <= long_side:
        return image
    return image.resize(
        fit_long_side(image.size, long_side), Image.Resampling.LANCZOS, reducing_gap=3.0
    )


def decode_bytes(data: bytes) -> RGBImage:
    """Decode one of our own derivative files to RGB ``uint8`` (no checks: the bytes are ours)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"), dtype=np.uint8)


def render(
    image: NDArray[np.generic],
    *,
    asset_id: int,
    watermark_key: bytes,
    rights: RightsMetadata,
    sizes: tuple[tuple[str, int], ...] = SIZES,
    encodings: tuple[Encoding, ...] = ENCODINGS,
) -> list[Derivative]:
    """Resize, encode and verify every derivative of a protected image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        The protected (cloaked and watermarked) image, ``uint8`` or float in ``[0, 1]``. Not
        modified.
    asset_id : int
        The id the watermark must give back.
    watermark_key : bytes
    rights : RightsMetadata
        Written into every file.
    sizes : tuple of (name, long side)
        Largest first; each is made from the previous one (never upscaled).
    encodings : tuple of Encoding

    Returns
    -------
    list of Derivative
        One per size and encoding, in that order.

    Raises
    ------
    WatermarkUnverified
        If a derivative whose short side is at least `WATERMARK_MIN_SIDE` does not read back
        ``asset_id``.
    ValueError
        If the image is not ``(H, W, 3)``.
    """
    rgb = as_rgb_uint8(image)
    expected = watermark.payload_bits(asset_id, key=watermark_key)
    current = Image.fromarray(rgb)
    out: list[Derivative] = []
    for name, long_side in sizes:
        current = _resize(current, long_side)
        width, height = current.size
        required = min(width, height) >= WATERMARK_MIN_SIDE
        for encoding in encodings:
            buffer = io.BytesIO()
            current.save(
                buffer,
                encoding.image_format,
                **dict(encoding.options),
                **save_options(encoding.image_format, rights),
            )
            data = buffer.getvalue()
            decoded = watermark.decode(decode_bytes(data), key=watermark_key, search=False)
            verified = decoded.asset_id == asset_id
            if required and not verified:
                raise WatermarkUnverified(
                    f"the {name} {encoding.image_format} ({width} x {height}) did not give back "
                    f"its watermark (confidence {decoded.confidence:.2f})"
                )
            out.append(
                Derivative(
                    name=name,
                    image_format=encoding.image_format,
                    content_type=encoding.content_type,
                    extension=encoding.extension,
                    width=width,
                    height=height,
                    data=data,
                    watermark_bits=int(np.sum(decoded.bits == expected)),
                    watermark_verified=verified,
                    watermark_required=required,
                )
            )
    return out
