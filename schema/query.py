"""Root queries."""

from __future__ import annotations

import strawberry

from resolvers import accounts, feed, inbox, live, moderation, social
from resolvers.access import can_see_media, hidden_member
from resolvers.portfolio import get_artwork
from resolvers.posts import get_post
from resolvers.search import SearchKind
from schema.base import Info, IsAuthenticated, Node, decode_id, parse_global_id
from schema.connections import Connection
from schema.media import MediaAsset
from schema.moderation import ModerationCase, ModerationLogEntry
from schema.notifications import Notification, notification_by_pk
from schema.search import SearchResult, search_connection
from schema.subscription import UploadProgress, upload_named
from schema.types import Artwork, Comment, Post, User, post_connection
from storage import models
from storage.models import ReportReason, ReportStatus


async def _artwork(info: Info, pk: int) -> Artwork | None:
    row = await get_artwork(info.context, pk)
    return Artwork.from_row(row) if row is not None else None


async def _post(info: Info, pk: int) -> Post | None:
    row = await get_post(info.context, pk)
    return Post.from_row(row) if row is not None else None


async def _user(info: Info, pk: int) -> User | None:
    row = await info.context.loaders.user.load(pk)
    if row is None or await hidden_member(info.context, pk):
        return None
    return User.from_row(row)


async def _comment(info: Info, pk: int) -> Comment | None:
    row = await social.get_comment(info.context, pk)
    return Comment.from_row(row) if row is not None else None


async def _media(info: Info, pk: int) -> MediaAsset | None:
    row = await models.MediaAsset.get_or_none(id=pk)
    if row is None or not await can_see_media(info.context, row):
        return None
    return MediaAsset.from_row(row)


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in account, or null when anonymous.")
    def viewer(self, info: Info) -> User | None:
        viewer = info.context.viewer
        return User.from_row(viewer) if viewer is not None else None

    @strawberry.field(description="An artist by handle (any letter case).")
    async def user(self, info: Info, handle: str) -> User | None:
        row = await accounts.find_by_handle(handle)
        if row is None or await hidden_member(info.context, row.id):
            return None
        info.context.loaders.user.prime(row.id, row)
        return User.from_row(row)

    @strawberry.field
    async def artwork(self, info: Info, id: strawberry.ID) -> Artwork | None:
        return await _artwork(info, decode_id(id, "id", "Artwork"))

    @strawberry.field
    async def post(self, info: Info, id: strawberry.ID) -> Post | None:
        return await _post(info, decode_id(id, "id", "Post"))

    @strawberry.field(description="Any object by global id; null when missing or not visible.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, pk = parse_global_id(
            id, "id", "User", "Artwork", "Post", "Comment", "MediaAsset", "Notification"
        )
        fetch = {
            "User": _user,
            "Artwork": _artwork,
            "Post": _post,
            "Comment": _comment,
            "MediaAsset": _media,
            "Notification": notification_by_pk,
        }
        return await fetch[type_name](info, pk)

    @strawberry.field(
        description="Posts by the artists the viewer follows and by the viewer, newest first.",
        permission_classes=[IsAuthenticated],
    )
    async def home_feed(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Post]:
        page = await feed.home_feed(info.context, first=first, after=after)
        return await post_connection(info, page, after=after)

    @strawberry.field(
        description="The viewer's notifications, newest first.",
        permission_classes=[IsAuthenticated],
    )
    async def notifications(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Notification]:
        page = await inbox.notifications(info.context, first=first, after=after)
        return Connection.of(page, Notification.from_row, after=after)

    @strawberry.field(
        description=(
            "Members by handle and display name (a prefix, or a name spelled nearly right), or "
            "artworks (title, tags, medium, description) and posts (text) by their words: "
            'words, "a phrase", -excluded, `or`. Best first; only what the viewer may see.'
        )
    )
    async def search(
        self,
        info: Info,
        query: str,
        kind: SearchKind,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[SearchResult]:
        return await search_connection(info, query, kind, first, after)

    @strawberry.field(description="Every public post, newest first.")
    async def discover_feed(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Post]:
        page = await feed.discover_feed(info.context, first=first, after=after)
        return await post_connection(info, page, after=after)

    @strawberry.field(
        description=(
            "Public posts with a #tag in their text or on an attached artwork, newest first."
        )
    )
    async def tag_feed(
        self, info: Info, tag: str, first: int | None = 20, after: str | None = None
    ) -> Connection[Post]:
        page = await feed.tag_feed(info.context, tag, first=first, after=after)
        return await post_connection(info, page, after=after)

    @strawberry.field(
        description=(
            "Where one of the viewer's uploads is (its uploadId, or its image's id); null when "
            "the viewer has no such upload. uploadProgress the subscription follows it live."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def upload_progress(self, info: Info, id: strawberry.ID) -> UploadProgress | None:
        row = await live.upload_state(info.context, **upload_named(id))
        return UploadProgress.of(id, live.UploadEvent.of_row(row)) if row is not None else None

    @strawberry.field(
        description=(
            "Moderators: reports grouped by subject, the subject first reported first, with "
            "the subject and the reporters."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def moderation_queue(
        self,
        info: Info,
        status: ReportStatus = ReportStatus.OPEN,
        reason: ReportReason | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[ModerationCase]:
        page = await moderation.queue(
            info.context, status=status, reason=reason, first=first, after=after
        )
        return Connection.of(page, ModerationCase.of, after=after)

    @strawberry.field(
        description="Admins: every moderation action, newest first.",
        permission_classes=[IsAuthenticated],
    )
    async def moderation_log(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[ModerationLogEntry]:
        page = await moderation.log(info.context, first=first, after=after)
        return Connection.of(page, ModerationLogEntry.from_row, after=after)
