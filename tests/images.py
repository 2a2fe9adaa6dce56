"""Small photo-like test images made on the spot (seeded, so every run sees the same pixels)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


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
