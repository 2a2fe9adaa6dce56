"""How each field of a compiled type is answered: one table per type, the one place to decide.

A compiled plan (``schema.compiled``) answers a feed page from rows; the live home feed
(``schema.sharing``) executes one event once for every viewer of a class. Both need to know, per
field of ``Post``, ``User``, ``Artwork``, ``MediaAsset`` and ``Comment``, what the field is made
of. This module says it once:

* ``Column(name)``: a column of the type's own row, shown as it is (the writer converts it by the
  field's GraphQL type: an enum by its name, a date-time as ISO 8601, a list as a list). ``name``
  defaults to the field's Python name in the Strawberry type.
* ``Count(kind)``: a count as the viewer may see it (``resolvers.counts``).
* ``Flag(name)``: a viewer flag, defined in ``VIEWER_FLAGS``.
* ``GlobalId()``, ``Related(type, column)``, ``Attached(type)``, ``PolicyInForce()``: the id, one
  object a foreign key reaches, the artworks attached to a post, the training policy in force.
* ``Replies()``: a post's replies as the viewer may count them.
* ``Images(column)``, ``Avatar()``: the images of a post or an artwork (the media rows whose
  ``column`` is its id, in order), a person's current avatar; ``MediaUrl()``, ``Variants()``:
  an image's signed URL of one variant (``url(size, format)``) and all its variants
  (``resolvers.pagemedia`` reads them, with the training policy each URL signs).
* ``ReplyTo()``, ``Comments()``: the post a post replies to, and a page of the comments on a
  post or an artwork: answered by the plans of one post or artwork by id
  (``schema.plan_detail``), not by a feed page.
* ``Mentions()``: the members an ``@handle`` of the text names whom the viewer may see, with
  where each is in the text (``resolvers.mentions``): the page reads them all in one statement
  (``resolvers.feedsql.read_mentions``); only their own columns and ``isViewer`` are covered.
* ``Page(kind)``: one of a person's connections (``posts``, ``portfolio``, ``followers``,
  ``following``), answered by a plan rooted at that person (``schema.plan_user``), never below
  another object.
* ``NotCovered(reason)``: a plan does not answer it on purpose; a document selecting it keeps the
  regular path.

``shared`` says whether the field's value on a live event is the same for every viewer of one
share class (``schema.subscription.HomeFeedEvent.share_class``); ``schema.sharing.SHAREABLE`` is
made from it. ``tests/schema/test_fields.py`` fails when a field of these types is in no table, so
a new field is a decision here, not a silent trip to the slow path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from resolvers import counts


@dataclass(frozen=True, slots=True)
class Column:
    name: str | None = None  # None: the field's Python name
    shared: bool = True


@dataclass(frozen=True, slots=True)
class Count:
    kind: counts.Kind
    shared: bool = True


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # in VIEWER_FLAGS

    @property
    def shared(self) -> bool:
        return VIEWER_FLAGS[self.name].shared


@dataclass(frozen=True, slots=True)
class GlobalId:
    shared: bool = True


@dataclass(frozen=True, slots=True)
class Related:
    type_name: str
    column: str  # the foreign key in this type's row
    shared: bool = True


@dataclass(frozen=True, slots=True)
class Attached:
    type_name: str
    shared: bool = True


@dataclass(frozen=True, slots=True)
class PolicyInForce:
    """The artwork's own training policy, else its owner's default."""

    shared: bool = True


@dataclass(frozen=True, slots=True)
class Replies:
    """The replies to a post the viewer may see: the public ones, and of the others those the
    viewer may see (``resolvers.replies``)."""

    # a live event's post is new: it has no replies yet, so every viewer reads the same
    shared: bool = True


@dataclass(frozen=True, slots=True)
class Images:
    column: Literal["post_id", "artwork_id"]  # of media_assets: the id of the object
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Avatar:
    shared: bool = False


@dataclass(frozen=True, slots=True)
class MediaUrl:
    """``url(size, format)``: the signed URL of that variant, null when it has none."""

    shared: bool = False


@dataclass(frozen=True, slots=True)
class Variants:
    """Every variant with its signed URL (``MediaVariant``'s fields)."""

    shared: bool = False


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """The post a post replies to, when the viewer may see it (``resolvers.rules.VISIBLE``);
    a plan of one post by id answers it (``schema.plan_detail``), a feed page does not."""

    shared: bool = False


@dataclass(frozen=True, slots=True)
class Comments:
    """The comments on a post or an artwork, oldest first, a page of them
    (``resolvers.commentsql``); a plan of one post or artwork by id answers it
    (``schema.plan_detail``), a feed page does not."""

    shared: bool = False


@dataclass(frozen=True, slots=True)
class Mentions:
    """The ``@handle`` mentions of the object's ``text`` (``resolvers.mentions``)."""

    # blocks hide a member from some viewers of one share class and not from others
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """A connection of a person, read as a page of its own (``schema.plan_user``)."""

    kind: Literal["posts", "portfolio", "followers", "following"]
    shared: bool = False


@dataclass(frozen=True, slots=True)
class NotCovered:
    reason: str
    shared: bool = False


How = (
    Column
    | Count
    | Flag
    | GlobalId
    | Related
    | Attached
    | PolicyInForce
    | Replies
    | Images
    | Avatar
    | MediaUrl
    | Variants
    | ReplyTo
    | Comments
    | Mentions
    | Page
    | NotCovered
)


@dataclass(frozen=True, slots=True)
class ViewerFlag:
    """A yes/no about the viewer and the object, from what the page read for the viewer."""

    reads: Literal["likes", "follows", "artwork_likes"] | None  # what the page must read
    expression: str  # over ``row`` (the object's row) and ``page`` (resolvers.feedsql.FeedPage)
    shared: bool


VIEWER_FLAGS: dict[str, ViewerFlag] = {
    "isViewer": ViewerFlag(
        None, "(page.viewer_id is not None and page.viewer_id == row['id'])", shared=True
    ),
    "isFollowedByViewer": ViewerFlag(
        "follows",
        "page.is_followed(row['id'])",  # resolvers.rules.followed_by_viewer
        shared=True,  # the share class tells the author from the followers
    ),
    "hasLikedPost": ViewerFlag(
        "likes",
        "page.has_liked(row['id'])",  # resolvers.rules.liked_by_viewer
        shared=True,  # nobody has liked a post that is just published
    ),
    "hasLikedArtwork": ViewerFlag(
        "artwork_likes",
        "page.media.has_liked_artwork(row['id'])",  # resolvers.rules.liked_by_viewer
        shared=False,  # an older artwork: whether a follower liked it differs per follower
    ),
}

_CONNECTION = "a connection of its own: one more page per object"

POST: dict[str, How] = {
    "id": GlobalId(),
    "text": Column(),
    "visibility": Column(),
    "contentWarning": Column(),
    "sensitive": Column(),
    "aiGenerated": Column(),
    "likeCount": Column(),
    "commentCount": Column(),
    "replyCount": Replies(),
    "createdAt": Column(),
    "editedAt": Column(),
    "revisions": NotCovered("earlier texts, read when asked"),
    "mentions": Mentions(),
    "viewerHasLiked": Flag("hasLikedPost"),
    "author": Related("User", "author_id"),
    "artworks": Attached("Artwork"),
    "images": Images("post_id"),
    "replyTo": ReplyTo(),
    "comments": Comments(),
}

USER: dict[str, How] = {
    "id": GlobalId(),
    "handle": Column(),
    "displayName": Column(),
    "bio": Column(),
    "links": Column(),
    "openForCommissions": Column(),
    "aiTrainingPolicy": Column(),
    "followerCount": Column(),
    "followingCount": Column(),
    "createdAt": Column(),
    "postCount": Count("post"),
    "artworkCount": Count("artwork"),
    "isViewer": Flag("isViewer"),
    "isFollowedByViewer": Flag("isFollowedByViewer"),
    # the share class tells the account itself from everyone else, so it is shared
    "email": NotCovered("private: never read with a page", shared=True),
    "showSensitive": NotCovered("private: never read with a page", shared=True),
    "role": NotCovered("private: the account and moderators only"),
    "suspended": NotCovered("moderators only"),
    # read when asked, and only by the account itself
    "unreadNotificationCount": NotCovered("private: the account's own inbox", shared=False),
    "emailVerified": NotCovered("private: never read with a page", shared=True),
    "sessions": NotCovered("private: the account's own sign-ins", shared=False),
    "accountExport": NotCovered("private: the account's own archive", shared=False),
    "avatar": Avatar(),
    "portfolio": Page("portfolio"),
    "posts": Page("posts"),
    "followers": Page("followers"),
    "following": Page("following"),
    "blockedUsers": NotCovered("private: the account's own list, never read with a page"),
    "mutedUsers": NotCovered("private: the account's own list, never read with a page"),
}

ARTWORK: dict[str, How] = {
    "id": GlobalId(),
    "title": Column(),
    "description": Column(),
    "medium": Column(),
    "tags": Column(),
    "position": Column(),
    "visibility": Column(),
    "aiTrainingPolicyOverride": Column("ai_training_policy"),
    "aiTrainingPolicy": PolicyInForce(),
    "contentWarning": Column(),
    "sensitive": Column(),
    "aiGenerated": Column(),
    "likeCount": Column(),
    "commentCount": Column(),
    "createdAt": Column(),
    "updatedAt": Column(),
    "owner": Related("User", "owner_id"),
    "images": Images("artwork_id"),
    "viewerHasLiked": Flag("hasLikedArtwork"),
    "comments": Comments(),
}

# Comments are not part of live events: nothing of them is shared.
COMMENT: dict[str, How] = {
    "id": GlobalId(shared=False),
    "text": Column(shared=False),
    "createdAt": Column(shared=False),
    "author": Related("User", "author_id", shared=False),
    "mentions": Mentions(),
    "post": NotCovered("the post commented on: its own visibility for the viewer"),
    "artwork": NotCovered("the artwork commented on: its own visibility for the viewer"),
}

# Images are reached only through fields a live event does not share (their URLs expire).
MEDIA_ASSET: dict[str, How] = {
    "id": GlobalId(shared=False),
    "width": Column(shared=False),
    "height": Column(shared=False),
    "altText": Column(shared=False),
    "dominantColor": Column(shared=False),
    "sensitive": Column(shared=False),
    "url": MediaUrl(),
    "variants": Variants(),
    "protection": NotCovered("the protection report: an object of its own, rarely shown"),
}

# GraphQL type -> its table.
REGISTRY: dict[str, dict[str, How]] = {
    "Post": POST,
    "User": USER,
    "Artwork": ARTWORK,
    "MediaAsset": MEDIA_ASSET,
    "Comment": COMMENT,
}


def shareable() -> frozenset[tuple[str, str]]:
    """(type, field) of the compiled types whose value one share class of viewers has alike."""
    return frozenset(
        (type_name, field)
        for type_name, table in REGISTRY.items()
        for field, how in table.items()
        if how.shared
    )
