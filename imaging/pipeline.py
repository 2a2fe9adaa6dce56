"""The whole protection pipeline on one upload, and the reverse look-up of a published file.

``protect`` runs ingest -> cloak -> watermark -> metadata -> derivatives (each verified) -> report
and returns the files to publish with their report. It is CPU-bound and synchronous: run it in a
worker process, off the event loop. ``identify`` reads the asset id back from any image file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from imaging import watermark
from imaging.derivatives import Derivative, decode_bytes, render
from imaging.errors import WatermarkUnverified
from imaging.ingest import IngestInfo, ingest
from imaging.metadata import RightsMetadata, xmp_packet
from imaging.perturb import (
    INTENSITIES,
    CloakResult,
    cloak,
    distance_shrink,
    scaled,
    surrogate_distance,
)
from imaging.planes import RGBImage
from imaging.report import (
    DerivativeCheck,
    ProtectionReport,
    fidelity,
    pixel_differences,
    sample_index,
)

__all__ = ["STAGES", "ProtectedImage", "identify", "protect"]

STAGES = ("metadata", "ingest", "perturb", "watermark", "derivatives", "report")
_RETRY_STRENGTH = 1.5
# The mean CIEDE2000 that cloak and mark together may reach on a picture at the low and default
# intensities. The bar is 0.6; the budget is checked on a sample of pixels, so it keeps a margin
# below. Over it, the cloak gives way (its change is scaled down); the mark, which identification
# needs, is kept whole. `high` is the artist's choice of a stronger, visible cloak: not limited.
COLOUR_BUDGET = 0.55
_BUDGETED = frozenset({"low", "default"})
_BUDGET_SAMPLES = 65_536

Progress = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class ProtectedImage:
    """What `protect` returns: the files to publish, the report and what was written into them.

    Attributes
    ----------
    asset_id : int
        The id carried by the watermark.
    derivatives : tuple of Derivative
        display, medium and thumbnail, each as WebP and JPEG (bytes, content type, size).
    report : ProtectionReport
    metadata : RightsMetadata
        The rights written into every file.
    source : IngestInfo
        What ingest learnt about the upload.
    """

    asset_id: int
    derivatives: tuple[Derivative, ...]
    report: ProtectionReport
    metadata: RightsMetadata
    source: IngestInfo

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the files' bytes are left out; their sizes are in)."""
        return {
            "asset_id": self.asset_id,
            "derivatives": [
                {
                    "name": item.name,
                    "content_type": item.content_type,
                    "width": item.width,
                    "height": item.height,
                    "byte_size": item.byte_size,
                }
                for item in self.derivatives
            ],
            "report": self.report.to_dict(),
            "metadata": {
                key: value for key, value in asdict(self.metadata).items() if key != "exif"
            },
            "source": self.source.to_dict(),
        }


class _Clock:
    """Per-stage wall-clock timings, reported to an optional progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress(name, STAGES.index(name) / len(STAGES))
        start = time.perf_counter()
        yield
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start

    def done(self) -> None:
        if self._progress is not None:
            self._progress("done", 1.0)


def protect(
    data: bytes,
    *,
    asset_id: int,
    artist_key: bytes,
    watermark_key: bytes,
    intensity: str = "default",
    artist_name: str,
    rights: str,
    progress: Progress | None = None,
) -> ProtectedImage:
    """Protect one upload: cloak, watermark, label, and render the files to publish.

    Parameters
    ----------
    data : bytes
        The upload (untrusted).
    asset_id : int
        Watermark payload, in ``[0, 2**48)``.
    artist_key : bytes
        The artist's cloak key (chooses the decoy style).
    watermark_key : bytes
        The platform's watermark key.
    intensity : {"low", "default", "high"}
        Cloak intensity.
    artist_name, rights : str
        Written into EXIF and XMP (at most 500 characters each).
    progress : callable, optional
        Called as ``progress(stage, fraction_done)`` when each stage starts, and with
        ``("done", 1.0)`` at the end.

    Returns
    -------
    ProtectedImage

    Raises
    ------
    imaging.errors.ImagingError
        When the upload is refused (see `imaging.ingest.ingest`) or a derivative does not give
        its watermark back even after one retry with a 1.5x stronger mark
        (``WatermarkUnverified``).
    ValueError
        For bad arguments (unknown intensity, ``asset_id`` out of range, texts too long),
        before any work is done.
    """
    if intensity not in INTENSITIES:
        raise ValueError(f"intensity must be one of {sorted(INTENSITIES)}, got {intensity!r}")
    watermark.payload_bits(asset_id, key=watermark_key)  # validates the id
    clock = _Clock(progress)
    with clock.stage("metadata"):
        record = RightsMetadata(creator=artist_name, rights=rights)
        xmp_packet(record)  # validates the texts before any heavy work
    with clock.stage("ingest"):
        ingested = ingest(data)
    with clock.stage("perturb"):
        cloaked = cloak(ingested.pixels, artist_key=artist_key, intensity=intensity)
    strength = 1.0
    with clock.stage("watermark"):
        marked = watermark.embed(
            cloaked.pixels, asset_id=asset_id, key=watermark_key, strength=strength
        )
        factor = 1.0
        if intensity in _BUDGETED:
            factor = _cloak_within_budget(ingested.pixels, cloaked, marked)
        if factor < 1.0:
            cloaked = scaled(ingested.pixels, cloaked, factor, artist_key=artist_key)
            marked = watermark.embed(
                cloaked.pixels, asset_id=asset_id, key=watermark_key, strength=strength
            )
    with clock.stage("derivatives"):
        try:
            files = render(marked, asset_id=asset_id, watermark_key=watermark_key, rights=record)
        except WatermarkUnverified:
            strength = _RETRY_STRENGTH
            marked = watermark.embed(
                cloaked.pixels, asset_id=asset_id, key=watermark_key, strength=strength
            )
            files = render(marked, asset_id=asset_id, watermark_key=watermark_key, rights=record)
    with clock.stage("report"):
        before = cloaked.distance_before
        checks = tuple(
            DerivativeCheck(
                name=f"{item.name}.{item.extension}",
                width=item.width,
                height=item.height,
                byte_size=item.byte_size,
                watermark_bits=item.watermark_bits,
                watermark_verified=item.watermark_verified,
                watermark_required=item.watermark_required,
                cloak_effect=distance_shrink(
                    before, surrogate_distance(decode_bytes(item.data), artist_key=artist_key)
                ),
            )
            for item in files
        )
        quality = fidelity(ingested.pixels, marked)
        effect = distance_shrink(before, cloaked.distance_after)
    clock.done()
    report = ProtectionReport(
        fidelity=quality,
        cloak_effect=effect,
        cloak_distance=(cloaked.distance_before, cloaked.distance_after),
        intensity=intensity,
        watermark_strength=strength,
        watermark_payload_bits=watermark.PAYLOAD_BITS,
        derivatives=checks,
        timings=dict(clock.timings),
    )
    return ProtectedImage(
        asset_id=asset_id,
        derivatives=tuple(files),
        report=report,
        metadata=record,
        source=ingested.info,
    )


def _cloak_within_budget(original: RGBImage, cloaked: CloakResult, marked: RGBImage) -> float:
    """The factor (1 when within budget) by which the cloak's change must be scaled so that the
    marked picture stays within `COLOUR_BUDGET` of ``original``, measured on a fixed sample of
    pixels. Both changes are to luma alone, so at the sampled pixels the picture with a smaller
    cloak is the original plus the scaled cloak plus the mark's own change (which the mark's
    re-embedding on the new host changes little)."""
    flat = original.reshape(-1, 3)
    index = sample_index(flat.shape[0], _BUDGET_SAMPLES)
    if index is None:
        index = np.arange(flat.shape[0])
    before = flat[index]
    after_cloak = cloaked.pixels.reshape(-1, 3)[index]
    after_mark = marked.reshape(-1, 3)[index]
    if float(pixel_differences(before, after_mark).mean()) <= COLOUR_BUDGET:
        return 1.0
    # one channel's steps stand for the three (the changes are the same on each)
    base = before.astype(np.int16)
    cloak_step = after_cloak[:, :1].astype(np.int16) - base[:, :1]
    mark_step = after_mark[:, :1].astype(np.int16) - after_cloak[:, :1].astype(np.int16)

    def difference(factor: float) -> float:
        moved = base + np.rint(factor * cloak_step).astype(np.int16) + mark_step
        return float(pixel_differences(before, np.clip(moved, 0, 255).astype(np.uint8)).mean())

    low, high = 0.0, 1.0  # the largest factor within budget, to 1/64
    for _ in range(6):
        middle = (low + high) / 2
        if difference(middle) <= COLOUR_BUDGET:
            low = middle
        else:
            high = middle
    return low


def identify(data: bytes, *, watermark_key: bytes) -> int | None:
    """The asset id watermarked into an image file, or None when there is none (or no sure one).

    Raises
    ------
    imaging.errors.ImagingError
        When the bytes are not an acceptable image (see `imaging.ingest.ingest`).
    """
    pixels = ingest(data).pixels
    return watermark.decode(pixels, key=watermark_key).asset_id
