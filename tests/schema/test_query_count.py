"""A home-feed page costs a fixed number of SQL statements, whatever its size (no N+1)."""

from __future__ import annotations

import pytest

from resolvers import feedsql
from storage.models import Follow, User
from tests.graphql import GraphQLClient, QueryCounter

HOME = """query($first: Int, $after: String) {
  homeFeed(first: $first, after: $after) {
    edges { cursor node {
      id text createdAt likeCount commentCount replyCount viewerHasLiked
      author { id handle displayName followerCount isFollowedByViewer }
      artworks { id title tags likeCount viewerHasLiked aiTrainingPolicy owner { handle } }
      replyTo { id text author { handle } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
# 1 token + viewer, 1 the page's ids, 1 its posts, 1 authors, 1 attachments with their artworks,
# 1 viewer follows, 1 viewer post likes, 1 viewer artwork likes, 1 replied-to posts.
STATEMENTS_PER_PAGE = 9


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


# A page of each viewer class costs the same statements whatever its size and depth, and the
# same on the compiled path: who the viewer follows changes how the page statement finds the
# page (a walk of the newest posts, or a merge of each followed artist's newest posts), never
# how many statements run. Viewer -> (the artists followed, the posts of the home feed).
CLASSES = {
    "dense": ("reader", ("ana", "ben", "cyd"), 15),
    "sparse": ("sparse", ("dee",), 2),  # follows an artist who posted twice, long ago
    "new": ("newbie", (), 2),  # follows nobody, has posted twice
    "mixed": ("mixed", ("ana", "dee"), 7),
    "many": ("many", ("ana", "ben", "cyd"), 15),
    "busy": ("busy", ("ana", "ben", "cyd"), 15),
}
# Members who never posted, followed besides the artists above, so that each way of the page
# statement (resolvers.feedsql.home_ids_sql) is taken: "busy" follows more than
# MERGE_FIRST_FOLLOWS artists and at most SHORT_WALK_FOLLOWS (a walk of a few hundred posts
# first), the dense reader more (a longer walk first; each then the merge when the walk finds no
# page), "many" more than MERGE_MAX_FOLLOWS (the walk to the end); the others get the merge
# first.
SILENT = {
    "busy": feedsql.MERGE_FIRST_FOLLOWS,
    "dense": feedsql.SHORT_WALK_FOLLOWS,
    "many": feedsql.MERGE_MAX_FOLLOWS,
}
# The regular path: the token, the page's ids (feedsql.home_page_ids), the posts, then the
# loaders of what the page shows (ana's, ben's and cyd's posts have artworks and replies).
REGULAR_STATEMENTS = {"dense": 9, "sparse": 7, "new": 7, "mixed": 9, "many": 9, "busy": 9}
COMPILED_STATEMENTS = 2  # the token, the page with everything joined in
BENCH = (
    "query HomeFeed($first: Int!, $after: String) {"
    " homeFeed(first: $first, after: $after) {"
    " edges { cursor node { id text createdAt likeCount commentCount viewerHasLiked"
    " author { id handle displayName isFollowedByViewer } artworks { id title } } }"
    " pageInfo { hasNextPage endCursor } } }"
)


async def _seed_classes(gql: GraphQLClient) -> None:
    ids = {"dee": await gql.sign_up("dee")}
    for n in range(2):
        await gql.execute(
            "mutation($t: String!) { createPost(input: {text: $t}) { errors { code } } }",
            {"t": f"dee post {n}"},
            as_="dee",
        )
    await _seed(gql)  # reader, and ana, ben and cyd with five posts each
    for handle in ("ana", "ben", "cyd"):
        ids[handle] = (
            await gql.execute("query($h: String!) { user(handle: $h) { id } }", {"h": handle})
        ).data["user"]["id"]
    ids["reader"] = ""
    for cls, (viewer, follows, _) in CLASSES.items():
        if cls == "dense":
            continue
        await gql.sign_up(viewer)
        for handle in follows:
            await gql.execute(
                "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
                {"u": ids[handle]},
                as_=viewer,
            )
    for text in ("hello", "a first sketch"):
        await gql.execute(
            "mutation($t: String!) { createPost(input: {text: $t}) { errors { code } } }",
            {"t": text},
            as_="newbie",
        )
    for cls, count in SILENT.items():
        member = await User.get(handle=CLASSES[cls][0])
        silent = [
            User(
                handle=f"{cls}{n}",
                handle_key=f"{cls}{n}",
                email=f"{cls}{n}@x.test",
                email_key=f"{cls}{n}@x.test",
                password_hash="-",
            )
            for n in range(count)
        ]
        await User.bulk_create(silent)
        await Follow.bulk_create([Follow(follower_id=member.id, followee_id=u.id) for u in silent])
        following = await Follow.filter(follower_id=member.id).count()
        await User.filter(id=member.id).update(following_count=following)
        assert following == count + len(CLASSES[cls][1])


@pytest.mark.parametrize("cls", CLASSES)
async def test_statements_per_page_of_each_viewer_class(gql: GraphQLClient, cls: str) -> None:
    # given members who follow many, few or no artists
    await _seed_classes(gql)
    viewer, _, feed_size = CLASSES[cls]
    for query, expected in ((HOME, REGULAR_STATEMENTS[cls]), (BENCH, COMPILED_STATEMENTS)):
        await gql.execute(query, {"first": 1}, as_=viewer)  # compiles BENCH for the next runs
        counts = {}
        # when first pages of different sizes and a page after a cursor are read
        first_page = await gql.execute(query, {"first": 1}, as_=viewer)
        cursor = first_page.data["homeFeed"]["pageInfo"]["endCursor"]
        for first, after in ((1, None), (15, None), (15, cursor)):
            with QueryCounter.capture() as counter:
                result = await gql.execute(query, {"first": first, "after": after}, as_=viewer)
            edges = result.data["homeFeed"]["edges"]
            assert len(edges) == min(first, feed_size - (after is not None)), (first, after)
            counts[(first, after)] = len(counter.statements)
        # then each costs the class's pinned number of statements
        assert counts == dict.fromkeys(counts, expected), (query[:20], counter.statements)
