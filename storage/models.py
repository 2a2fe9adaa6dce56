"""Tortoise models: the database is the source of truth.

Ids of content rows are time-ordered Snowflake ids (``storage.ids``), so ``ORDER BY id DESC`` is
"newest first". Counters (followers, likes, comments) are denormalised into the row they describe
and changed in the same transaction as the rows they count, so reading a feed page never counts.
"""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.indexes import Index, PartialIndex
from tortoise.models import Model

from storage.ids import new_id

# Columns that never leave the database except to their owner: reads of other people's rows
# (a feed page, a live event) never select them.
PRIVATE_COLUMNS = frozenset(
    {"email", "email_key", "password_hash", "email_verified", "notifications_read_id"}
)


def public_columns(model: type[Model]) -> tuple[str, ...]:
    """The columns of ``model``'s table, in declaration order, without the private ones (a
    foreign key as its ``<name>_id`` column)."""
    meta = model._meta
    # Once Tortoise is set up, fields_map also holds the reverse relations and each foreign
    # key's ``<name>_id``: keep the table's own columns, once each.
    columns = dict.fromkeys(
        f"{name}_id" if name in meta.fk_fields else name
        for name in meta.fields_map
        if name in meta.fk_fields or name in meta.db_fields
    )
    return tuple(c for c in columns if c not in PRIVATE_COLUMNS)


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    FOLLOWERS = "followers"
    PRIVATE = "private"


# The visibility of the posts of the discover feed (``resolvers.rules.DISCOVER``, which a test
# holds to this value), for the partial index that reads them.
PUBLIC_POSTS = Visibility.PUBLIC.value


class TrainingPolicy(enum.StrEnum):
    DISALLOWED = "disallowed"
    ALLOWED = "allowed"


def _snowflake() -> fields.BigIntField:
    return fields.BigIntField(primary_key=True, generated=False, default=new_id)


class Role(enum.StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    ADMIN = "admin"


class User(Model):
    id = _snowflake()
    handle = fields.CharField(max_length=30)
    handle_key = fields.CharField(max_length=30, unique=True)
    email = fields.CharField(max_length=254)
    email_key = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    display_name = fields.CharField(max_length=64, default="")
    bio = fields.TextField(default="")
    links: fields.Field[list[str]] = fields.JSONField(default=list)
    open_for_commissions = fields.BooleanField(default=False)
    ai_training_policy = fields.CharEnumField(
        TrainingPolicy, max_length=16, default=TrainingPolicy.DISALLOWED
    )
    role = fields.CharEnumField(Role, max_length=16, default=Role.MEMBER, db_default="member")
    # Set while the account is suspended: it cannot sign in and its things are hidden. Read
    # through the partial index users_suspended (written out in migration 0011).
    suspended_at = fields.DatetimeField(null=True)
    # Whether the account's own reads carry the URLs of images marked sensitive.
    show_sensitive = fields.BooleanField(default=False, db_default=False)
    follower_count = fields.IntField(default=0)
    following_count = fields.IntField(default=0)
    # All of the account's posts and artworks, and of them the public and the followers-only
    # ones: what another viewer may see is counted from these (resolvers.counts).
    post_count = fields.IntField(default=0)
    artwork_count = fields.IntField(default=0)
    public_post_count = fields.IntField(default=0, db_default=0)
    followers_post_count = fields.IntField(default=0, db_default=0)
    public_artwork_count = fields.IntField(default=0, db_default=0)
    followers_artwork_count = fields.IntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    # The newest notification the account has marked read: the ones above it are unread.
    notifications_read_id = fields.BigIntField(default=0, db_default=0)
    # Whether the account proved it reads mail at ``email`` (verifyEmail, resetPassword).
    email_verified = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "users"


class AuthToken(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)
    # A session as its owner sees it (viewer.sessions): when it was last used (to the few
    # minutes: resolvers.sessions.TOUCH_EVERY) and what signed in.
    last_used_at = fields.DatetimeField(null=True)
    user_agent = fields.CharField(max_length=255, default="", db_default="")

    user_id: int

    class Meta:
        table = "auth_tokens"
        indexes = (Index(fields=("user_id",), name="auth_tokens_user"),)


class AccountTokenPurpose(enum.StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a password)
    VERIFY_EMAIL = "verify_email"


class AccountToken(Model):
    """A single-use secret mailed to an account (a password reset, an email verification),
    stored hashed like a bearer token; ``used_at`` is set once, when it is spent."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="account_tokens", on_delete=fields.CASCADE
    )
    purpose = fields.CharEnumField(AccountTokenPurpose, max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    # The address it was sent to: a verification counts only while it is still the account's.
    email_key = fields.CharField(max_length=254)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    user_id: int

    class Meta:
        table = "account_tokens"
        indexes = (Index(fields=("user_id", "purpose"), name="account_tokens_user"),)


class Artwork(Model):
    id = _snowflake()
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="artworks", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    medium = fields.CharField(max_length=100, default="")
    tags: fields.Field[list[str]] = fields.JSONField(default=list)
    position = fields.IntField(default=0)
    visibility = fields.CharEnumField(Visibility, max_length=16, default=Visibility.PUBLIC)
    ai_training_policy = fields.CharEnumField(TrainingPolicy, max_length=16, null=True)
    # A content warning (shown before the work) and whether its images are sensitive (their URLs
    # are withheld from viewers who did not opt in); a warning makes the images sensitive.
    content_warning = fields.TextField(default="", db_default="")
    sensitive = fields.BooleanField(default=False, db_default=False)
    # Labelled as made by a generative model (by its provenance on upload, or by a moderator).
    ai_generated = fields.BooleanField(default=False, db_default=False)
    like_count = fields.IntField(default=0)
    comment_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    owner_id: int

    class Meta:
        table = "artworks"
        indexes = (
            Index(fields=("owner_id", "position", "id"), name="artworks_owner_pos"),
            # A portfolio as one viewer sees it: one range per visibility (resolvers.keyset).
            Index(
                fields=("owner_id", "visibility", "position", "id"),
                name="artworks_owner_visibility",
            ),
        )


class Post(Model):
    id = _snowflake()
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="posts", on_delete=fields.CASCADE
    )
    text = fields.TextField(default="")
    reply_to: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="replies", null=True, on_delete=fields.SET_NULL
    )
    visibility = fields.CharEnumField(Visibility, max_length=16, default=Visibility.PUBLIC)
    content_warning = fields.TextField(default="", db_default="")
    sensitive = fields.BooleanField(default=False, db_default=False)
    ai_generated = fields.BooleanField(default=False, db_default=False)
    like_count = fields.IntField(default=0)
    comment_count = fields.IntField(default=0)
    # Every reply, and of them the public ones: what a viewer may see is counted from these
    # (resolvers.replies).
    reply_count = fields.IntField(default=0)
    public_reply_count = fields.IntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    # When the text was last changed (updatePost); its earlier texts are PostRevision rows.
    edited_at = fields.DatetimeField(null=True)

    author_id: int
    reply_to_id: int | None

    class Meta:
        table = "posts"
        indexes = (
            Index(fields=("reply_to_id",), name="posts_reply_to"),
            Index(fields=("author_id", "id"), name="posts_author_id"),
            Index(fields=("visibility", "id"), name="posts_visibility_id"),
            # An artist's posts as one viewer sees them: one range per visibility
            # (resolvers.keyset).
            Index(fields=("author_id", "visibility", "id"), name="posts_author_visibility"),
            # The public posts, newest first (the discover feed): smaller than the primary key
            # and needing no filter, so a walk of the primary key never looks cheaper.
            PartialIndex(
                fields=("id",), name="posts_public_id", condition={"visibility": PUBLIC_POSTS}
            ),
        )


class PostRevision(Model):
    """An earlier text of a post, kept when the post was edited: the text it had until
    ``replaced_at``, written at ``written_at``."""

    id = _snowflake()
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="revisions", on_delete=fields.CASCADE
    )
    text = fields.TextField()
    written_at = fields.DatetimeField()
    replaced_at = fields.DatetimeField(auto_now_add=True)

    post_id: int

    class Meta:
        table = "post_revisions"
        indexes = (Index(fields=("post_id", "id"), name="post_revisions_post_id"),)


class PostArtwork(Model):
    """An artwork attached to a post, in display order."""

    id = fields.BigIntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="attachments", on_delete=fields.CASCADE
    )
    artwork: fields.ForeignKeyRelation[Artwork] = fields.ForeignKeyField(
        "gesso.Artwork", related_name="attached_to", on_delete=fields.CASCADE
    )
    position = fields.IntField(default=0)

    post_id: int
    artwork_id: int

    class Meta:
        table = "post_artworks"
        indexes = (Index(fields=("artwork_id",), name="post_artworks_artwork"),)
        unique_together = (("post_id", "artwork_id"),)


class PostTag(Model):
    """A tag of a post, for tagFeed: one of its #hashtags (``artwork`` null), or else a tag of an
    attached artwork (the most visible one that has it when posted), which counts only for
    viewers who may see that artwork."""

    id = fields.BigIntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="post_tags", on_delete=fields.CASCADE
    )
    tag = fields.CharField(max_length=50)
    artwork: fields.ForeignKeyNullableRelation[Artwork] = fields.ForeignKeyField(
        "gesso.Artwork", related_name="post_tags", null=True, on_delete=fields.CASCADE
    )
    # The post's visibility (a post's never changes), so that a tag's page is one range of an
    # index whatever share of the tag's posts a viewer may not see.
    post_visibility = fields.CharEnumField(
        Visibility, max_length=16, default=Visibility.PUBLIC, db_default=Visibility.PUBLIC.value
    )

    post_id: int
    artwork_id: int | None

    class Meta:
        table = "post_tags"
        indexes = (
            Index(fields=("post_id",), name="post_tags_post"),
            Index(fields=("artwork_id",), name="post_tags_artwork"),
            # A tag's posts of one visibility, newest first, with the artwork a tag was copied
            # from (resolvers.feed.tag_feed).
            Index(
                fields=("tag", "post_visibility", "post_id", "artwork_id"),
                name="post_tags_tag_visibility",
            ),
        )
        unique_together = (("tag", "post_id"),)


class Follow(Model):
    id = _snowflake()
    follower: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="following_rows", on_delete=fields.CASCADE
    )
    followee: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="follower_rows", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    follower_id: int
    followee_id: int

    class Meta:
        table = "follows"
        unique_together = (("follower_id", "followee_id"),)
        indexes = (
            Index(fields=("followee_id", "id"), name="follows_followee_id"),
            Index(fields=("follower_id", "id"), name="follows_follower_id"),
        )


class Block(Model):
    """``blocker`` blocked ``blocked``: each is hidden from the other everywhere
    (``resolvers.rules.HIDDEN_EVERYWHERE`` reads this table both ways, through the unique key
    and the index on the other direction)."""

    id = _snowflake()
    blocker: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="blocking_rows", on_delete=fields.CASCADE
    )
    blocked: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="blocked_by_rows", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    blocker_id: int
    blocked_id: int

    class Meta:
        table = "blocks"
        unique_together = (("blocker_id", "blocked_id"),)
        indexes = (
            Index(fields=("blocked_id", "blocker_id"), name="blocks_blocked_blocker"),
            Index(fields=("blocker_id", "id"), name="blocks_blocker_id"),
        )


class Mute(Model):
    """``muter`` muted ``muted`` until ``expires_at`` (null: until unmuted): the muted member's
    posts and notifications leave the muter's feeds (``resolvers.rules.HIDDEN_FROM_FEEDS``)."""

    id = _snowflake()
    muter: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="muting_rows", on_delete=fields.CASCADE
    )
    muted: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="muted_by_rows", on_delete=fields.CASCADE
    )
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    muter_id: int
    muted_id: int

    class Meta:
        table = "mutes"
        unique_together = (("muter_id", "muted_id"),)
        indexes = (Index(fields=("muted_id",), name="mutes_muted"),)


class PostLike(Model):
    id = _snowflake()
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="post_likes", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="likes", on_delete=fields.CASCADE
    )

    user_id: int
    post_id: int

    class Meta:
        table = "post_likes"
        indexes = (Index(fields=("post_id",), name="post_likes_post"),)
        unique_together = (("user_id", "post_id"),)


class ArtworkLike(Model):
    id = _snowflake()
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="artwork_likes", on_delete=fields.CASCADE
    )
    artwork: fields.ForeignKeyRelation[Artwork] = fields.ForeignKeyField(
        "gesso.Artwork", related_name="likes", on_delete=fields.CASCADE
    )

    user_id: int
    artwork_id: int

    class Meta:
        table = "artwork_likes"
        indexes = (Index(fields=("artwork_id",), name="artwork_likes_artwork"),)
        unique_together = (("user_id", "artwork_id"),)


class Comment(Model):
    """A comment on exactly one post or one artwork."""

    id = _snowflake()
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="comments", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="comments", null=True, on_delete=fields.CASCADE
    )
    artwork: fields.ForeignKeyNullableRelation[Artwork] = fields.ForeignKeyField(
        "gesso.Artwork", related_name="comments", null=True, on_delete=fields.CASCADE
    )
    text = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    author_id: int
    post_id: int | None
    artwork_id: int | None

    class Meta:
        table = "comments"
        indexes = (
            Index(fields=("author_id",), name="comments_author"),
            Index(fields=("post_id", "id"), name="comments_post_id"),
            Index(fields=("artwork_id", "id"), name="comments_artwork_id"),
        )


class MediaKind(enum.StrEnum):
    ARTWORK = "artwork"
    POST = "post"
    AVATAR = "avatar"


class MediaStatus(enum.StrEnum):
    """Where an image is on its way to being published (``resolvers.uploads``)."""

    PROCESSING = "processing"  # accepted and staged privately; a protection job is queued
    READY = "ready"  # protected: its derivatives are stored and it may be shown
    REFUSED = "refused"  # the pipeline refused it (``refusal_code``); nothing of it is stored


class MediaAsset(Model):
    """One protected image: its published variants, its report and its watermark id.

    Belongs to an artwork or a post (in ``position`` order) or is an account's avatar (the newest
    avatar row of an account is the current one). Only READY rows are shown
    (``resolvers.rules.SHOWN_MEDIA``); a PROCESSING row is also its protection job's durable
    record: its upload waits under ``staging_key`` and ``queued_at`` says when the job was handed
    to the queue (None: not yet, so a sweep hands it over).
    """

    id = _snowflake()
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="media", on_delete=fields.CASCADE
    )
    artwork: fields.ForeignKeyNullableRelation[Artwork] = fields.ForeignKeyField(
        "gesso.Artwork", related_name="images", null=True, on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="images", null=True, on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(MediaKind, max_length=16)
    position = fields.IntField(default=0)
    # The id the watermark carries (48 bits): what identifyImage reads back from a copy.
    watermark_id = fields.BigIntField(unique=True)
    width = fields.IntField()
    height = fields.IntField()
    alt_text = fields.TextField(default="")
    dominant_color = fields.CharField(max_length=7, default="#808080")
    variants: fields.Field[list[dict[str, object]]] = fields.JSONField(default=list)
    report: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    original_key = fields.CharField(max_length=600, null=True)
    status = fields.CharEnumField(
        MediaStatus, max_length=16, default=MediaStatus.READY, db_default="ready"
    )
    # The last stage reached: ingest, cloak, watermark, derivatives, stored, ready or refused.
    stage = fields.CharField(max_length=16, default="ready", db_default="ready")
    refusal_code = fields.CharField(max_length=32, null=True)
    refusal_message = fields.TextField(null=True)
    # The client's id for this upload (its idempotency key, and what uploadProgress(id) names).
    upload_key = fields.CharField(max_length=100, null=True)
    staging_key = fields.CharField(max_length=600, null=True)
    queued_at = fields.DatetimeField(null=True)

    # The artwork's or post's ``sensitive``, kept here (changed in the same transaction) so that
    # an image alone knows whether its URLs are withheld.
    sensitive = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    owner_id: int
    artwork_id: int | None
    post_id: int | None

    class Meta:
        table = "media_assets"
        indexes = (
            Index(fields=("artwork_id", "position"), name="media_artwork_pos"),
            Index(fields=("post_id", "position"), name="media_post_pos"),
            Index(fields=("owner_id", "kind", "id"), name="media_owner_kind"),
            Index(fields=("status", "id"), name="media_status"),
        )
        unique_together = (("owner_id", "upload_key"),)


class ReportReason(enum.StrEnum):
    AI_GENERATED = "ai_generated"
    STOLEN_ART = "stolen_art"
    HARASSMENT = "harassment"
    SPAM = "spam"
    SEXUAL_CONTENT_UNLABELLED = "sexual_content_unlabelled"
    OTHER = "other"


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class SubjectType(enum.StrEnum):
    """What a report (or a moderation action) is about."""

    USER = "user"
    POST = "post"
    ARTWORK = "artwork"
    COMMENT = "comment"


class Report(Model):
    """A member's report of a user, post, artwork or comment, open until a moderator resolves
    it. ``open_key`` is set while the report is open and null after, so that its unique index
    allows one open report per reporter and subject and any number of resolved ones."""

    id = _snowflake()
    reporter: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="reports_made", on_delete=fields.CASCADE
    )
    subject_type = fields.CharEnumField(SubjectType, max_length=16)
    subject_id = fields.BigIntField()
    # The account the subject belongs to (the user reported, or the author or artist).
    subject_owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="reports_received", on_delete=fields.CASCADE
    )
    reason = fields.CharEnumField(ReportReason, max_length=32)
    note = fields.TextField(default="")
    status = fields.CharEnumField(ReportStatus, max_length=16, default=ReportStatus.OPEN)
    open_key = fields.CharField(max_length=80, null=True, unique=True)
    action = fields.CharField(max_length=32, null=True)  # the resolution (ModerationAction.action)
    resolved_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    reporter_id: int
    subject_owner_id: int

    class Meta:
        table = "reports"
        indexes = (
            # the queue: reports of one status, oldest first, and a subject's reports
            Index(fields=("status", "id"), name="reports_status_id"),
            Index(fields=("subject_type", "subject_id", "status"), name="reports_subject"),
            Index(fields=("reporter_id", "id"), name="reports_reporter_id"),
        )


class ModerationAction(Model):
    """One moderation action, as the audit log keeps it: who did what to which subject, why, and
    which reports it resolved. Rows are only ever added."""

    id = _snowflake()
    # null: done from the command line (``gesso admin``), not by a signed-in moderator
    moderator: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="moderation_actions", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=32)
    subject_type = fields.CharEnumField(SubjectType, max_length=16)
    subject_id = fields.BigIntField()
    subject_owner_id = fields.BigIntField(null=True)
    note = fields.TextField(default="")
    reports: fields.Field[list[int]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    moderator_id: int | None

    class Meta:
        table = "moderation_actions"


def open_report_key(reporter_id: int, subject_type: SubjectType, subject_id: int) -> str:
    """``Report.open_key`` of an open report."""
    return f"{reporter_id}:{subject_type.value}:{subject_id}"


class OrphanedObject(Model):
    """An object no row refers to that could not be removed at once (the store was down).

    A sweeper retries until the store accepts the deletion, so nothing is left behind for good.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=600, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "orphaned_objects"


class NotificationKind(enum.StrEnum):
    NEW_FOLLOWER = "new_follower"
    POST_LIKED = "post_liked"
    ARTWORK_LIKED = "artwork_liked"
    COMMENT = "comment"
    REPLY = "reply"
    MENTION = "mention"
    MODERATION = "moderation"
    NOTICE = "notice"
    REPORT_RESOLVED = "report_resolved"
    EXPORT_READY = "export_ready"


class Notification(Model):
    """Something that happened for an account, kept for its inbox until pruned.

    A group (``group_key``, e.g. the likes of one post) is one row per recipient: a new member of
    the group replaces the row by a newer one (a new id, so it is read as new and sorts first)
    counting one more actor.
    """

    id = _snowflake()
    recipient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="notifications", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(NotificationKind, max_length=16)
    # The newest actor (None for what the platform itself says: a moderation outcome, a notice).
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="notifications_caused", null=True, on_delete=fields.CASCADE
    )
    # The newest actors of a group, newest first (a few), and how many there are in all.
    actor_ids: fields.Field[list[int]] = fields.JSONField(default=list)
    actor_count = fields.IntField(default=1)
    post: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "gesso.Post", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    artwork: fields.ForeignKeyNullableRelation[Artwork] = fields.ForeignKeyField(
        "gesso.Artwork", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    comment: fields.ForeignKeyNullableRelation[Comment] = fields.ForeignKeyField(
        "gesso.Comment", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    # What the platform says (a moderation outcome, a notice); empty for members' activity.
    message = fields.TextField(default="")
    # REPORT_RESOLVED: the recipient's report and what was done (``resolvers.moderation.Action``)
    report_id = fields.BigIntField(null=True)
    outcome = fields.CharField(max_length=32, null=True)
    group_key = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    recipient_id: int
    actor_id: int | None
    post_id: int | None
    artwork_id: int | None
    comment_id: int | None

    class Meta:
        table = "notifications"
        # NULLs differ from each other, so only grouped rows are unique per recipient.
        unique_together = (("recipient_id", "group_key"),)
        indexes = (
            # An inbox page, newest first, and the unread count (ids above the read mark).
            Index(fields=("recipient_id", "id"), name="notifications_recipient_id"),
            Index(fields=("actor_id",), name="notifications_actor"),
            Index(fields=("post_id",), name="notifications_post"),
            Index(fields=("artwork_id",), name="notifications_artwork"),
            Index(fields=("comment_id",), name="notifications_comment"),
            # Pruning reads the oldest rows first.
            Index(fields=("created_at",), name="notifications_created"),
        )


class DeletionState(enum.StrEnum):
    RUNNING = "running"  # the account is hidden and its things are being deleted, step by step
    DONE = "done"  # nothing of the account is left; the row keeps its handle reserved


class AccountDeletion(Model):
    """An account's deletion (``deleteAccount``): its durable record, and from the moment it is
    written the hold that hides the account from everyone (``resolvers.rules.DELETED``), which is
    why its key is the account's id.

    The deletion runs as a job in idempotent batches (``resolvers.leaving.STEPS``); ``step`` is
    the first step not known to be finished and ``removed`` counts what went, so a job that died
    halfway is resumed by the next one. Once DONE, the row holds no personal data: only the id,
    the handle (reserved, so nobody can take the name of someone who left) and the times.
    """

    id = fields.BigIntField(primary_key=True, generated=False)
    handle_key = fields.CharField(max_length=30, unique=True)
    state = fields.CharEnumField(DeletionState, max_length=16, default=DeletionState.RUNNING)
    step = fields.CharField(max_length=32, default="")
    removed: fields.Field[dict[str, int]] = fields.JSONField(default=dict)
    requested_at = fields.DatetimeField(auto_now_add=True)
    # When a job last took it (or handed it to the queue): a sweep hands over the stale ones.
    queued_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_deletions"
        indexes = (Index(fields=("state", "id"), name="account_deletions_state"),)


class ExportStatus(enum.StrEnum):
    """Where an account's archive is (``resolvers.exports``)."""

    PENDING = "pending"  # requested: its job is queued or running
    READY = "ready"  # built and stored privately: downloadable once until ``expires_at``
    DOWNLOADED = "downloaded"  # downloaded once: its object is gone
    EXPIRED = "expired"  # not downloaded in time: its object is gone
    FAILED = "failed"  # could not be built (``error``); nothing of it is stored


class AccountExport(Model):
    """An archive of an account's own things (exportAccount): a zip built by a job, stored
    under a private key and downloadable once from a signed URL until ``expires_at``."""

    id = _snowflake()
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "gesso.User", related_name="exports", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(ExportStatus, max_length=16, default=ExportStatus.PENDING)
    object_key = fields.CharField(max_length=600, null=True)
    byte_size = fields.BigIntField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # When the job was handed to the queue (None: not yet, so a sweep hands it over).
    queued_at = fields.DatetimeField(null=True)
    ready_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    downloaded_at = fields.DatetimeField(null=True)

    user_id: int

    class Meta:
        table = "account_exports"
        indexes = (
            # An account's exports, newest first (the rate limit, viewer.accountExport).
            Index(fields=("user_id", "id"), name="account_exports_user_id"),
            # The prune: ready archives past their expiry, stale pending jobs.
            Index(fields=("status", "expires_at"), name="account_exports_status"),
        )
