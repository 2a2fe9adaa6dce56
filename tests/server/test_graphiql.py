"""GraphiQL works offline: the page and everything it loads come from this server."""

from __future__ import annotations

import re

from tests.graphql import GraphQLClient


async def test_graphiql_loads_nothing_from_another_host(gql: GraphQLClient) -> None:
    page = await gql.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == [
        "/graphiql/gesso.js",
        "/graphiql/graphiql.min.css",
        "/graphiql/graphiql.min.js",
        "/graphiql/react-dom.production.min.js",
        "/graphiql/react.production.min.js",
    ]
    assert "//" not in page.text.replace("://", "")  # no protocol-relative URL either
    for asset in assets:
        response = await gql.http.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000 or asset.endswith("gesso.js"), asset
        assert "https://unpkg.com" not in response.text[:1000]


async def test_the_vendored_files_carry_their_licences(gql: GraphQLClient) -> None:
    versions = await gql.http.get("/graphiql/VERSIONS")
    assert versions.text.split("\n")[:3] == ["react 18.2.0", "react-dom 18.2.0", "graphiql 3.8.3"]
    for name in ("LICENSE.react", "LICENSE.react-dom", "LICENSE.graphiql"):
        licence = await gql.http.get(f"/graphiql/{name}")
        assert licence.status_code == 200
        assert "MIT License" in licence.text
