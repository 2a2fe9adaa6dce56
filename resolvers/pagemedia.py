"""The images of a feed page and the viewer's artwork likes, read with hand-written SQL.

The companion of ``resolvers.feedsql`` for a compiled plan (``schema.compiled``) whose selection
shows images: the images of the page's posts and of their attached artworks (in their order), the
current avatar of each person the page shows (their newest avatar row, as the ``avatar`` loader
reads it), and which of the attached artworks the viewer has liked. One statement reads every kind
the selection needs, for the whole page at once. Each image carries the training policy in force
(``resolvers.consent.policy_of``: its artwork's override, else its owner's default, read as
``consent.media_policies`` and the regular path's image loaders read them), which its signed URLs
bind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from resolvers.consent import POLICY_COLUMNS, POLICY_JOINS, policy_of
from resolvers.feedsql import LIKED_ARTWORKS_SQL, FeedPage
from resolvers.rules import SHOWN_MEDIA, liked_by_viewer
from resolvers.sensitive import shown_to
from resolvers.surrogates import ImageRef
from storage import rawsql
from storage.models import MediaAsset, public_columns
from storage.rawsql import Row, convert, converters

Kind = Literal["post_id", "artwork_id", "avatar"]
IMAGE = "image"  # the key of a media row's ImageRef (what its URLs sign)

# Always read: what a URL binds and the order; the selection adds the columns it shows.
_ALWAYS = ("id", "owner_id", "artwork_id", "post_id", "position", "sensitive", "variants")
_FROM = f"FROM media_assets m {POLICY_JOINS}"
_SHOW_SENSITIVE = "SELECT show_sensitive FROM users WHERE id = $1"


@dataclass(slots=True)
class PageMedia:
    """What ``read`` found for one page; ``url`` signs a variant's key for an image."""

    viewer_id: int | None
    url: Callable[[str, ImageRef], str]
    images: dict[Kind, dict[int, list[Row]]] = field(default_factory=dict)
    avatars: dict[int, Row] = field(default_factory=dict)
    liked_artworks: set[int] = field(default_factory=set)
    # the viewer's show_sensitive setting, read only when the page holds someone else's
    # sensitive image
    show_sensitive: bool = False

    def withholds(self, row: Row) -> bool:
        """Whether a sensitive image's URLs are withheld from the viewer (``resolvers.sensitive``:
        a plan never reads an opt-in argument, which falls back to the regular path)."""
        return bool(row["sensitive"]) and not shown_to(
            self.viewer_id, self.show_sensitive, int(row["owner_id"]), None
        )

    def has_liked_artwork(self, artwork_id: int) -> bool:
        """``Artwork.viewerHasLiked`` of an artwork the page shows."""
        known = liked_by_viewer(self.viewer_id)
        return artwork_id in self.liked_artworks if known is None else known


class MediaReader:
    """The statements for one selection (a compiled plan holds one)."""

    def __init__(
        self, kinds: frozenset[Kind], columns: frozenset[str], *, artwork_likes: bool
    ) -> None:
        unknown = columns - set(public_columns(MediaAsset))
        if unknown:
            raise ValueError(f"not columns of media_assets: {sorted(unknown)}")
        self.kinds, self.artwork_likes = kinds, artwork_likes
        self.columns = (*_ALWAYS, *sorted(columns - set(_ALWAYS)))
        self.convert = converters(MediaAsset, self.columns)
        selected = ", ".join(f"m.{column}" for column in self.columns)
        shown = SHOWN_MEDIA.to_sql("m.status")  # only protected images (resolvers.rules)
        where: dict[Kind, str] = {
            "post_id": "m.post_id = ANY({ids})",
            "artwork_id": "m.artwork_id = ANY({ids})",
            # every avatar row of the people shown, oldest first: the newest of each wins
            "avatar": "m.owner_id = ANY({ids}) AND m.kind = 'avatar'",
        }
        # One statement for every kind the selection shows, each kind's rows tagged (``via``)
        # and in its order: images by position, avatars oldest first.
        self.order = tuple(sorted(kinds))
        # the kinds are the Literal above, the columns the model's (checked), the rest constants
        self.sql = (
            "SELECT * FROM ("  # noqa: S608
            + " UNION ALL ".join(
                f"SELECT '{kind}' AS via, {'0' if kind == 'avatar' else 'm.position'} AS ord,"
                f" {selected}, {POLICY_COLUMNS} {_FROM}"
                f" WHERE {where[kind].format(ids=f'${number}::bigint[]')} AND {shown}"
                for number, kind in enumerate(self.order, 1)
            )
            + ") AS page_media ORDER BY via, ord, id"
        )

    def __bool__(self) -> bool:
        return bool(self.kinds) or self.artwork_likes

    async def read(self, page: FeedPage, url: Callable[[str, ImageRef], str]) -> PageMedia:
        media = PageMedia(page.viewer_id, url)
        artworks = [a["id"] for rows in page.attachments.values() for a in rows]
        keys: dict[Kind, Sequence[int]] = {
            "post_id": [post["id"] for post in page.posts],
            "artwork_id": artworks,
            "avatar": list(page.users),
        }
        async with rawsql.reader(MediaAsset) as reader:
            wanted = [list(dict.fromkeys(keys[kind])) for kind in self.order]
            media.images = {kind: {} for kind in self.order if kind != "avatar"}
            if any(wanted):
                raw = await reader.fetch(self.sql, *wanted)
                for row in convert(raw, self.convert):
                    kind = row.pop("via")
                    del row["ord"]
                    _with_image(row)
                    if kind == "avatar":
                        media.avatars[row["owner_id"]] = row
                    else:
                        media.images[kind].setdefault(row[kind], []).append(row)
            if self.artwork_likes and page.viewer_id is not None and artworks:
                liked = await reader.fetch(LIKED_ARTWORKS_SQL, page.viewer_id, artworks)
                media.liked_artworks = {row[0] for row in liked}
            if page.viewer_id is not None and any(
                row["sensitive"] and row["owner_id"] != page.viewer_id for row in _rows_of(media)
            ):
                setting = await reader.fetch(_SHOW_SENSITIVE, page.viewer_id)
                media.show_sensitive = bool(setting and setting[0][0])
        return media


def _rows_of(media: PageMedia) -> Iterator[Row]:
    yield from media.avatars.values()
    for grouped in media.images.values():
        for rows in grouped.values():
            yield from rows


def _with_image(row: Row) -> Row:
    policy = policy_of(row)
    del row["artwork_policy"], row["owner_policy"]
    row[IMAGE] = ImageRef(row["id"], row["owner_id"], row["artwork_id"], policy)
    return row
