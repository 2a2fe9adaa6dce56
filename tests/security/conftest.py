"""A production-mode app in-process (introspection off, limits on, errors masked)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.graphql import GraphQLClient

PRODUCTION = {
    "GESSO_ENV": "production",
    "GESSO_SECRET_KEY": "s" * 48,
    "GESSO_PUBLIC_URL": "https://gesso.example",
}


@pytest.fixture
async def prod(clean_db: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient.for_app(**PRODUCTION) as client:
        yield client
