"""The errors of the imaging pipeline: one base class with a stable ``code`` per failure.

Callers (the resolvers) translate ``code`` into their own error enum; the message is for people.
Programming errors (an array of the wrong shape, an unknown option) raise ``ValueError`` instead:
they are bugs, not bad uploads.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AnimatedImage",
    "CorruptImage",
    "EmptyImage",
    "ImagingError",
    "TooLargeBytes",
    "TooManyPixels",
    "TooSmall",
    "UnsupportedFormat",
    "WatermarkUnverified",
]


class ImagingError(Exception):
    """Base class: an input the pipeline refuses, with a stable machine-readable ``code``."""

    code: ClassVar[str] = "IMAGING_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class EmptyImage(ImagingError):
    """The upload has no bytes."""

    code = "EMPTY"


class TooLargeBytes(ImagingError):
    """The upload is larger than the byte cap."""

    code = "TOO_LARGE_BYTES"


class UnsupportedFormat(ImagingError):
    """The bytes are not JPEG, PNG, WebP or AVIF (judged by their content, never by a name)."""

    code = "UNSUPPORTED_FORMAT"


class TooManyPixels(ImagingError):
    """The header declares more pixels than the cap; nothing was decoded."""

    code = "TOO_MANY_PIXELS"


class TooSmall(ImagingError):
    """The image is smaller than the pipeline can protect."""

    code = "TOO_SMALL"


class AnimatedImage(ImagingError):
    """The file holds more than one frame; animations are refused, not flattened."""

    code = "ANIMATED"


class CorruptImage(ImagingError):
    """The file claims a supported format but cannot be decoded (truncated, malformed)."""

    code = "CORRUPT"


class WatermarkUnverified(ImagingError):
    """A derivative did not give back the payload it was marked with, so it was not accepted."""

    code = "WATERMARK_UNVERIFIED"
