"""The main user journey through the API: sign up, follow, create, post, read the feed."""

from __future__ import annotations

from tests.graphql import GraphQLClient

CREATE_ARTWORK = """mutation($i: CreateArtworkInput!) {
  createArtwork(input: $i) { artwork { id title tags owner { handle } } errors { field code } }
}"""
CREATE_POST = """mutation($i: CreatePostInput!) {
  createPost(input: $i) { post { id text artworks { id } } errors { field code message } }
}"""
HOME = """query($first: Int, $after: String) {
  homeFeed(first: $first, after: $after) {
    edges { cursor node { id text author { handle isFollowedByViewer }
            artworks { title } likeCount viewerHasLiked } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_follower_sees_the_post_in_home_feed(gql: GraphQLClient) -> None:
    # given two artists, one following the other
    await gql.sign_up("mira")
    noor = await gql.sign_up("noor")
    followed = await gql.execute(
        "mutation($u: ID!) { follow(userId: $u) {"
        " user { handle followerCount } errors { code } } }",
        {"u": noor},
        as_="mira",
    )
    assert followed.data["follow"] == {
        "user": {"handle": "noor", "followerCount": 1},
        "errors": [],
    }
    # when the followed artist creates an artwork and posts it
    art = await gql.execute(
        CREATE_ARTWORK, {"i": {"title": "Harbour", "tags": ["#Sea", "ink"]}}, as_="noor"
    )
    artwork = art.data["createArtwork"]["artwork"]
    assert artwork["tags"] == ["sea", "ink"]
    post = await gql.execute(
        CREATE_POST,
        {"i": {"text": "New piece #harbour", "artworkIds": [artwork["id"]]}},
        as_="noor",
    )
    assert post.data["createPost"]["errors"] == []
    # then the follower's home feed shows it, with its author and artwork
    feed = await gql.execute(HOME, {"first": 10}, as_="mira")
    edges = feed.data["homeFeed"]["edges"]
    assert [e["node"]["text"] for e in edges] == ["New piece #harbour"]
    assert edges[0]["node"]["author"] == {"handle": "noor", "isFollowedByViewer": True}
    assert edges[0]["node"]["artworks"] == [{"title": "Harbour"}]
    # and the tag feeds find it by its hashtag and by its artwork's tags
    for tag in ("harbour", "SEA", "#ink"):
        tagged = await gql.execute(
            "query($t: String!) { tagFeed(tag: $t) { nodes { text } } }", {"t": tag}
        )
        assert tagged.data["tagFeed"]["nodes"] == [{"text": "New piece #harbour"}], tag


async def test_home_feed_pages_with_keyset_cursors(gql: GraphQLClient) -> None:
    await gql.sign_up("pia")
    for n in range(5):
        await gql.execute(CREATE_POST, {"i": {"text": f"post {n}"}}, as_="pia")
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.execute(HOME, {"first": 2, "after": after}, as_="pia")).data["homeFeed"]
        seen += [e["node"]["text"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"post {n}" for n in range(4, -1, -1)]
