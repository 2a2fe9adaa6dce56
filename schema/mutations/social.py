"""Follows, likes and comments."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import social
from resolvers.social import CommentTarget
from schema.base import Info, IsAuthenticated, UserError, decode_id, parse_global_id
from schema.mutations.common import DeletePayload, attempt, user_or_none
from schema.mutations.portfolio import ArtworkPayload
from schema.mutations.posts import PostPayload
from schema.types import Artwork, Comment, Post, User


@strawberry.type
class FollowPayload:
    user: User | None
    errors: list[UserError]


@strawberry.input
class AddCommentInput:
    subject_id: strawberry.ID = strawberry.field(description="A Post or an Artwork id.")
    text: str = strawberry.field(description="1 to 1,000 characters.")


@strawberry.type
class CommentPayload:
    comment: Comment | None
    errors: list[UserError]


@strawberry.type
class SocialMutations:
    @strawberry.mutation(
        description="Follow an artist; following twice is not an error.",
        permission_classes=[IsAuthenticated],
    )
    async def follow(self, info: Info, user_id: strawberry.ID) -> FollowPayload:
        row, errors = await attempt(
            lambda: social.follow(info.context, decode_id(user_id, "userId", "User"))
        )
        return FollowPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unfollow(self, info: Info, user_id: strawberry.ID) -> FollowPayload:
        row, errors = await attempt(
            lambda: social.unfollow(info.context, decode_id(user_id, "userId", "User"))
        )
        return FollowPayload(user=user_or_none(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def like_post(self, info: Info, post_id: strawberry.ID) -> PostPayload:
        return await _like_post(info, post_id, liked=True)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unlike_post(self, info: Info, post_id: strawberry.ID) -> PostPayload:
        return await _like_post(info, post_id, liked=False)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def like_artwork(self, info: Info, artwork_id: strawberry.ID) -> ArtworkPayload:
        return await _like_artwork(info, artwork_id, liked=True)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unlike_artwork(self, info: Info, artwork_id: strawberry.ID) -> ArtworkPayload:
        return await _like_artwork(info, artwork_id, liked=False)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def add_comment(self, info: Info, input: AddCommentInput) -> CommentPayload:
        async def run() -> Any:
            kind, pk = parse_global_id(input.subject_id, "subjectId", "Post", "Artwork")
            target = CommentTarget(post_id=pk) if kind == "Post" else CommentTarget(artwork_id=pk)
            return await social.add_comment(info.context, target, input.text)

        row, errors = await attempt(run)
        return CommentPayload(comment=Comment.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Delete a comment you wrote, or one on your own post or artwork.",
        permission_classes=[IsAuthenticated],
    )
    async def delete_comment(self, info: Info, id: strawberry.ID) -> DeletePayload:
        deleted, errors = await attempt(
            lambda: social.delete_comment(info.context, decode_id(id, "id", "Comment"))
        )
        return DeletePayload(deleted_id=id if deleted else None, errors=errors)


async def _like_post(info: Info, post_id: str, *, liked: bool) -> PostPayload:
    row, errors = await attempt(
        lambda: social.set_post_like(
            info.context, decode_id(post_id, "postId", "Post"), liked=liked
        )
    )
    return PostPayload(post=Post.from_row(row) if row else None, errors=errors)


async def _like_artwork(info: Info, artwork_id: str, *, liked: bool) -> ArtworkPayload:
    row, errors = await attempt(
        lambda: social.set_artwork_like(
            info.context, decode_id(artwork_id, "artworkId", "Artwork"), liked=liked
        )
    )
    return ArtworkPayload(artwork=Artwork.from_row(row) if row else None, errors=errors)
