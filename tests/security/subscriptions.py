"""In-process subscriptions of one viewer, through the regular executor or the fast lane."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult

from resolvers.context import Context
from schema import fastlane
from schema.root import schema
from storage.models import User
from tests.graphql import GraphQLClient

HOME_FEED = "subscription { homeFeed { kind deletedPostId post { id } } }"


class Subscription:
    """One subscription of ``viewer`` to ``query`` on the in-process app's services; ``fast``
    takes the home feed's fast lane (``schema.fastlane``), which serves real clients too."""

    def __init__(
        self,
        gql: GraphQLClient,
        viewer: User,
        query: str,
        *,
        fast: bool = False,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.context = Context(services=gql.services, viewer=viewer)
        self.query, self.variables = query, variables or {}
        self.fast = fast
        self.stream: AsyncIterator[Any]

    async def start(self) -> None:
        if self.fast:
            operation = fastlane.prepare(
                {"query": self.query, "variables": self.variables}, self.context
            )
            assert operation is not None, "the document does not take the fast lane"
            self.stream = fastlane.payloads(operation, self.context)
        else:
            stream = await schema.subscribe(
                self.query, context_value=self.context, variable_values=self.variables
            )
            assert not isinstance(stream, ExecutionResult), stream
            self.stream = stream
        # the generator subscribes on its first step: start it, then let it reach the broker
        self.pending = asyncio.ensure_future(anext(self.stream))
        await asyncio.sleep(0.2)

    async def next_data(self, wait: float = 5) -> dict[str, Any]:
        """The ``data`` of the next event (``TimeoutError`` when none comes in time)."""
        result = await asyncio.wait_for(asyncio.shield(self.pending), timeout=wait)
        self.pending = asyncio.ensure_future(anext(self.stream))
        if isinstance(result, str):
            body = json.loads(result)
            assert "errors" not in body, body
            data = body["data"]
        else:
            assert not result.errors, result.errors
            data = result.data
        assert isinstance(data, dict), result
        return data

    async def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """The data of every event that comes until none has come for ``quiet`` seconds."""
        events = []
        while True:
            try:
                events.append(await self.next_data(wait=quiet))
            except TimeoutError:
                return events

    async def close(self) -> None:
        self.pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pending
        await self.stream.aclose()  # type: ignore[attr-defined]


class Feed(Subscription):
    """The live home feed of ``viewer``, as (kind, post or tombstone id) pairs."""

    def __init__(self, gql: GraphQLClient, viewer: User, *, fast: bool) -> None:
        super().__init__(gql, viewer, HOME_FEED, fast=fast)

    async def next(self) -> tuple[str, str]:
        """(kind, the id of the post or of its tombstone) of the next event."""
        event = (await self.next_data())["homeFeed"]
        return event["kind"], event["deletedPostId"] or event["post"]["id"]
