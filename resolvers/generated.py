"""The no-AI-art rule: an upload whose own metadata says a generative model made it is refused
or labelled, by setting (``GESSO_AI_IMAGES``), before the pipeline strips that metadata.

Unset, portfolio artworks refuse such images (``AI_GENERATED``) and posts take them with the
label (``aiGenerated: true``); ``refuse`` or ``label`` applies to both. Avatars are not checked.
What is read, and what it cannot prove, is said in ``imaging.origin``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from imaging.origin import Origin, declared_origin, sniff_type
from resolvers.errors import ErrorCode, InputError
from storage.models import MediaKind

if TYPE_CHECKING:
    from resolvers.media import ImageUpload
    from resolvers.services import Services

REFUSE, LABEL = "refuse", "label"
POLICIES = (REFUSE, LABEL)


def policy(services: Services, kind: MediaKind) -> str:
    """What happens to a generated upload of ``kind``."""
    if services.ai_images is not None:
        return services.ai_images
    return REFUSE if kind is MediaKind.ARTWORK else LABEL


def _declared(data: bytes) -> Origin | None:
    return declared_origin(data, sniff_type(data))


async def screen(
    services: Services, uploads: Sequence[ImageUpload], kind: MediaKind, field: str
) -> bool:
    """Whether an upload declares itself generated and the rule labels it (the work then
    carries ``ai_generated``); ``InputError`` (``AI_GENERATED``) when the rule refuses it."""
    if not uploads:
        return False
    loop = asyncio.get_running_loop()
    for upload in uploads:
        origin = await loop.run_in_executor(None, _declared, upload.data)
        if origin is None or not origin.generated:
            continue
        if policy(services, kind) == LABEL:
            return True
        where = "portfolio artworks" if kind is MediaKind.ARTWORK else "posts"
        raise InputError.single(
            field,
            f"this image's {origin.source.upper()} metadata says a generative model made it "
            f"({origin.digital_source_type}); AI-generated images are not allowed in {where}",
            ErrorCode.AI_GENERATED,
        )
    return False
