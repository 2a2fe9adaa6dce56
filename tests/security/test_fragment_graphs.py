"""Generated fragment graphs against a live production server: whatever the graph (chains,
diamonds, fragments spread up to three times each, thirty levels deep), the answer comes within
the time budget, as data when the cost is within the limit and as QUERY_TOO_COSTLY when not; and
the cost the server measures without expanding fragments equals the cost of the expanded document.

The runs are derandomized and bounded, so a failure reproduces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from graphql import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolvers.pagination import MAX_PAGE
from schema.budget import COST_CODE, measure_operation, operations
from schema.limits import PRODUCTION_LIMITS
from schema.root import schema
from tests.e2e.live import LiveServer
from tests.security.conftest import PRODUCTION

pytestmark = pytest.mark.e2e

MAX_SECONDS = 0.25
LEAVES = ("id", "text", "likeCount", "createdAt", "artworks { id title }", "author { handle }")
RUNS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass(frozen=True)
class Fragment:
    leaves: tuple[str, ...]
    spreads: tuple[tuple[int, int], ...]  # (an earlier fragment, how many times)


@st.composite
def fragment_graphs(draw: st.DrawFn) -> tuple[list[Fragment], int]:
    count = draw(st.integers(1, 30))
    fragments: list[Fragment] = []
    for index in range(count):
        spreads: tuple[tuple[int, int], ...] = ()
        if index:
            targets = draw(st.lists(st.integers(0, index - 1), max_size=3, unique=True))
            spreads = tuple((t, draw(st.integers(1, 3))) for t in targets)
        leaves = tuple(draw(st.lists(st.sampled_from(LEAVES), max_size=3, unique=True)))
        fragments.append(Fragment(leaves or ("id",), spreads))
    return fragments, draw(st.integers(1, MAX_PAGE))


def document(fragments: list[Fragment], first: int) -> str:
    """The operation spreads the last fragment; only the fragments it reaches are written (an
    unused fragment is a validation error)."""
    reached, pending = set(), [len(fragments) - 1]
    while pending:
        index = pending.pop()
        if index not in reached:
            reached.add(index)
            pending.extend(target for target, _ in fragments[index].spreads)
    lines = [f"query {{ discoverFeed(first: {first}) {{ nodes {{ ...F{len(fragments) - 1} }} }} }}"]
    for index in sorted(reached):
        fragment = fragments[index]
        spreads = " ".join(f"...F{t}" for t, times in fragment.spreads for _ in range(times))
        lines.append(f"fragment F{index} on Post {{ {' '.join(fragment.leaves)} {spreads} }}")
    return "\n".join(lines)


def expanded_cost(fragments: list[Fragment], first: int) -> int | None:
    """The cost of the document with every spread inlined, counted one field at a time (None
    when the expansion passes a million fields: then only the memoised count is affordable)."""
    leaf_cost = {"artworks { id title }": 1 + 10 * 2, "author { handle }": 2}
    budget = [1_000_000]

    def expand(index: int) -> int:
        total = 0
        for leaf in fragments[index].leaves:
            total += leaf_cost.get(leaf, 1)
        budget[0] -= len(fragments[index].leaves)
        if budget[0] < 0:
            raise OverflowError
        for target, times in fragments[index].spreads:
            for _ in range(times):
                total += expand(target)
        return total

    try:
        return 1 + first * (1 + expand(len(fragments) - 1))
    except OverflowError:
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("graphs"), PRODUCTION).start()
    yield live
    live.stop()
    assert "Traceback" not in live.log(), live.log()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@RUNS
@given(graph=fragment_graphs())
def test_any_fragment_graph_is_answered_within_budget(
    http: httpx.Client, graph: tuple[list[Fragment], int]
) -> None:
    fragments, first = graph
    text = document(fragments, first)
    parsed = parse(text)
    cost = measure_operation(schema._schema, parsed, operations(parsed)[0]).cost
    expanded = expanded_cost(fragments, first)
    if expanded is not None:
        assert cost == expanded
    # best of three, so that a pause of the machine does not count as the request's cost
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        response = http.post("/graphql", json={"query": text})
        timings.append(time.perf_counter() - start)
        if timings[-1] <= MAX_SECONDS:
            break
    assert min(timings) <= MAX_SECONDS, (min(timings), text)
    body = response.json()
    if cost <= PRODUCTION_LIMITS.max_cost:
        assert body.get("errors") is None, body
        assert body["data"] == {"discoverFeed": {"nodes": []}}
    else:
        assert [e["extensions"]["code"] for e in body["errors"]] == [COST_CODE], body
