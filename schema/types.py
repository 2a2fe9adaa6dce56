"""The object types: User, Artwork, Post, Comment, and the Node interface.

Scalars are plain attributes copied from the row (the fastest path in Strawberry); fields that reach
another object are ``async`` and go through the request's DataLoaders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar, cast

import strawberry
from strawberry.dataloader import DataLoader

from resolvers import counts, feed, inbox, mentions, portfolio, posts, replies, safety, social
from resolvers.access import can_see_artwork, visible_now
from resolvers.consent import effective_policy, policy_without_artist
from resolvers.loaders import NotLoaded, peek
from resolvers.pagination import Page
from resolvers.portfolio import get_artwork
from resolvers.posts import get_post
from resolvers.rules import followed_by_viewer, liked_by_viewer
from resolvers.social import CommentTarget
from schema.base import Info, Node, to_global_id
from schema.connections import Connection, selected_names
from schema.exports import AccountExport, viewer_export
from schema.media import MediaAsset
from schema.sessions import Session, viewer_sessions
from storage import models
from storage.models import Role, TrainingPolicy, Visibility

MODERATORS = frozenset({Role.MODERATOR, Role.ADMIN})
strawberry.enum(Role, description="What an account may do: members report, moderators resolve.")

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type
class User(Node):
    pk: strawberry.Private[int]
    handle: str
    display_name: str
    bio: str
    links: list[str]
    open_for_commissions: bool
    ai_training_policy: TrainingPolicy = strawberry.field(
        description="The artist's default for their artworks."
    )
    follower_count: int
    following_count: int
    created_at: datetime
    _posts: strawberry.Private[dict[Visibility, int]]
    _artworks: strawberry.Private[dict[Visibility, int]]
    _role: strawberry.Private[Role]
    _suspended: strawberry.Private[bool]

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            id=to_global_id("User", row.id),
            pk=row.id,
            handle=row.handle,
            display_name=row.display_name,
            bio=row.bio,
            links=list(row.links),
            open_for_commissions=row.open_for_commissions,
            ai_training_policy=row.ai_training_policy,
            follower_count=row.follower_count,
            following_count=row.following_count,
            created_at=row.created_at,
            _posts=counts.by_visibility("post", row),
            _artworks=counts.by_visibility("artwork", row),
            _role=row.role,
            _suspended=row.suspended_at is not None,
        )

    @strawberry.field(description="The artist's posts that the viewer may see.")
    def post_count(self, info: Info) -> int:
        return _visible_count(info, self.pk, self._posts)

    @strawberry.field(description="The artist's artworks that the viewer may see.")
    def artwork_count(self, info: Info) -> int:
        return _visible_count(info, self.pk, self._artworks)

    @strawberry.field(description="Only the account itself sees its email.")
    def email(self, info: Info) -> str | None:
        # From the signed-in account, not from the row this object was built from: a live
        # event's snapshot of its author carries no email.
        viewer = info.context.viewer
        return viewer.email if viewer is not None and viewer.id == self.pk else None

    @strawberry.field(
        description=(
            "Setting: your reads carry the URLs of sensitive images. Only the account itself "
            "sees it."
        )
    )
    def show_sensitive(self, info: Info) -> bool | None:
        viewer = info.context.viewer
        return viewer.show_sensitive if viewer is not None and viewer.id == self.pk else None

    @strawberry.field(description="MEMBER, MODERATOR or ADMIN: the account and moderators see it.")
    def role(self, info: Info) -> Role | None:
        viewer = info.context.viewer
        if viewer is None or not (viewer.id == self.pk or viewer.role in MODERATORS):
            return None
        return self._role

    @strawberry.field(description="Moderators: whether the account is suspended.")
    def suspended(self, info: Info) -> bool | None:
        viewer = info.context.viewer
        if viewer is None or viewer.role not in MODERATORS:
            return None
        return self._suspended

    @strawberry.field(
        description=(
            "The account's notifications not yet marked read (markNotificationsRead); only "
            "the account itself sees it."
        )
    )
    async def unread_notification_count(self, info: Info) -> int | None:
        viewer = info.context.viewer
        if viewer is None or viewer.id != self.pk:
            return None
        return await inbox.unread_count(viewer)

    @strawberry.field(
        description="Whether the account confirmed its email; only the account itself sees it."
    )
    def email_verified(self, info: Info) -> bool | None:
        viewer = info.context.viewer
        return viewer.email_verified if viewer is not None and viewer.id == self.pk else None

    @strawberry.field(
        description=(
            "The account's sign-ins, newest first (at most 100); only the account itself sees them."
        )
    )
    async def sessions(self, info: Info) -> list[Session] | None:
        viewer = info.context.viewer
        if viewer is None or viewer.id != self.pk:
            return None
        return await viewer_sessions(info)

    @strawberry.field(
        description=(
            "The account's newest archive (exportAccount), whatever its status; only the account "
            "itself sees it."
        )
    )
    async def account_export(self, info: Info) -> AccountExport | None:
        viewer = info.context.viewer
        if viewer is None or viewer.id != self.pk:
            return None
        return await viewer_export(info)

    @strawberry.field
    def is_viewer(self, info: Info) -> bool:
        return info.context.viewer_id == self.pk

    @strawberry.field(description="The current avatar, protected like every image.")
    async def avatar(self, info: Info) -> MediaAsset | None:
        row = await info.context.loaders.avatar.load(self.pk)
        return MediaAsset.from_row(row) if row is not None else None

    @strawberry.field
    def is_followed_by_viewer(self, info: Info) -> bool:
        known = followed_by_viewer(info.context.viewer_id, self.pk)
        if known is not None:
            return known
        return now_or_later(info.context.loaders.viewer_follows, self.pk, bool)

    @strawberry.field(description="Artworks in the artist's chosen order.")
    async def portfolio(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Artwork]:
        row = await _user_row(info, self.pk)
        page = await portfolio.portfolio(info.context, row, first=first, after=after)
        return Connection.of(page, Artwork.from_row, after=after)

    @strawberry.field(description="The artist's posts, newest first.")
    async def posts(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Post]:
        row = await _user_row(info, self.pk)
        page = await feed.user_posts(info.context, row, first=first, after=after)
        return await post_connection(info, page, after=after)

    @strawberry.field(description="Who follows this artist, most recent first.")
    async def followers(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[User]:
        return await _follow_connection(info, self.pk, True, first, after)

    @strawberry.field(description="Whom this artist follows, most recent first.")
    async def following(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[User]:
        return await _follow_connection(info, self.pk, False, first, after)

    @strawberry.field(
        description="The members the account blocked, newest first; only the account sees it."
    )
    async def blocked_users(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[User] | None:
        if info.context.viewer_id != self.pk:
            return None
        page = await safety.blocked_users(info.context, first=first, after=after)
        users = await info.context.loaders.user.load_many([b.blocked_id for b in page.items])
        return Connection.build(page, [User.from_row(u) if u else None for u in users], after=after)

    @strawberry.field(
        description="The account's mutes in force, newest first; only the account sees it."
    )
    async def muted_users(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Mute] | None:
        if info.context.viewer_id != self.pk:
            return None
        page = await safety.muted_users(info.context, first=first, after=after)
        users = await info.context.loaders.user.load_many([m.muted_id for m in page.items])
        mutes = [
            Mute(user=User.from_row(u), expires_at=m.expires_at) if u else None
            for m, u in zip(page.items, users, strict=True)
        ]
        return Connection.build(page, mutes, after=after)


@strawberry.type(description="A member the viewer muted.")
class Mute:
    user: User
    expires_at: datetime | None = strawberry.field(description="Null: until unmuted.")


def now_or_later(loader: DataLoader[int, T], key: int, convert: Callable[[T], R]) -> R:
    """``convert(value)`` at once when the loader already holds ``key`` (a preloaded page), else
    an awaitable of it (typed as the value: graphql-core awaits what a resolver returns when it
    needs awaiting). A preloaded page of twenty posts then resolves its authors, artworks and
    flags without a future or a task per field."""
    value = peek(loader, key)
    if isinstance(value, NotLoaded):
        return cast("R", _later(loader, key, convert))
    return convert(value)


async def _later(loader: DataLoader[int, T], key: int, convert: Callable[[T], R]) -> R:
    return convert(await loader.load(key))


def _visible_count(info: Info, owner_pk: int, by_visibility: dict[Visibility, int]) -> int:
    viewer_id = info.context.viewer_id
    known = counts.visible(viewer_id, owner_pk, by_visibility, None)
    if known is not None:
        return known

    def when(follows: bool) -> int:
        return counts.visible(viewer_id, owner_pk, by_visibility, follows) or 0

    return now_or_later(info.context.loaders.viewer_follows, owner_pk, when)


def _policy_of(row: models.User | None) -> TrainingPolicy:
    """The policy in force of an artwork without an override of its own, owned by ``row``."""
    assert row is not None
    return effective_policy(None, row.ai_training_policy)


def _user(row: models.User | None) -> User:
    assert row is not None  # rows referenced by a foreign key exist
    return User.from_row(row)


async def _user_row(info: Info, pk: int) -> models.User:
    row = await info.context.loaders.user.load(pk)
    assert row is not None, pk  # the User object was built from this row
    return row


async def _follow_connection(
    info: Info, pk: int, followers: bool, first: int | None, after: str | None
) -> Connection[User]:
    row = await _user_row(info, pk)
    page = await social.follow_list(
        info.context, row, followers=followers, first=first, after=after
    )
    other = [f.follower_id if followers else f.followee_id for f in page.items]
    users = await info.context.loaders.user.load_many(other)
    # a member a block or a suspension hides reads as missing: left out (a page may be short)
    hidden = await info.context.loaders.viewer_hidden.load_many(other)
    shown = [
        User.from_row(u) if u is not None and not (h and u.id != info.context.viewer_id) else None
        for u, h in zip(users, hidden, strict=True)
    ]
    return Connection.build(page, shown, after=after)


@strawberry.type
class Artwork(Node):
    pk: strawberry.Private[int]
    owner_pk: strawberry.Private[int]
    title: str
    description: str
    medium: str
    tags: list[str]
    position: int
    visibility: Visibility
    ai_training_policy_override: TrainingPolicy | None = strawberry.field(
        description="Set on this artwork; null means the artist's default applies."
    )
    content_warning: str = strawberry.field(
        description="Shown before the work (empty: none); a warning makes the images sensitive."
    )
    sensitive: bool = strawberry.field(
        description=(
            "The images are sensitive: their URLs are withheld unless the viewer opts in "
            "(the showSensitive setting, or showSensitive on the image's fields)."
        )
    )
    ai_generated: bool = strawberry.field(
        description=(
            "Labelled as made by a generative model: by the provenance its images carried on "
            "upload (C2PA, IPTC digital source type), or by a moderator. Show the label."
        )
    )
    like_count: int
    comment_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: models.Artwork) -> Artwork:
        return cls(
            id=to_global_id("Artwork", row.id),
            pk=row.id,
            owner_pk=row.owner_id,
            title=row.title,
            description=row.description,
            medium=row.medium,
            tags=list(row.tags),
            position=row.position,
            visibility=row.visibility,
            ai_training_policy_override=row.ai_training_policy,
            content_warning=row.content_warning,
            sensitive=row.sensitive,
            ai_generated=row.ai_generated,
            like_count=row.like_count,
            comment_count=row.comment_count,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The artwork's protected images, in order.")
    async def images(self, info: Info) -> list[MediaAsset]:
        rows = await info.context.loaders.artwork_images.load(self.pk)
        return [MediaAsset.from_row(row) for row in rows]

    @strawberry.field
    def owner(self, info: Info) -> User:
        return now_or_later(info.context.loaders.user, self.owner_pk, _user)

    @strawberry.field(description="The policy in force: this artwork's override or the default.")
    def ai_training_policy(self, info: Info) -> TrainingPolicy:
        policy = policy_without_artist(self.ai_training_policy_override)
        if policy is not None:
            return policy
        return now_or_later(info.context.loaders.user, self.owner_pk, _policy_of)

    @strawberry.field
    async def viewer_has_liked(self, info: Info) -> bool:
        known = liked_by_viewer(info.context.viewer_id)
        if known is not None:
            return known
        return await info.context.loaders.viewer_likes_artwork.load(self.pk)

    @strawberry.field(description="Comments, oldest first.")
    async def comments(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Comment]:
        target = CommentTarget(artwork_id=self.pk)
        page = await social.comments(info.context, target, first=first, after=after)
        return Connection.of(page, Comment.from_row, after=after)


@strawberry.type(
    description=(
        "An @handle of a text that names a member the viewer may see: a client links the span"
        " [start, end) of the text to the member. Parsed as notifications parse them: the first"
        " 10 different handles of a text (MENTIONS_MAX), every occurrence of each. A handle of"
        " nobody, or of a member the viewer may not see (suspended, leaving, blocked either"
        " way), is not a mention: its text stays plain."
    )
)
class Mention:
    handle: str = strawberry.field(description="The handle as written, without the @.")
    start: int = strawberry.field(
        description=(
            "Where the @ is, in UTF-16 code units from the start of the text (the unit of"
            " JavaScript strings: text.slice(start, end) is the mention)."
        )
    )
    end: int = strawberry.field(
        description="Just past the handle, in UTF-16 code units (exclusive)."
    )
    user: User = strawberry.field(description="The member mentioned.")


async def _mentions(info: Info, text: str) -> list[Mention]:
    found = mentions.spans(text)
    if not found:
        return []
    keys = list(dict.fromkeys(span.key for span in found))
    rows = dict(zip(keys, await info.context.loaders.mentioned.load_many(keys), strict=True))
    return [
        Mention(handle=span.handle, start=span.start, end=span.end, user=User.from_row(row))
        for span in found
        if (row := rows[span.key]) is not None
    ]


_MENTIONS = "The members the text mentions that the viewer may see, in order (see Mention)."


@strawberry.type(description="An earlier text of an edited post.")
class PostRevision:
    text: str
    written_at: datetime
    replaced_at: datetime


@strawberry.type
class Post(Node):
    pk: strawberry.Private[int]
    author_pk: strawberry.Private[int]
    reply_to_pk: strawberry.Private[int | None]
    text: str
    visibility: Visibility
    content_warning: str = strawberry.field(
        description="Shown before the post (empty: none); a warning makes the images sensitive."
    )
    sensitive: bool = strawberry.field(
        description="The images are sensitive: their URLs are withheld unless the viewer opts in."
    )
    ai_generated: bool = strawberry.field(
        description="Labelled as made by a generative model (provenance or a moderator)."
    )
    like_count: int
    comment_count: int
    created_at: datetime
    edited_at: datetime | None = strawberry.field(
        description="When the text was last changed; null if never."
    )
    _replies: strawberry.Private[int]
    _public_replies: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.Post) -> Post:
        return cls(
            id=to_global_id("Post", row.id),
            pk=row.id,
            author_pk=row.author_id,
            reply_to_pk=row.reply_to_id,
            text=row.text,
            visibility=row.visibility,
            content_warning=row.content_warning,
            sensitive=row.sensitive,
            ai_generated=row.ai_generated,
            like_count=row.like_count,
            comment_count=row.comment_count,
            created_at=row.created_at,
            edited_at=row.edited_at,
            _replies=row.reply_count,
            _public_replies=row.public_reply_count,
        )

    @strawberry.field(description="The post's earlier texts, newest first (empty if never edited).")
    async def revisions(self, info: Info) -> list[PostRevision]:
        if self.edited_at is None:
            return []
        return [
            PostRevision(text=row.text, written_at=row.written_at, replaced_at=row.replaced_at)
            for row in await posts.revisions(self.pk)
        ]

    @strawberry.field(description=_MENTIONS)
    async def mentions(self, info: Info) -> list[Mention]:
        return await _mentions(info, self.text)

    @strawberry.field(description="The replies to this post that the viewer may see.")
    def reply_count(self, info: Info) -> int:
        public = self._public_replies
        if not replies.beyond_public(self._replies, public):
            return public
        return now_or_later(info.context.loaders.viewer_replies, self.pk, public.__add__)

    @strawberry.field
    def author(self, info: Info) -> User:
        return now_or_later(info.context.loaders.user, self.author_pk, _user)

    @strawberry.field(description="Attached artworks the viewer may see, in the author's order.")
    def artworks(self, info: Info) -> list[Artwork]:
        ctx = info.context
        rows = peek(ctx.loaders.post_attachments, self.pk)
        if not isinstance(rows, NotLoaded):
            visible = [visible_now(ctx, r.owner_id, r.visibility) for r in rows]
            if None not in visible:
                return [Artwork.from_row(r) for r, ok in zip(rows, visible, strict=True) if ok]
        return cast("list[Artwork]", self._artworks_later(info))

    async def _artworks_later(self, info: Info) -> list[Artwork]:
        rows = await info.context.loaders.post_attachments.load(self.pk)
        return [Artwork.from_row(r) for r in rows if await can_see_artwork(info.context, r)]

    @strawberry.field(description="Images attached to the post itself, protected, in order.")
    async def images(self, info: Info) -> list[MediaAsset]:
        rows = await info.context.loaders.post_images.load(self.pk)
        return [MediaAsset.from_row(row) for row in rows]

    @strawberry.field(description="The post this one replies to, when it exists and is visible.")
    async def reply_to(self, info: Info) -> Post | None:
        if self.reply_to_pk is None:
            return None
        row = await get_post(info.context, self.reply_to_pk)
        return Post.from_row(row) if row is not None else None

    @strawberry.field
    def viewer_has_liked(self, info: Info) -> bool:
        known = liked_by_viewer(info.context.viewer_id)
        if known is not None:
            return known
        return now_or_later(info.context.loaders.viewer_likes_post, self.pk, bool)

    @strawberry.field(description="Comments, oldest first.")
    async def comments(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Comment]:
        target = CommentTarget(post_id=self.pk)
        page = await social.comments(info.context, target, first=first, after=after)
        return Connection.of(page, Comment.from_row, after=after)


@strawberry.type
class Comment(Node):
    pk: strawberry.Private[int]
    author_pk: strawberry.Private[int]
    post_pk: strawberry.Private[int | None]
    artwork_pk: strawberry.Private[int | None]
    text: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: models.Comment) -> Comment:
        return cls(
            id=to_global_id("Comment", row.id),
            pk=row.id,
            author_pk=row.author_id,
            post_pk=row.post_id,
            artwork_pk=row.artwork_id,
            text=row.text,
            created_at=row.created_at,
        )

    @strawberry.field
    async def author(self, info: Info) -> User:
        return User.from_row(await _user_row(info, self.author_pk))

    @strawberry.field(description=_MENTIONS)
    async def mentions(self, info: Info) -> list[Mention]:
        return await _mentions(info, self.text)

    @strawberry.field(
        description="The post commented on (null for a comment on an artwork, or when not visible)."
    )
    async def post(self, info: Info) -> Post | None:
        if self.post_pk is None:
            return None
        row = await get_post(info.context, self.post_pk)
        return Post.from_row(row) if row is not None else None

    @strawberry.field(
        description="The artwork commented on (null for a comment on a post, or when not visible)."
    )
    async def artwork(self, info: Info) -> Artwork | None:
        if self.artwork_pk is None:
            return None
        row = await get_artwork(info.context, self.artwork_pk)
        return Artwork.from_row(row) if row is not None else None


async def post_connection(
    info: Info, page: Page[models.Post], *, after: str | None
) -> Connection[Post]:
    """A page of posts, with what its selection shows preloaded in one batch per kind."""
    names = selected_names(info)
    await info.context.loaders.preload_posts(
        page.items,
        authors="author" in names,
        attachments="artworks" in names,
        likes="viewerHasLiked" in names,
        replies="replyCount" in names,
        # attached artworks seen by followers only need the follow status too
        follows="isFollowedByViewer" in names or "artworks" in names,
    )
    return Connection.of(page, Post.from_row, after=after)
