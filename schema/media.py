"""Media types and upload inputs: protected images and their reports."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry
from strawberry.file_uploads import Upload

from resolvers.errors import ErrorCode, InputError
from resolvers.loaders import NotLoaded, peek
from resolvers.media import ImageUpload
from resolvers.sensitive import shows_sensitive
from resolvers.surrogates import ImageRef
from schema.base import Info, Node, to_global_id
from storage import models

R = TypeVar("R")


@strawberry.enum
class MediaSize(enum.Enum):
    DISPLAY = "display"
    MEDIUM = "medium"
    THUMBNAIL = "thumbnail"


@strawberry.enum
class ImageFormat(enum.Enum):
    WEBP = "webp"
    JPEG = "jpeg"


@strawberry.input(description="An image to protect and publish (GraphQL multipart request).")
class ImageInput:
    file: Upload
    alt_text: str = strawberry.field(default="", description="Up to 1,500 characters.")
    upload_id: str | None = strawberry.field(
        default=None,
        description="Any id of your choosing: progress is published to uploadProgress(id).",
    )


async def read_upload(info: Info, file: Any, field: str) -> bytes:
    """The bytes of an uploaded file, refusing more than the configured cap without reading it
    all into memory."""
    limit = info.context.services.upload_max_bytes
    data: bytes = await file.read(limit + 1)
    if len(data) > limit:
        raise InputError.single(
            field,
            f"the file is larger than {limit // (1024 * 1024)} MiB",
            ErrorCode.IMAGE_TOO_LARGE,
        )
    return data


async def image_uploads(info: Info, images: list[ImageInput], field: str) -> list[ImageUpload]:
    return [
        ImageUpload(
            data=await read_upload(info, image.file, field),
            filename=str(getattr(image.file, "filename", "") or ""),
            alt_text=image.alt_text.strip(),
            upload_id=image.upload_id,
        )
        for image in images
    ]


@strawberry.type
class MediaVariant:
    size: MediaSize
    format: ImageFormat
    content_type: str
    width: int
    height: int
    byte_size: int
    url: str


@strawberry.type(description="One derivative checked after encoding.")
class DerivativeCheck:
    name: str
    width: int
    height: int
    watermark_bits: int = strawberry.field(description="Payload bits read back, of 64.")
    watermark_verified: bool
    watermark_required: bool
    cloak_effect: float


@strawberry.type(
    description=(
        "What protecting this image measured. The cloak is measured against its own surrogate "
        "statistic, not against a generative model."
    )
)
class ProtectionReport:
    psnr_db: float | None
    ssim: float
    ciede2000_mean: float
    ciede2000_p99: float
    cloak_effect: float = strawberry.field(
        description="How much closer the surrogate style statistic moved to the decoy (0..1)."
    )
    intensity: str
    watermark_strength: float
    derivatives: list[DerivativeCheck]

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> ProtectionReport:
        fidelity = report.get("fidelity", {})
        return cls(
            psnr_db=fidelity.get("psnr_db"),
            ssim=float(fidelity.get("ssim", 0.0)),
            ciede2000_mean=float(fidelity.get("ciede2000_mean", 0.0)),
            ciede2000_p99=float(fidelity.get("ciede2000_p99", 0.0)),
            cloak_effect=float(report.get("cloak_effect", 0.0)),
            intensity=str(report.get("intensity", "")),
            watermark_strength=float(report.get("watermark_strength", 0.0)),
            derivatives=[
                DerivativeCheck(
                    name=d["name"],
                    width=d["width"],
                    height=d["height"],
                    watermark_bits=d["watermark_bits"],
                    watermark_verified=d["watermark_verified"],
                    watermark_required=d["watermark_required"],
                    cloak_effect=d["cloak_effect"],
                )
                for d in report.get("derivatives", [])
            ],
        )


@strawberry.type(description="A protected image: only cloaked, watermarked, labelled files exist.")
class MediaAsset(Node):
    width: int
    height: int
    alt_text: str
    dominant_color: str = strawberry.field(description="#rrggbb, for a placeholder.")
    sensitive: bool = strawberry.field(
        description=(
            "The image is sensitive: `variants` is empty and `url` null unless you opt in "
            "(the showSensitive setting, or `showSensitive: true` here)."
        )
    )
    row: strawberry.Private[models.MediaAsset]

    @classmethod
    def from_row(cls, row: models.MediaAsset) -> MediaAsset:
        return cls(
            id=to_global_id("MediaAsset", row.id),
            width=row.width,
            height=row.height,
            alt_text=row.alt_text,
            dominant_color=row.dominant_color,
            sensitive=row.sensitive,
            row=row,
        )

    def _withheld(self, info: Info, show_sensitive: bool | None) -> bool:
        if not self.row.sensitive:
            return False
        return not shows_sensitive(info.context.viewer, self.row.owner_id, show_sensitive)

    @strawberry.field
    def variants(self, info: Info, show_sensitive: bool | None = None) -> list[MediaVariant]:
        if self._withheld(info, show_sensitive):
            return []

        def build(image: ImageRef) -> list[MediaVariant]:
            url = info.context.services.media_url
            return [
                MediaVariant(
                    size=MediaSize(v["size"]),
                    format=ImageFormat(v["format"]),
                    content_type=str(v["content_type"]),
                    width=int(str(v["width"])),
                    height=int(str(v["height"])),
                    byte_size=int(str(v["byte_size"])),
                    url=url(str(v["key"]), image),
                )
                for v in self.row.variants
            ]

        return self._with_image(info, build)

    @strawberry.field(description="The URL of one variant (default: the display WebP).")
    def url(
        self,
        info: Info,
        size: MediaSize = MediaSize.DISPLAY,
        format: ImageFormat = ImageFormat.WEBP,
        show_sensitive: bool | None = None,
    ) -> str | None:
        if self._withheld(info, show_sensitive):
            return None
        for v in self.row.variants:
            if v["size"] == size.value and v["format"] == format.value:
                url = functools.partial(info.context.services.media_url, str(v["key"]))
                return self._with_image(info, url)
        return None

    def _with_image(self, info: Info, convert: Callable[[ImageRef], R]) -> R:
        """``convert`` of this image with the training policy in force (which its URLs sign),
        at once when the request's loader holds it, else an awaitable of it: the images of a
        page share one query."""
        loader = info.context.loaders.media_policy
        policy = peek(loader, self.row.id)
        if isinstance(policy, NotLoaded):
            return cast("R", self._image_later(info, convert))
        return convert(ImageRef.of(self.row, policy or models.TrainingPolicy.DISALLOWED))

    async def _image_later(self, info: Info, convert: Callable[[ImageRef], R]) -> R:
        policy = await info.context.loaders.media_policy.load(self.row.id)
        return convert(ImageRef.of(self.row, policy or models.TrainingPolicy.DISALLOWED))

    @strawberry.field
    def protection(self) -> ProtectionReport:
        return ProtectionReport.from_dict(dict(self.row.report))
