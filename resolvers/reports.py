"""Reports: a member tells the moderators about a user, post, artwork or comment.

A member may report what they can see (anything else reads as missing), not their own things,
once per subject while that report is open (``Report.open_key``), and at most as often as the
``report`` rate limit allows. Moderators read reports through ``resolvers.moderation``.
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from resolvers import ratelimit
from resolvers.context import Context, require_viewer
from resolvers.errors import ErrorCode, InputError
from resolvers.portfolio import get_artwork
from resolvers.posts import get_post
from resolvers.social import get_comment, load_member
from resolvers.validation import check_length, clean_text, raise_if_any
from storage.models import Report, ReportReason, SubjectType, open_report_key

NOTE_MAX = 1000

SUBJECT_TYPES = {
    "User": SubjectType.USER,
    "Post": SubjectType.POST,
    "Artwork": SubjectType.ARTWORK,
    "Comment": SubjectType.COMMENT,
}


async def subject_owner(ctx: Context, subject_type: SubjectType, subject_id: int) -> int:
    """The account a subject the viewer may see belongs to; NOT_FOUND when it is missing or
    the viewer may not see it."""
    owner: int | None = None
    if subject_type is SubjectType.USER:
        owner = (await load_member(ctx, subject_id, "subjectId")).id
    elif subject_type is SubjectType.POST:
        post = await get_post(ctx, subject_id)
        owner = post.author_id if post is not None else None
    elif subject_type is SubjectType.ARTWORK:
        artwork = await get_artwork(ctx, subject_id)
        owner = artwork.owner_id if artwork is not None else None
    else:
        comment = await get_comment(ctx, subject_id)
        owner = comment.author_id if comment is not None else None
    if owner is None:
        raise InputError.single("subjectId", "no such thing to report", ErrorCode.NOT_FOUND)
    return owner


async def report(
    ctx: Context, subject_type: SubjectType, subject_id: int, reason: ReportReason, note: str
) -> Report:
    viewer = require_viewer(ctx)
    note = clean_text(note)
    raise_if_any([check_length("note", note, high=NOTE_MAX)])
    owner = await subject_owner(ctx, subject_type, subject_id)
    if owner == viewer.id:
        raise InputError.single("subjectId", "you cannot report yourself", ErrorCode.INVALID)
    key = open_report_key(viewer.id, subject_type, subject_id)
    duplicate = InputError.single(
        "subjectId", "you reported this already; it is open", ErrorCode.DUPLICATE
    )
    if await Report.filter(open_key=key).exists():
        raise duplicate
    await ratelimit.charge(ctx.services, "report", viewer.id)
    try:
        return await Report.create(
            reporter_id=viewer.id,
            subject_type=subject_type,
            subject_id=subject_id,
            subject_owner_id=owner,
            reason=reason,
            note=note,
            open_key=key,
        )
    except IntegrityError:  # the same report, sent twice at once
        raise duplicate from None
