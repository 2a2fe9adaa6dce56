"""Generated pictures for the demo content: painterly gradients, shapes, line art and avatars.

Each is a pure function of a seeded ``numpy.random.Generator`` and a size, so a demo seeded twice
draws the same pictures, and returns JPEG bytes ready to upload (they then go through the same
protection pipeline as any upload).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

Picture = Callable[[np.random.Generator, int, int], bytes]


def _palette(rng: np.random.Generator, count: int) -> NDArray[np.float64]:
    """``count`` harmonious colours (RGB in 0..1): hues spread around a random one."""
    base = rng.uniform(0, 1)
    hues = (base + np.linspace(0, rng.uniform(0.3, 0.8), count)) % 1.0
    saturation = rng.uniform(0.35, 0.8, count)
    value = rng.uniform(0.45, 0.95, count)
    return np.stack([_hsv_to_rgb(h, s, v) for h, s, v in zip(hues, saturation, value, strict=True)])


def _hsv_to_rgb(h: float, s: float, v: float) -> NDArray[np.float64]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _jpeg(pixels: NDArray[np.float64] | Image.Image) -> bytes:
    image = (
        pixels
        if isinstance(pixels, Image.Image)
        else Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    )
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def painterly(rng: np.random.Generator, width: int, height: int) -> bytes:
    """Soft colour fields blended across the canvas, with brush-like streaks and grain."""
    colours = _palette(rng, 5)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    canvas = np.zeros((height, width, 3))
    weights = np.zeros((height, width, 1))
    for colour in colours:
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        spread = rng.uniform(0.12, 0.3) * max(width, height)
        weight = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * spread**2))[..., None]
        canvas += weight * colour
        weights += weight
    canvas /= weights + 1e-9
    angle = rng.uniform(0, np.pi)
    streaks = np.sin((x * np.cos(angle) + y * np.sin(angle)) / rng.uniform(3, 9))
    canvas *= 1 + 0.04 * streaks[..., None]
    canvas *= (0.85 + 0.3 * y / height)[..., None] if rng.random() < 0.5 else 1.0
    canvas += rng.normal(0, 0.02, canvas.shape)
    return _jpeg(canvas)


def shapes(rng: np.random.Generator, width: int, height: int) -> bytes:
    """Overlapping translucent circles, rectangles and triangles on a tinted ground."""
    colours = (_palette(rng, 6) * 255).astype(int)
    ground = tuple(int(c) for c in 235 - colours[0] // 6)
    image = Image.new("RGB", (width, height), ground)
    layer = Image.new("RGBA", (width, height))
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(9, 16))):
        r, g, b = (int(c) for c in colours[int(rng.integers(1, len(colours)))])
        fill = (r, g, b, int(rng.integers(120, 220)))
        x0, y0 = int(rng.integers(-width // 8, width)), int(rng.integers(-height // 8, height))
        size = int(rng.integers(min(width, height) // 8, min(width, height) // 2))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x0 + size, y0 + size), fill=fill)
        elif kind == 1:
            draw.rectangle((x0, y0, x0 + size, y0 + int(size * rng.uniform(0.4, 1.2))), fill=fill)
        else:
            draw.polygon([(x0, y0 + size), (x0 + size // 2, y0), (x0 + size, y0 + size)], fill=fill)
    image.paste(layer, (0, 0), layer)
    return _jpeg(image.filter(ImageFilter.GaussianBlur(0.6)))


def line_art(rng: np.random.Generator, width: int, height: int) -> bytes:
    """Ink strokes on paper: flowing curves drawn as random walks with momentum."""
    paper = Image.new("RGB", (width, height), (246, 241, 230))
    draw = ImageDraw.Draw(paper)
    ink = tuple(int(c) for c in (_palette(rng, 1)[0] * 90))
    for _ in range(int(rng.integers(14, 24))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        heading = rng.uniform(0, 2 * np.pi)
        points = [(x, y)]
        for _ in range(int(rng.integers(40, 120))):
            heading += rng.normal(0, 0.25)
            x += 6 * np.cos(heading)
            y += 6 * np.sin(heading)
            points.append((x, y))
        draw.line(points, fill=ink, width=int(rng.integers(1, 4)), joint="curve")
    return _jpeg(paper.filter(ImageFilter.SMOOTH))


def avatar(rng: np.random.Generator, width: int, height: int) -> bytes:
    """A round face-like mark on a two-colour ground: head, shoulders, a highlight."""
    ground, skin, cloth = (tuple(int(v) for v in c * 255) for c in _palette(rng, 3))
    image = Image.new("RGB", (width, height), ground)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=tuple(v * 3 // 4 for v in ground))
    draw.ellipse((width // 6, height * 3 // 5, width * 5 // 6, height * 7 // 5), fill=cloth)
    draw.ellipse((width // 3, height // 5, width * 2 // 3, height * 3 // 5), fill=skin)
    draw.ellipse(
        (width * 2 // 5, height // 4, width // 2, height * 7 // 20),
        fill=tuple(min(255, v + 40) for v in skin),
    )
    return _jpeg(image.filter(ImageFilter.GaussianBlur(1.2)))


ARTWORK_STYLES: tuple[Picture, ...] = (painterly, shapes, line_art)
