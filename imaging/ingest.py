"""Ingest: untrusted upload bytes in, an upright sRGB ``uint8`` array out, or a clear refusal.

Order of checks, cheapest first, so that hostile input costs little:

1. empty, then the byte cap;
2. the format, from the leading bytes (magic numbers) only: JPEG, PNG, WebP or AVIF; a file name
   is never consulted, and the file is opened with that one decoder, so a polyglot is read as what
   its first bytes say or refused;
3. the header's pixel count against the pixel cap, before any pixel is decoded (Pillow's own
   decompression-bomb guard is turned into the same error), and a minimum side;
4. animation: a file with more than one frame (APNG, animated WebP or AVIF) is refused rather than
   silently flattened to its first frame, so the artist is not surprised by what gets published
   (a JPEG's Multi-Picture extras, such as HDR gain maps or depth maps, are not frames: the
   primary image is taken);
5. decode, apply the EXIF orientation, convert to sRGB, drop everything else.

Colour decisions:

- ICC profiles are converted to sRGB (perceptual intent). A profile LittleCMS cannot use is
  ignored and the pixels are taken as sRGB (recorded as ``icc="invalid"``).
- CMYK goes through its embedded ICC profile when there is one; without one, Pillow's naive
  formula ``R = (255 - C)(255 - K) / 255`` (likewise G, B) is used, which is only approximate
  (recorded as ``cmyk="naive"``).
- 16-bit samples are scaled to 8 bits with rounding, ``round(v * 255 / 65535)``. For 16-bit
  colour PNGs both bytes of each sample are decoded (Pillow keeps only the high byte); 16-bit
  grey-with-alpha PNGs keep Pillow's high byte (truncation, at most one level off).
- Transparency is composited onto white (in sRGB, as browsers do): artworks with transparent
  backgrounds are shown on white, JPEG derivatives could not carry alpha anyway, and the cloak and
  watermark need every pixel to be visible. ``had_alpha`` records that it happened.
- All metadata (EXIF, XMP, IPTC, comments, the ICC profile itself) is dropped: the output is only
  pixels. Rights metadata is written afresh by `imaging.metadata`. A text chunk that inflates
  beyond Pillow's limit (a zlib bomb in the metadata) makes the file ``CORRUPT``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageFile

from imaging.errors import (
    AnimatedImage,
    CorruptImage,
    EmptyImage,
    TooLargeBytes,
    TooManyPixels,
    TooSmall,
    UnsupportedFormat,
)
from imaging.planes import RGBImage

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MIN_SIDE",
    "IngestInfo",
    "Ingested",
    "ingest",
    "inspect",
    "sniff_format",
]

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "AVIF")
MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 64

_ORIENTATION = 0x0112
# EXIF orientation -> what makes the stored pixels upright (the table of ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_NOT_ACCEPTED = (
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML/SVG"),
    (b"<!DOCTYPE", "HTML"),
    (b"<html", "HTML"),
)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True, slots=True)
class IngestInfo:
    """What ingest learnt about the upload (JSON-able with `to_dict`).

    Attributes
    ----------
    source_format : str
        ``"JPEG"``, ``"PNG"``, ``"WEBP"`` or ``"AVIF"``.
    original_size : tuple of int
        ``(width, height)`` as stored, before the orientation was applied.
    size : tuple of int
        ``(width, height)`` of the output.
    orientation : int
        The EXIF orientation that was applied (1 when there was none).
    mode : str
        Pillow's mode of the stored pixels (``"RGB"``, ``"CMYK"``, ``"I;16"``, ``"P"`` ...).
    bit_depth : int
        8, or 16 when the samples were scaled down.
    had_alpha : bool
        The image had transparency; it was composited onto white.
    icc : str
        ``"none"``, ``"converted"`` (to sRGB) or ``"invalid"`` (ignored).
    cmyk : str or None
        ``"icc"`` or ``"naive"`` for CMYK input, else None.
    byte_size : int
        Size of the upload.
    """

    source_format: str
    original_size: tuple[int, int]
    size: tuple[int, int]
    orientation: int
    mode: str
    bit_depth: int
    had_alpha: bool
    icc: str
    cmyk: str | None
    byte_size: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = asdict(self)
        out["original_size"] = list(self.original_size)
        out["size"] = list(self.size)
        return out


@dataclass(frozen=True, slots=True)
class Ingested:
    """Ingest's result: ``pixels`` is a fresh, writeable ``uint8`` array of shape (H, W, 3)."""

    pixels: RGBImage
    info: IngestInfo


def sniff_format(data: bytes) -> str | None:
    """The allowed format the bytes start like, or None. Looks at the first 64 bytes only."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and len(head) >= 16:
        box_end = min(int.from_bytes(head[:4], "big"), len(head))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
        if brands & {b"avif", b"avis"}:
            return "AVIF"
    return None


def _describe(data: bytes) -> str:
    head = data[:64].lstrip().lower()
    for magic, name in _NOT_ACCEPTED:
        if head.startswith(magic.lower()):
            return name
    return "an unknown format"


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1..8; 1 when absent or when the EXIF block cannot be parsed."""
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # malformed EXIF must not refuse an otherwise good image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_8bit(values: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """16-bit samples to 8 bits, rounding to nearest: ``(v * 255 + 32767) // 65535``."""
    wide = np.clip(values, 0, 65535).astype(np.uint32)
    return np.asarray((wide * 255 + 32767) // 65535, dtype=np.uint8)


def _wide_png(data: bytes, image: Image.Image, rawmode: str) -> Image.Image | None:
    """A 16-bit colour PNG decoded with both bytes of each sample, scaled to 8 bits; else None."""
    little = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}.get(rawmode)
    if little is None:
        return None
    high = np.array(image, dtype=np.uint16)  # Pillow keeps the high byte of each sample
    # The same stream unpacked as little-endian yields the low byte of each big-endian sample.
    with Image.open(io.BytesIO(data), formats=["PNG"]) as twin:
        twin.tile = [twin.tile[0]._replace(args=little)]
        low = np.array(twin, dtype=np.uint16)
    return Image.fromarray(_to_8bit(high * 256 + low))


def _to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, str]:
    """RGB or RGBA in sRGB, through the ICC profile when there is a usable one."""
    target = "RGBA" if "A" in image.mode else "RGB"
    if not icc:
        return image.convert(target), "none"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if image.mode in {"RGBA", "LA"}:
            colour = image.convert(image.mode[:-1])
            converted = ImageCms.profileToProfile(colour, source, _SRGB, outputMode="RGB")
            assert converted is not None
            converted.putalpha(image.getchannel("A"))
            return converted, "converted"
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        assert converted is not None
        return converted, "converted"
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image.convert(target), "invalid"


def _rawmode(image: ImageFile.ImageFile) -> str:
    """How a PNG stores its samples (``"RGB;16B"`` ...), read from the tile before loading."""
    return str(image.tile[0].args) if image.format == "PNG" and len(image.tile) == 1 else ""


def _decode(
    data: bytes, image: ImageFile.ImageFile, rawmode: str
) -> tuple[Image.Image, int, str, str | None, bool]:
    """Pixels as RGB (or RGBA) sRGB; also bit depth, ICC outcome, CMYK path and alpha flag."""
    icc = image.info.get("icc_profile")
    mode = image.mode
    bit_depth = 16 if rawmode.endswith(";16B") or mode.startswith("I") else 8
    picture: Image.Image = image
    wide = _wide_png(data, image, rawmode)
    if wide is not None:
        picture = wide
    elif mode in {"I;16", "I;16B", "I;16L", "I"}:
        picture = Image.fromarray(_to_8bit(np.array(image)))
    had_alpha = "A" in picture.mode or "transparency" in picture.info
    if mode == "CMYK":
        converted, outcome = _to_srgb(picture, icc)
        return converted, bit_depth, "none", ("icc" if outcome == "converted" else "naive"), False
    if picture.mode not in {"RGB", "RGBA", "L", "LA"}:
        picture = picture.convert("RGBA" if had_alpha else "RGB")
    elif had_alpha and "A" not in picture.mode:
        picture = picture.convert("RGBA")
    converted, outcome = _to_srgb(picture, icc)
    return converted, bit_depth, outcome, None, had_alpha


@contextlib.contextmanager
def _checked_open(
    data: bytes, max_bytes: int, max_pixels: int, min_side: int
) -> Iterator[tuple[ImageFile.ImageFile, str]]:
    """Checks 1 to 4 of the module's docstring, reading only the header; yields the opened (not
    yet decoded) image and its format. Call inside ``warnings.catch_warnings()``."""
    if not data:
        raise EmptyImage("the upload is empty")
    if len(data) > max_bytes:
        raise TooLargeBytes(f"the upload is {len(data)} bytes; the limit is {max_bytes}")
    image_format = sniff_format(data)
    if image_format is None:
        raise UnsupportedFormat(
            f"the bytes look like {_describe(data)}; only JPEG, PNG, WebP and AVIF are accepted"
        )
    warnings.simplefilter("ignore")
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        image = Image.open(io.BytesIO(data), formats=[image_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise TooManyPixels(f"the header declares too many pixels: {error}") from error
    except Exception as error:  # hostile headers raise all sorts of things
        raise CorruptImage(f"not a readable {image_format} file: {error}") from error
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise TooManyPixels(
                f"{width} x {height} is {width * height} pixels; the limit is {max_pixels}"
            )
        if min(width, height) < min_side:
            raise TooSmall(f"{width} x {height} is below the minimum side of {min_side}")
        try:
            # A JPEG's extra Multi-Picture images (HDR gain maps, depth maps, the second
            # view of a stereo pair) are not an animation: the primary image is used.
            frames = 1 if image_format == "JPEG" else int(getattr(image, "n_frames", 1))
        except Exception as error:
            raise CorruptImage(f"cannot count the frames: {error}") from error
        if frames > 1:
            raise AnimatedImage(
                f"the {image_format} file has {frames} frames; upload a still image"
            )
        yield image, image_format


def inspect(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
) -> tuple[str, int, int]:
    """The cheap checks of `ingest` (1 to 4: size, format, header, frames) without decoding.

    A file that passes may still be refused by `ingest` (pixel data that does not decode), but
    every refusal raised here is the one `ingest` would raise.

    Returns
    -------
    tuple
        ``(format, width, height)`` as the header declares them.

    Raises
    ------
    EmptyImage, TooLargeBytes, UnsupportedFormat, TooManyPixels, TooSmall, AnimatedImage,
    CorruptImage
    """
    with (
        warnings.catch_warnings(),
        _checked_open(data, max_bytes, max_pixels, min_side) as (image, image_format),
    ):
        width, height = image.size
        return image_format, width, height


def ingest(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
) -> Ingested:
    """Validate and decode an upload.

    Parameters
    ----------
    data : bytes
        The upload, untrusted.
    max_bytes : int
        Byte cap (default 50 MiB).
    max_pixels : int
        Pixel cap, checked on the header before decoding (default 40 megapixels). Pillow's
        ``Image.MAX_IMAGE_PIXELS`` guard still applies above it.
    min_side : int
        Smallest accepted width or height (default 64).

    Returns
    -------
    Ingested
        ``pixels``: upright sRGB ``uint8`` of shape (H, W, 3), no metadata; ``info``.

    Raises
    ------
    EmptyImage, TooLargeBytes, UnsupportedFormat, TooManyPixels, TooSmall, AnimatedImage,
    CorruptImage
        All subclasses of `imaging.errors.ImagingError`, each with its ``code``.

    Notes
    -----
    Not thread-safe with respect to the ``warnings`` filters (it changes them while decoding);
    the pipeline runs in worker processes.
    """
    with (
        warnings.catch_warnings(),
        _checked_open(data, max_bytes, max_pixels, min_side) as (image, image_format),
    ):
        width, height = image.size
        mode, rawmode = image.mode, _rawmode(image)
        try:
            # Load first: reading EXIF may load the image and swallow a decoding error.
            image.load()
            orientation = _orientation(image)
            decoded, bit_depth, icc, cmyk, had_alpha = _decode(data, image, rawmode)
            if orientation != 1:
                decoded = decoded.transpose(_TRANSPOSE[orientation])
        except Exception as error:
            raise CorruptImage(f"cannot decode the {image_format} data: {error}") from error
    if decoded.mode == "RGBA":
        background = Image.new("RGBA", decoded.size, (255, 255, 255, 255))
        decoded = Image.alpha_composite(background, decoded)
    pixels = np.array(decoded.convert("RGB"), dtype=np.uint8)
    info = IngestInfo(
        source_format=image_format,
        original_size=(width, height),
        size=(pixels.shape[1], pixels.shape[0]),
        orientation=orientation,
        mode=mode,
        bit_depth=bit_depth,
        had_alpha=had_alpha,
        icc=icc,
        cmyk=cmyk,
        byte_size=len(data),
    )
    return Ingested(pixels=pixels, info=info)
