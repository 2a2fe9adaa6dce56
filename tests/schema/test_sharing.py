"""Which subscription documents may share one execution among like viewers."""

from __future__ import annotations

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from schema.root import schema
from schema.sharing import document_shareable


def _shareable(query: str) -> bool:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return document_shareable(schema._schema, operation, fragments)


@pytest.mark.parametrize(
    "query",
    [
        "subscription { homeFeed { kind cursor post { id text author { handle } } } }",
        "subscription { homeFeed { __typename post { artworks { title owner { handle } } } } }",
        "subscription { homeFeed { post { ...P } } } fragment P on Post { text likeCount }",
        "subscription { homeFeed { post { ... on Post { viewerHasLiked } } } }",
        "subscription Live($a: String) { homeFeed(after: $a) { deletedPostId } }",
    ],
)
def test_viewer_independent_documents_are_shared(query: str) -> None:
    assert _shareable(query)


@pytest.mark.parametrize(
    "query",
    [
        # what the viewer may see of another post differs per viewer
        "subscription { homeFeed { post { replyTo { text } } } }",
        "subscription { homeFeed { post { comments { nodes { text } } } } }",
        "subscription { homeFeed { post { author { followers { nodes { handle } } } } } }",
        # whether a follower liked an older artwork differs per follower
        "subscription { homeFeed { post { artworks { viewerHasLiked } } } }",
        "subscription { notifications { kind } }",
        "subscription { homeFeed { post { ...Missing } } }",
    ],
)
def test_viewer_dependent_documents_are_not_shared(query: str) -> None:
    assert not _shareable(query)
