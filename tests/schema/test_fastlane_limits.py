"""The home feed's fast lane validates by itself, so it must apply every production limit: a
document that fails one is left to the regular path, which refuses it."""

from __future__ import annotations

import pytest
from graphql import parse

from resolvers.context import Context
from resolvers.services import Services
from schema import fastlane
from schema.limits import PRODUCTION_LIMITS, check_document
from schema.root import schema

FIELDS = "kind cursor post { id text author { handle } }"


def _feed(selection: str) -> str:
    return f"subscription {{ homeFeed {{ {selection} }} }}"


def _prepare(query: str, *, production: bool) -> fastlane.LiveOperation | None:
    context = Context(services=Services(token_ttl_seconds=60))
    limits = PRODUCTION_LIMITS if production else None
    return fastlane.prepare({"query": query}, context, limits)


def test_a_plain_home_feed_takes_the_fast_lane_in_production() -> None:
    operation = _prepare(_feed(FIELDS), production=True)
    assert operation is not None
    assert operation.masked is True


HOSTILE = {
    "aliases": _feed(FIELDS + " " + " ".join(f"k{n}: kind" for n in range(101))),
    "directives": _feed(" ".join(f"k{n}: kind @include(if: true)" for n in range(21))),
    "tokens": _feed(FIELDS + " ... on HomeFeedEvent { kind }" * 400),
}


@pytest.mark.parametrize("limit", sorted(HOSTILE))
def test_a_document_over_a_limit_leaves_the_fast_lane(limit: str) -> None:
    document = HOSTILE[limit]
    # in development the same document would take the fast lane (so the limit is what decides)
    assert _prepare(document, production=False) is not None
    # in production it does not
    assert _prepare(document, production=True) is None


def test_introspection_leaves_the_fast_lane() -> None:
    # a subscription document may carry a query that harvests the schema next to it
    document = "subscription S { homeFeed { kind } } query Q { __schema { types { name } } }"
    payload = {"query": document, "operationName": "S"}
    context = Context(services=Services(token_ttl_seconds=60))
    assert fastlane.prepare(payload, context, None) is not None
    assert fastlane.prepare(payload, context, PRODUCTION_LIMITS) is None


def test_depth_is_measured_in_the_fast_lane() -> None:
    # a home feed subscription whose selection is 11 deep (not shareable either way, so the
    # limit is checked through the rule set the lane uses)
    hops = "followers(first: 1) { nodes { " * 4 + "handle" + " } }" * 4
    deep = parse(_feed(f"post {{ author {{ {hops} }} }}"))
    messages = [e.message for e in check_document(schema._schema, deep, PRODUCTION_LIMITS)]
    assert messages == ["'anonymous' exceeds maximum operation depth of 10"]
