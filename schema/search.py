"""Search: one connection of members, artworks or posts, best first."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry

from resolvers import search
from resolvers.search import SearchKind
from schema.base import Info
from schema.connections import Connection
from schema.types import Artwork, Post, User

strawberry.enum(
    SearchKind,
    description="What to search: members (by handle and display name), artworks or posts.",
)

SearchResult: TypeAlias = Annotated[
    User | Artwork | Post,
    strawberry.union("SearchResult", description="A member, an artwork or a post."),
]


async def search_connection(
    info: Info, query: str, kind: SearchKind, first: int | None, after: str | None
) -> Connection[SearchResult]:
    page = await search.search(info.context.viewer_id, query, kind, first=first, after=after)
    loaders = info.context.loaders
    nodes: list[User | Artwork | Post | None]
    if kind is SearchKind.USERS:
        users = await loaders.user.load_many(page.items)
        nodes = [User.from_row(row) if row is not None else None for row in users]
    elif kind is SearchKind.ARTWORKS:
        artworks = await loaders.artwork.load_many(page.items)
        nodes = [Artwork.from_row(row) if row is not None else None for row in artworks]
    else:
        posts = await loaders.post.load_many(page.items)
        nodes = [Post.from_row(row) if row is not None else None for row in posts]
    return Connection.build(page, nodes, after=after)
