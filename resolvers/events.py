"""Live events: what is published after a commit, encoded once as JSON bytes.

The database stays the source of truth. An event carries a snapshot of what a subscriber needs to
render it (a new post with its author and attached artworks), so delivering it to thousands of
subscribers costs no query per subscriber.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson

from resolvers import channels
from resolvers.services import Services
from storage.broker import BrokerUnavailable
from storage.models import Artwork, Post, TrainingPolicy, User, Visibility, public_columns

log = logging.getLogger("gesso.events")

# What an event carries of each row: every column but the private ones, so a field added to a
# model reaches live subscribers with no list to update here.
USER_FIELDS = public_columns(User)
POST_FIELDS = public_columns(Post)
ARTWORK_FIELDS = public_columns(Artwork)


async def publish(services: Services, channel: str, event: dict[str, Any]) -> None:
    """Publish after the commit. A broker outage loses only the doorbell, never the write."""
    try:
        await services.broker.publish(channel, orjson.dumps(event))
    except BrokerUnavailable as error:
        log.warning("live event %s on %s not published: %s", event.get("t"), channel, error)


def _snapshot(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def post_added(post: Post, author: User, artworks: list[Artwork]) -> dict[str, Any]:
    return {
        "t": "post",
        "post": _snapshot(post, POST_FIELDS),
        "author": _snapshot(author, USER_FIELDS),
        "artworks": [_snapshot(a, ARTWORK_FIELDS) for a in artworks],
    }


def post_edited(post: Post, author: User, artworks: list[Artwork]) -> dict[str, Any]:
    """A post's new text, as a whole post (rendered like a new one, marked EDITED)."""
    return {**post_added(post, author, artworks), "t": "post_edited"}


def post_deleted(post_id: int, author_id: int, visibility: Visibility) -> dict[str, Any]:
    """A tombstone; its visibility is the post's, so it reaches only those who could see it."""
    return {"t": "post_deleted", "id": post_id, "author_id": author_id, "visibility": visibility}


def follow_changed(followee_id: int, *, following: bool) -> dict[str, Any]:
    return {"t": "follow", "followee_id": followee_id, "following": following}


def ties_changed() -> dict[str, Any]:
    """The account's blocks or mutes changed: its live subscriptions read them again."""
    return {"t": "ties"}


def notification(kind: str, actor_id: int | None, **subjects: int | str | None) -> dict[str, Any]:
    return {"t": "notification", "kind": kind, "actor_id": actor_id, **subjects}


def tokens_revoked(token_hashes: list[str]) -> dict[str, Any]:
    return {"t": "revoked", "tokens": token_hashes}


def upload_progress(
    upload_id: str | None,
    asset_id: int,
    stage: str,
    progress: float,
    *,
    done: bool = False,
    error: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {
        "t": "upload",
        "id": upload_id,
        "asset_id": asset_id,
        "code": code,
        "stage": stage,
        "progress": progress,
        "done": done,
        "error": error,
    }


async def publish_post_added(
    services: Services, post: Post, author: User, artworks: list[Artwork]
) -> None:
    await publish(services, channels.author_posts(author.id), post_added(post, author, artworks))


def _restore(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in ("created_at", "updated_at", "edited_at"):
        if isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name])
    if out.get("visibility") is not None:
        out["visibility"] = Visibility(out["visibility"])
    if out.get("ai_training_policy") is not None:
        out["ai_training_policy"] = TrainingPolicy(out["ai_training_policy"])
    return out


def rows_from_post_event(event: dict[str, Any]) -> tuple[Post, User, list[Artwork]]:
    """Read-only model instances rebuilt from a ``post_added`` event (no database access)."""
    post = Post(**_restore(event["post"]))
    author = User(**_restore(event["author"]))
    artworks = [Artwork(**_restore(a)) for a in event["artworks"]]
    return post, author, artworks
