"""The request's loaders read with hand-written SQL: the same model instances as the ORM's reads,
and each image's policy in force from the statement that read the image."""

from __future__ import annotations

from typing import Any

from resolvers.consent import media_policy
from resolvers.loaders import NOT_LOADED, Loaders, peek
from storage.models import (
    Artwork,
    Comment,
    MediaAsset,
    MediaKind,
    MediaStatus,
    Post,
    PostArtwork,
    TrainingPolicy,
    User,
)


def _state(row: Any) -> dict[str, Any]:
    return dict(vars(row))


async def _world() -> dict[str, Any]:
    owner = await User.create(
        handle="ida", handle_key="ida", email="i@example.com", email_key="i@example.com",
        password_hash="x", links=["https://example.com"],
        ai_training_policy=TrainingPolicy.ALLOWED,
    )  # fmt: skip
    artwork = await Artwork.create(
        owner=owner, title="Dunes", tags=["sand", "study"],
        ai_training_policy=TrainingPolicy.DISALLOWED,
    )  # fmt: skip
    post = await Post.create(author=owner, text="new work")
    await PostArtwork.create(post=post, artwork=artwork, position=0)
    comment = await Comment.create(author=owner, post=post, text="first")
    kinds: list[tuple[MediaKind, MediaStatus, dict[str, Any]]] = [
        (MediaKind.AVATAR, MediaStatus.READY, {}),
        (MediaKind.AVATAR, MediaStatus.READY, {}),  # the newer avatar: the current one
        (MediaKind.AVATAR, MediaStatus.PROCESSING, {}),  # not shown
        (MediaKind.POST, MediaStatus.READY, {"post": post}),
        (MediaKind.ARTWORK, MediaStatus.READY, {"artwork": artwork}),
    ]
    images = {}
    for n, (kind, status, where) in enumerate(kinds):
        images[n] = await MediaAsset.create(
            owner=owner, kind=kind, status=status, watermark_id=n + 1, width=4, height=3,
            variants=[{"size": "display", "format": "webp", "key": f"k{n}"}], **where,
        )  # fmt: skip
    return {"owner": owner, "artwork": artwork, "post": post, "comment": comment, "images": images}


async def test_loaders_make_the_instances_the_orm_makes(clean_db: str) -> None:
    # given a member with an artwork attached to a post, a comment and images of each kind
    world = await _world()
    loaders = Loaders(viewer_id=world["owner"].id)
    # when the loaders read them
    user = await loaders.user.load(world["owner"].id)
    artwork = await loaders.artwork.load(world["artwork"].id)
    post = await loaders.post.load(world["post"].id)
    comment = await loaders.comment.load(world["comment"].id)
    attached = await loaders.post_attachments.load(world["post"].id)
    avatar = await loaders.avatar.load(world["owner"].id)
    post_images = await loaders.post_images.load(world["post"].id)
    artwork_images = await loaders.artwork_images.load(world["artwork"].id)
    # then each is the instance the ORM reads, column for column
    assert _state(user) == _state(await User.get(id=world["owner"].id))
    assert _state(artwork) == _state(await Artwork.get(id=world["artwork"].id))
    assert _state(post) == _state(await Post.get(id=world["post"].id))
    assert _state(comment) == _state(await Comment.get(id=world["comment"].id))
    assert [_state(a) for a in attached] == [_state(await Artwork.get(id=world["artwork"].id))]
    images = world["images"]
    assert avatar is not None
    assert avatar.id == images[1].id
    assert _state(avatar) == _state(await MediaAsset.get(id=images[1].id))
    assert [i.id for i in post_images] == [images[3].id]
    assert [i.id for i in artwork_images] == [images[4].id]
    assert await loaders.user.load(0) is None


async def test_images_read_bring_their_policy(clean_db: str) -> None:
    # given images of a post, an artwork with its own policy and an avatar
    world = await _world()
    images = world["images"]
    loaders = Loaders(viewer_id=None)
    # when a page reads them
    await loaders.avatar.load(world["owner"].id)
    await loaders.post_images.load(world["post"].id)
    await loaders.artwork_images.load(world["artwork"].id)
    # then the policy their URLs sign is known without another statement, the one in force
    for n in (1, 3, 4):
        known = peek(loaders.media_policy, images[n].id)
        assert known is not NOT_LOADED
        assert known == await media_policy(images[n].id)
    assert peek(loaders.media_policy, images[4].id) == TrainingPolicy.DISALLOWED  # its own
    assert peek(loaders.media_policy, images[3].id) == TrainingPolicy.ALLOWED  # the artist's
    assert peek(loaders.media_policy, images[2].id) is NOT_LOADED  # not shown: never read
