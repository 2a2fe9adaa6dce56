"""Minimal ICC v2 profiles built by hand, so colour-management tests need no profile files.

Two profiles whose effect cannot be mistaken for "no conversion":

- `swapped_rgb_profile`: an RGB display profile whose red and blue primaries are exchanged, so a
  red pixel tagged with it is blue in sRGB;
- `red_cyan_cmyk_profile`: a CMYK printer profile in which cyan ink prints *red*, so its result
  differs from the naive CMYK formula (which makes cyan).

Layout from ICC.1:2001-04 (header, tag table, XYZType, curveType, lut8Type, textDescriptionType).
"""

from __future__ import annotations

import struct

import numpy as np
from skimage.color import rgb2lab

_D50 = (0.9642, 1.0, 0.8249)
# sRGB colorants adapted to D50, as in the common sRGB profiles.
_SRGB_RED = (0.4361, 0.2225, 0.0139)
_SRGB_GREEN = (0.3851, 0.7169, 0.0971)
_SRGB_BLUE = (0.1431, 0.0606, 0.7141)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(values: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + b"\0" * 67
    )


def _text(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def _gamma(value: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(value * 256)) + b"\0\0"


def _profile(
    device_class: bytes, colour_space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]
) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, payload = [], b""
    for signature, data in tags:
        padded = data + b"\0" * (-len(data) % 4)
        entries.append(struct.pack(">4sII", signature, offset + len(payload), len(data)))
        payload += padded
    size = offset + len(payload)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + struct.pack(">I", 0x02100000)
        + device_class
        + colour_space
        + pcs
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + b"".join(_s15(v) for v in _D50)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + payload


def swapped_rgb_profile() -> bytes:
    """An RGB profile with the sRGB primaries, red and blue exchanged, gamma 2.2."""
    return _profile(
        b"mntr",
        b"RGB ",
        b"XYZ ",
        [
            (b"desc", _desc("Swapped red and blue")),
            (b"wtpt", _xyz(_D50)),
            (b"rXYZ", _xyz(_SRGB_BLUE)),
            (b"gXYZ", _xyz(_SRGB_GREEN)),
            (b"bXYZ", _xyz(_SRGB_RED)),
            (b"rTRC", _gamma(2.2)),
            (b"gTRC", _gamma(2.2)),
            (b"bTRC", _gamma(2.2)),
            (b"cprt", _text("No copyright, test data")),
        ],
    )


def red_cyan_cmyk_profile() -> bytes:
    """A CMYK profile (lut8, 2 grid points, Lab PCS) in which cyan ink prints red."""
    corners = []
    for c in (0, 1):  # the first input channel varies slowest
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    paper = 1 - k
                    rgb = (
                        paper * (1 - m) * (1 - y),
                        paper * (1 - c) * (1 - m),
                        paper * (1 - c) * (1 - y),
                    )
                    corners.append(rgb)
    lab = rgb2lab(np.array(corners, dtype=np.float64)[:, None, :])[:, 0, :]
    encoded = np.stack([lab[:, 0] * 255 / 100, lab[:, 1] + 128, lab[:, 2] + 128], axis=1)
    clut = np.clip(np.rint(encoded), 0, 255).astype(np.uint8).tobytes()
    identity = bytes(range(256))
    lut = (
        b"mft1\0\0\0\0"
        + struct.pack(">BBBB", 4, 3, 2, 0)
        + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
        + identity * 4
        + clut
        + identity * 3
    )
    return _profile(
        b"prtr",
        b"CMYK",
        b"Lab ",
        [
            (b"desc", _desc("Cyan prints red")),
            (b"wtpt", _xyz(_D50)),
            (b"A2B0", lut),
            (b"cprt", _text("No copyright, test data")),
        ],
    )
