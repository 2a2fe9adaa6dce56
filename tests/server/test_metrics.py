"""/metrics: operations by name and type, errors by code, pipeline stages, SQL statements."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from server.metrics import MAX_OPERATION_NAMES, Metrics
from storage.broker import InProcessBroker
from tests.graphql import GraphQLClient
from tests.images import photo

UPLOAD = """mutation($i: CreateArtworkInput!) { createArtwork(input: $i) {
  artwork { id } errors { code } } }"""


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(gql: GraphQLClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await gql.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return _samples(response.text)


async def test_operations_are_timed_by_name_and_type_and_errors_counted_by_code(
    clean_db: str,
) -> None:
    async with GraphQLClient.for_app() as gql:
        # given a few operations: named, anonymous, a mutation, an unauthenticated one, a typo
        await gql.sign_up("metered")
        await gql.execute("query Who { viewer { handle } }", as_="metered")
        await gql.execute("query Who { viewer { handle } }", as_="metered")
        await gql.execute("{ viewer { handle } }")
        out = await gql.execute("mutation Out { logOut { errors { code } } }")
        assert out.codes == ["UNAUTHENTICATED"]
        await gql.execute("query Broken { viewer { nope } }")
        # when the metrics are scraped
        samples = await _scrape(gql)
    # then each operation is counted once under its name and type
    count = "gesso_graphql_operation_seconds_count"
    assert samples[(count, (("operation", "Who"), ("type", "query")))] == 2.0
    assert samples[(count, (("operation", "anonymous"), ("type", "query")))] == 1.0
    assert samples[(count, (("operation", "Out"), ("type", "mutation")))] == 1.0
    assert samples[(count, (("operation", "Broken"), ("type", "query")))] == 1.0
    # and top-level errors by their code
    assert samples[("gesso_graphql_errors_total", (("code", "UNAUTHENTICATED"),))] == 1.0
    assert samples[("gesso_graphql_errors_total", (("code", "GRAPHQL_INVALID"),))] == 1.0


async def test_sql_statements_are_counted_on_postgres(clean_db: str) -> None:
    async with GraphQLClient.for_app() as gql:
        await gql.sign_up("counted")
        before = (await _scrape(gql)).get(("gesso_db_statements_total", (("role", "primary"),)))
        await gql.execute("query { viewer { handle } }", as_="counted")
        after = (await _scrape(gql)).get(("gesso_db_statements_total", (("role", "primary"),)))
    if clean_db.startswith("postgres"):
        assert before is not None
        # the token lookup with its viewer: one statement
        assert after == before + 1
    else:
        assert after == before


async def test_each_pipeline_stage_of_an_upload_is_timed(clean_db: str) -> None:
    async with GraphQLClient.for_app() as gql:
        await gql.sign_up("painter")
        created = await gql.upload(
            UPLOAD,
            {"i": {"title": "Dunes", "images": [{"file": None}]}},
            {"i.images.0.file": ("dunes.jpg", photo(), "image/jpeg")},
            as_="painter",
        )
        assert created.data["createArtwork"]["errors"] == []
        samples = await _scrape(gql)
    stages = {
        dict(labels)["stage"]: value
        for (name, labels), value in samples.items()
        if name == "gesso_imaging_stage_seconds_count"
    }
    assert set(stages) >= {"ingest", "perturb", "watermark", "derivatives"}
    assert set(stages.values()) == {1.0}


async def test_the_metrics_token_is_required_when_set(clean_db: str) -> None:
    async with GraphQLClient.for_app(GESSO_METRICS_TOKEN="scrape-me") as gql:
        anonymous = await gql.http.get("/metrics")
        wrong = await gql.http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await gql.http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "gesso_graphql_operation_seconds" in right.text


def test_operation_name_labels_are_bounded() -> None:
    metrics = Metrics(InProcessBroker())
    assert metrics.operation_name(None) == "anonymous"
    assert metrics.operation_name("") == "anonymous"
    assert metrics.operation_name("Feed") == "Feed"
    assert metrics.operation_name("x" * 65) == "other"
    assert metrics.operation_name("not a name") == "other"
    for n in range(MAX_OPERATION_NAMES):
        metrics.operation_name(f"Op{n}")
    assert metrics.operation_name("OneTooMany") == "other"
    assert metrics.operation_name("Feed") == "Feed"
