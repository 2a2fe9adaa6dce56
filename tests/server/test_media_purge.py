"""The purge hook: after a change, the media cache is told; a cache that cannot be reached is
logged and counted, and the change stands."""

from __future__ import annotations

import asyncio
import re

from tests.graphql import GraphQLClient
from tests.services import free_port

FAILED = re.compile(r'^gesso_media_purges_total\{outcome="failed"\} (\S+)$', re.M)


async def test_an_unreachable_cache_does_not_fail_the_change(clean_db: str) -> None:
    # given a purge URL where nothing listens
    nothing = f"http://127.0.0.1:{free_port()}/"
    async with GraphQLClient.for_app(GESSO_MEDIA_PURGE_URL=nothing) as gql:
        await gql.sign_up("ada")
        # when the artist changes their training policy
        result = await gql.execute(
            "mutation { updateProfile(input: {aiTrainingPolicy: ALLOWED}) {"
            " user { aiTrainingPolicy } errors { code } } }",
            as_="ada",
        )
        # then the change is made ...
        assert result.data["updateProfile"] == {
            "user": {"aiTrainingPolicy": "ALLOWED"},
            "errors": [],
        }
        # ... and the failed purge (tried twice, in the background) is counted
        for _ in range(100):
            found = FAILED.search((await gql.http.get("/metrics")).text)
            if found is not None:
                break
            await asyncio.sleep(0.05)
        assert found is not None
        assert float(found.group(1)) == 1.0
