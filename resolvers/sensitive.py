"""Content warnings and sensitive media: what a work says before it is shown, and who gets the
URLs of its images.

A post or an artwork carries ``content_warning`` (text shown before it) and ``sensitive``
(whether its images are); a warning makes its images sensitive. The URLs of a sensitive image
go to its owner, to a signed-in viewer whose ``show_sensitive`` setting is on, and to any viewer
(anonymous included) who opts in on the request (``showSensitive: true``); everyone else gets
the image's size and placeholder colour only. Each image keeps its work's flag
(``MediaAsset.sensitive``), changed in the same transaction as the work's.
"""

from __future__ import annotations

from typing import Any

from resolvers.errors import FieldError
from resolvers.validation import check_length, clean_text
from storage.models import Artwork, MediaAsset, Post, User

CONTENT_WARNING_MAX = 500


def labels(
    content_warning: str | None, sensitive: bool | None
) -> tuple[dict[str, Any], list[FieldError | None]]:
    """The columns to write for a work's warning and flag (only those given; a warning given
    non-empty makes the work sensitive), and the input's errors."""
    values: dict[str, Any] = {}
    errors: list[FieldError | None] = []
    if content_warning is not None:
        values["content_warning"] = clean_text(content_warning)
        errors.append(
            check_length("contentWarning", values["content_warning"], high=CONTENT_WARNING_MAX)
        )
    if sensitive is not None:
        values["sensitive"] = sensitive
    if values.get("content_warning"):
        values["sensitive"] = True
    return values, errors


def shows_sensitive(viewer: User | None, owner_id: int, opt_in: bool | None) -> bool:
    """Whether the viewer gets the URLs of a sensitive image of ``owner_id``: an explicit
    ``opt_in`` decides, else the viewer's setting (anonymous: no); the owner always does."""
    if viewer is None:
        return shown_to(None, False, owner_id, opt_in)
    return shown_to(viewer.id, viewer.show_sensitive, owner_id, opt_in)


def shown_to(viewer_id: int | None, setting: bool, owner_id: int, opt_in: bool | None) -> bool:
    """``shows_sensitive`` from the viewer's id and ``show_sensitive`` setting (a compiled plan
    has no ``User``)."""
    if viewer_id is not None and viewer_id == owner_id:
        return True
    if opt_in is not None:
        return opt_in
    return viewer_id is not None and setting


async def set_sensitive(work: Artwork | Post, sensitive: bool) -> None:
    """The work's images follow its flag (call inside the transaction that changes it)."""
    if isinstance(work, Artwork):
        await MediaAsset.filter(artwork_id=work.id).update(sensitive=sensitive)
    else:
        await MediaAsset.filter(post_id=work.id).update(sensitive=sensitive)
