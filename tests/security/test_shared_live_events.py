"""One live event, computed once per viewer class and shared, still tells each viewer only what
that viewer may see: the author and a follower subscribed to the same home feed each get their own
answer for the viewer-dependent fields, and a stranger gets nothing of a followers-only post."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse

from schema.root import schema
from schema.sharing import document_shareable
from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

pytestmark = pytest.mark.e2e

# What a feed card shows, with every viewer-dependent field the shared lane allows.
HOME_FEED = """subscription {
  homeFeed {
    kind
    post {
      text visibility viewerHasLiked
      author { handle isViewer isFollowedByViewer email postCount artworkCount }
      artworks { title visibility owner { handle isViewer isFollowedByViewer } }
    }
  }
}"""
FOLLOW = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) {
  createArtwork(input: $i) { artwork { id } errors { code } } }"""
CREATE_POST = """mutation($i: CreatePostInput!) {
  createPost(input: $i) { post { id } errors { code } } }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("shared"), PRODUCTION).start()
    yield live
    live.stop()
    assert "Traceback" not in live.log(), live.log()


def test_the_document_takes_the_shared_lane() -> None:
    # the test below checks sharing only if this document is one that is shared
    (operation,) = parse(HOME_FEED).definitions
    assert isinstance(operation, OperationDefinitionNode)
    assert document_shareable(schema._schema, operation, {})


async def _artwork(site: GraphQLClient, as_: str, title: str, visibility: str) -> str:
    made = await site.execute(
        CREATE_ARTWORK, {"i": {"title": title, "visibility": visibility}}, as_=as_
    )
    assert made.data["createArtwork"]["errors"] == []
    artwork_id: str = made.data["createArtwork"]["artwork"]["id"]
    return artwork_id


async def _post(site: GraphQLClient, as_: str, text: str, visibility: str, **extra: Any) -> None:
    posted = await site.execute(
        CREATE_POST, {"i": {"text": text, "visibility": visibility, **extra}}, as_=as_
    )
    assert posted.data["createPost"]["errors"] == []


async def _watching(server: LiveServer, site: GraphQLClient, handle: str) -> Subscriber:
    subscriber = await Subscriber.open(server.ws_url, site.token_of(handle))
    await subscriber.acknowledged()
    await subscriber.subscribe(HOME_FEED)
    return subscriber


async def test_author_and_followers_each_get_their_own_view_of_one_shared_event(
    server: LiveServer,
) -> None:
    async with GraphQLClient.for_url(server.url) as site:
        # given an artist with a public, a followers-only and a private artwork and two earlier
        # posts (public, private), two followers, and a stranger who follows someone else
        for handle in ("sh_artist", "sh_fan", "sh_fan2", "sh_stranger", "sh_other"):
            await site.sign_up(handle)
        ids = {
            handle: (await site.execute("query($h: String!) { user(handle: $h) { id } }",
                                        {"h": handle})).data["user"]["id"]
            for handle in ("sh_artist", "sh_other")
        }  # fmt: skip
        for fan in ("sh_fan", "sh_fan2"):
            followed = await site.execute(FOLLOW, {"u": ids["sh_artist"]}, as_=fan)
            assert followed.data["follow"]["errors"] == []
        followed = await site.execute(FOLLOW, {"u": ids["sh_other"]}, as_="sh_stranger")
        assert followed.data["follow"]["errors"] == []
        artworks = [
            await _artwork(site, "sh_artist", title, visibility)
            for title, visibility in (
                ("Open", "PUBLIC"),
                ("For fans", "FOLLOWERS"),
                ("Drawer", "PRIVATE"),
            )
        ]
        await _post(site, "sh_artist", "earlier, public", "PUBLIC")
        await _post(site, "sh_artist", "earlier, private", "PRIVATE")
        # and all four watching their live home feed with the same document
        watchers = {
            handle: await _watching(server, site, handle)
            for handle in ("sh_artist", "sh_fan", "sh_fan2", "sh_stranger")
        }
        await asyncio.sleep(0.5)  # every subscription is listening

        # when the artist posts for followers, attaching all three artworks
        await _post(site, "sh_artist", "for my followers", "FOLLOWERS", artworkIds=artworks)
        # and then someone the stranger follows posts in public
        await _post(site, "sh_other", "hello world", "PUBLIC")

        received = {
            handle: (await watcher.next_data(within=5))["homeFeed"]
            for handle, watcher in watchers.items()
        }
        for watcher in watchers.values():
            await watcher.close()

    def card(
        *, is_author: bool, email: str | None, posts: int, artworks: list[tuple[str, str]]
    ) -> dict[str, Any]:
        return {
            "kind": "ADDED",
            "post": {
                "text": "for my followers",
                "visibility": "FOLLOWERS",
                "viewerHasLiked": False,
                "author": {
                    "handle": "sh_artist",
                    "isViewer": is_author,
                    "isFollowedByViewer": not is_author,
                    "email": email,
                    "postCount": posts,
                    "artworkCount": len(artworks),
                },
                "artworks": [
                    {
                        "title": title,
                        "visibility": visibility,
                        "owner": {
                            "handle": "sh_artist",
                            "isViewer": is_author,
                            "isFollowedByViewer": not is_author,
                        },
                    }
                    for title, visibility in artworks
                ],
            },
        }

    # then the author sees everything of their own, with their email ...
    assert received["sh_artist"] == card(
        is_author=True,
        email="sh_artist@example.com",
        posts=3,
        artworks=[("Open", "PUBLIC"), ("For fans", "FOLLOWERS"), ("Drawer", "PRIVATE")],
    )
    # ... each follower what a follower may see: no email, no private post or artwork counted
    follower_card = card(
        is_author=False,
        email=None,
        posts=2,
        artworks=[("Open", "PUBLIC"), ("For fans", "FOLLOWERS")],
    )
    assert received["sh_fan"] == follower_card
    assert received["sh_fan2"] == follower_card
    # ... and the stranger's next event is the public post of the artist they follow
    assert received["sh_stranger"]["post"]["text"] == "hello world"


async def test_only_the_account_itself_reads_its_email(prod: GraphQLClient) -> None:
    await prod.sign_up("mail_self")
    await prod.sign_up("mail_other")
    query = "query($h: String!) { user(handle: $h) { email } viewer { email } }"
    own = await prod.execute(query, {"h": "mail_self"}, as_="mail_self")
    other = await prod.execute(query, {"h": "mail_self"}, as_="mail_other")
    anonymous = await prod.execute(query, {"h": "mail_self"})
    assert own.data == {
        "user": {"email": "mail_self@example.com"},
        "viewer": {"email": "mail_self@example.com"},
    }
    assert other.data == {"user": {"email": None}, "viewer": {"email": "mail_other@example.com"}}
    assert anonymous.data == {"user": {"email": None}, "viewer": None}
