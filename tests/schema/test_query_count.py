"""A home-feed page costs a fixed number of SQL statements, whatever its size (no N+1)."""

from __future__ import annotations

from tests.graphql import GraphQLClient, QueryCounter

HOME = """query($first: Int) {
  homeFeed(first: $first) {
    edges { cursor node {
      id text createdAt likeCount commentCount replyCount viewerHasLiked
      author { id handle displayName followerCount isFollowedByViewer }
      artworks { id title tags likeCount viewerHasLiked aiTrainingPolicy owner { handle } }
      replyTo { id text author { handle } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
# 1 token + viewer, 1 feed page, 1 authors, 1 attachments with their artworks, 1 viewer follows,
# 1 viewer post likes, 1 viewer artwork likes, 1 replied-to posts.
STATEMENTS_PER_PAGE = 8


async def _seed(gql: GraphQLClient) -> None:
    await gql.sign_up("reader")
    for handle in ("ana", "ben", "cyd"):
        user_id = await gql.sign_up(handle)
        await gql.execute(
            "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
            {"u": user_id},
            as_="reader",
        )
        previous = None
        for n in range(5):
            art = await gql.execute(
                "mutation($i: CreateArtworkInput!) { createArtwork(input: $i) { artwork { id } } }",
                {"i": {"title": f"{handle} {n}", "tags": ["study"]}},
                as_=handle,
            )
            post = await gql.execute(
                "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } } }",
                {
                    "i": {
                        "text": f"{handle} post {n}",
                        "artworkIds": [art.data["createArtwork"]["artwork"]["id"]],
                        "replyTo": previous,
                    }
                },
                as_=handle,
            )
            previous = post.data["createPost"]["post"]["id"]
            await gql.execute(
                "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }",
                {"p": previous},
                as_="reader",
            )


async def test_home_feed_statement_count_is_constant(gql: GraphQLClient) -> None:
    # given a reader following three artists with fifteen posts, each with an artwork and a reply
    await _seed(gql)
    counts = {}
    # when pages of different sizes are read
    for first in (1, 5, 15):
        with QueryCounter.capture() as counter:
            result = await gql.execute(HOME, {"first": first}, as_="reader")
        assert len(result.data["homeFeed"]["edges"]) == first
        counts[first] = len(counter.statements)
    # then each costs the same, pinned number of statements
    assert counts == dict.fromkeys(counts, STATEMENTS_PER_PAGE), counter.statements


async def test_hidden_replies_cost_one_statement_per_page(gql: GraphQLClient) -> None:
    # given the newest post of the reader's home feed has a reply the reader may not see
    await _seed(gql)
    newest = (await gql.execute(HOME, {"first": 1}, as_="reader")).data["homeFeed"]["edges"]
    replied_to = newest[0]["node"]["id"]
    await gql.execute(
        'mutation($r: ID!) { createPost(input: {text: "hm", replyTo: $r, visibility: PRIVATE})'
        " { errors { code } } }",
        {"r": replied_to},
        as_="ana",
    )
    counts = {}
    # when pages of different sizes are read
    for first in (1, 5, 15):
        with QueryCounter.capture() as counter:
            result = await gql.execute(HOME, {"first": first}, as_="reader")
        assert result.data["homeFeed"]["edges"][0]["node"]["id"] == replied_to
        counts[first] = len(counter.statements)
    # then each costs one statement more: the replies the reader may see, for the whole page
    assert counts == dict.fromkeys(counts, STATEMENTS_PER_PAGE + 1), counter.statements
