"""Fragment bombs and the query cost limit: a document is measured in one pass over its text, and
production refuses, before execution, an operation that may resolve too many fields.

A fragment that spreads the previous one twice, twenty levels deep, is 826 bytes that expand to
2^20 copies of its innermost fields. Each fragment here is read once however often it is spread,
in the limits, in the field collection of compiled plans and in the preloading of connections."""

from __future__ import annotations

import time

import pytest
from graphql import parse

from resolvers.media import MEDIA_VARIANTS
from resolvers.pagination import DEFAULT_PAGE
from schema.budget import COST_CODE, Measure, measure_operation, operations
from schema.limits import PRODUCTION_LIMITS, check_document
from schema.root import schema
from tests.graphql import GraphQLClient, Result

# Generous against a machine under load, and far below what the expansion took (13 s at n=20).
QUICK_S = 1.0


def bomb(levels: int, *, on: str = "Post", leaf: str = "id text", root: str | None = None) -> str:
    """``fragment F<n>`` spreads ``F<n-1>`` twice, ``levels`` times; used once under ``root``."""
    fragments = [f"fragment F0 on {on} {{ {leaf} }}"] + [
        f"fragment F{n} on {on} {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels + 1)
    ]
    used = root or "query { discoverFeed { nodes { ...F%d } } }"
    return used % levels + "\n" + "\n".join(fragments)


async def _timed(client: GraphQLClient, document: str) -> tuple[float, Result]:
    start = time.perf_counter()
    result = await client.execute(document)
    return time.perf_counter() - start, result


def test_a_bomb_is_measured_exactly_without_expanding_it() -> None:
    # given the bomb twenty levels deep (2^20 copies of "id text" once expanded)
    document = parse(bomb(20))
    # when it is measured
    start = time.perf_counter()
    measure = measure_operation(schema._schema, document, operations(document)[0])
    elapsed = time.perf_counter() - start
    # then its cost counts each use of each fragment, and the page size of discoverFeed
    assert measure == Measure(depth=2, aliases=0, cost=1 + DEFAULT_PAGE * (1 + 2 * 2**20))
    assert elapsed < QUICK_S


def test_aliases_count_once_per_use_of_their_fragment() -> None:
    fragment = (
        "fragment A on Query { " + " ".join(f"a{n}: viewer {{ id }}" for n in range(60)) + " }"
    )
    document = parse("query { ...A ...A }\n" + fragment)
    assert measure_operation(schema._schema, document, operations(document)[0]).aliases == 120


def test_page_sizes_come_from_the_variables_when_known() -> None:
    document = parse("query($n: Int) { discoverFeed(first: $n) { nodes { id } } }")
    operation = operations(document)[0]
    assert measure_operation(schema._schema, document, operation, {"n": 5}).cost == 1 + 5 * 2
    # unknown (a registered document): the largest page
    assert measure_operation(schema._schema, document, operation).cost == 1 + 100 * 2


def test_lists_without_a_page_count_their_largest_size() -> None:
    document = parse("{ post(id: 1) { artworks { images { variants { url } } } } }")
    cost = measure_operation(schema._schema, document, operations(document)[0]).cost
    assert cost == 1 + 1 + 10 * (1 + 10 * (1 + MEDIA_VARIANTS * 1))


def test_media_variants_match_the_derivatives_written() -> None:
    from imaging.derivatives import ENCODINGS, SIZES

    assert len(SIZES) * len(ENCODINGS) == MEDIA_VARIANTS


def test_registering_a_bomb_is_refused() -> None:
    errors = check_document(schema._schema, parse(bomb(20)), PRODUCTION_LIMITS)
    assert [e.extensions["code"] for e in errors if e.extensions] == [COST_CODE]


@pytest.mark.parametrize(
    "document",
    [
        bomb(20),
        bomb(40),
        bomb(20, on="Query", leaf="viewer { id }", root="query { ...F%d }"),
        bomb(20, on="User", leaf="handle", root='query { user(handle: "a") { ...F%d } }'),
    ],
    ids=["under-a-feed", "forty-levels", "at-the-root", "under-a-user"],
)
async def test_a_fragment_bomb_is_refused_at_once_in_production(
    prod: GraphQLClient, document: str
) -> None:
    # when the bomb is sent to a production server
    elapsed, result = await _timed(prod, document)
    # then it is refused for its cost, before anything runs, without expanding it
    assert result.body.get("data") is None, result.body
    assert result.codes == [COST_CODE], result.body
    assert elapsed < QUICK_S


async def test_a_fragment_bomb_runs_at_once_in_development(gql: GraphQLClient) -> None:
    # given a post (so the fragments are collected for a real object)
    await gql.sign_up("ada")
    made = await gql.execute(
        'mutation { createPost(input: {text: "hi"}) { post { id } errors { code } } }', as_="ada"
    )
    assert made.data["createPost"]["errors"] == []
    # when the bomb runs without production limits, twice (the second from a compiled plan)
    for _ in range(2):
        elapsed, result = await _timed(gql, bomb(20))
        # then GraphQL's own field merging answers it in the time of one copy
        assert result.data == {
            "discoverFeed": {"nodes": [{"id": made.data["createPost"]["post"]["id"], "text": "hi"}]}
        }
        assert elapsed < QUICK_S


async def test_the_cost_limit_reads_the_page_size_of_the_request(prod: GraphQLClient) -> None:
    # a card that may resolve about 850 fields for each post
    card = "id text " + " ".join(f"a{n}: artworks {{ id title images {{ id }} }}" for n in range(6))
    document = f"query($n: Int) {{ discoverFeed(first: $n) {{ nodes {{ {card} }} }} }}"
    small = await prod.execute(document, {"n": 10})
    assert small.data == {"discoverFeed": {"nodes": []}}
    large = await prod.execute(document, {"n": 100})
    assert large.codes == [COST_CODE]
    assert large.errors[0]["extensions"]["maxCost"] == PRODUCTION_LIMITS.max_cost


def test_a_variable_left_out_counts_as_the_operations_default() -> None:
    # given a card of 1 + 6 * (1 + 10 * 13) = 787 fields per post, paged by a variable
    card = "id " + " ".join(f"a{n}: artworks {{ id title images {{ id }} }}" for n in range(6))

    def cost(definition: str, variables: dict[str, object] | None) -> int:
        document = parse(
            f"query({definition}) {{ discoverFeed(first: $n) {{ nodes {{ {card} }} }} }}"
        )
        [operation] = operations(document)
        return measure_operation(schema._schema, document, operation, variables).cost

    def page(n: int) -> int:  # the feed, and per post its node and the card
        return 1 + n * (1 + 1 + 6 * (1 + 10 * 13))

    # when the request leaves it out, the default the operation declares is the page size
    assert cost("$n: Int = 12", {}) == page(12)
    assert cost("$n: Int = 12", None) == page(12)
    # a value the request gives wins over the default, and null is the argument's default
    assert cost("$n: Int = 12", {"n": 3}) == page(3)
    assert cost("$n: Int = null", None) == page(DEFAULT_PAGE)
    # without a default and without the request's value, the largest page
    assert cost("$n: Int", None) == page(100)


def test_each_operation_of_a_document_is_measured_with_its_own_defaults() -> None:
    fragment = "fragment Card on Post { id artworks { id images { id } } }"
    document = parse(
        "query Small($n: Int = 2) { discoverFeed(first: $n) { nodes { ...Card } } }\n"
        "query Large($n: Int = 50) { discoverFeed(first: $n) { nodes { ...Card } } }\n" + fragment
    )
    small, large = (measure_operation(schema._schema, document, op) for op in operations(document))
    node = 1 + 1 + 1 + 10 * (1 + 1 + 10)  # nodes, id, artworks of id and images
    assert (small.cost, large.cost) == (1 + 2 * node, 1 + 50 * node)


async def test_a_compiled_plan_keeps_the_cost_limit_of_each_request(prod: GraphQLClient) -> None:
    # given a card document with images, which a compiled plan covers: 244 fields a post
    from schema.planner import compile_plan

    card = "id images { id url } artworks { id images { id url } }"
    document = f"query($n: Int) {{ discoverFeed(first: $n) {{ nodes {{ {card} }} }} }}"
    assert compile_plan(document, None) is not None
    plans = prod.app.state.graphql.plans
    for _ in range(2):  # the regular path, then the plan
        small = await prod.execute(document, {"n": 20})
        assert small.data == {"discoverFeed": {"nodes": []}}
    assert plans.served == 1
    # when the same document asks for a page the cost limit refuses (1 + 100 * 244 > 15,000)
    large = await prod.execute(document, {"n": 100})
    # then it is refused as the regular path refuses it, not answered by the plan
    assert large.codes == [COST_CODE]
    assert plans.served == 1
