"""The compiled path: a request answered from a compiled plan (``schema.compiled``), under the
rules the regular path applies.

``CompiledPath.answer`` is the one entry point (the HTTP view calls it once per POST). It finds
the plan of the request's document, by its text or by the ``persistedQuery`` hash alone, and runs
it with the functions the regular path uses, not copies of them: the persisted-query rules and
APQ (``schema.persisted.resolve`` and ``remember_after``), the replica choice
(``schema.routing.query_reads``), the operation time limit (``schema.production``), the cost
limit with the request's page size (``schema.budget``, as the plan measured its document) and
the operation's metrics (``schema.timing``). It answers None when the regular path must answer: a
document not compiled yet (the view then calls ``learn`` with the regular path's result), a
document no plan covers, a request the regular path would refuse, or a plan that raised.

Each of those falls back for a reason counted by the observer (``compiled_fallback``). An
exception inside a plan is a bug: with ``strict`` (``GESSO_COMPILED_QUERIES_STRICT``, on in the
test environment) it propagates; otherwise it is logged and the regular path answers.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from strawberry.types import ExecutionResult

from resolvers.context import Context
from resolvers.services import Services
from schema import (
    plan_user,  # noqa: F401 (enters the plans of user(handle:) in compiled.ROOTS)
    requestbody,
)
from schema.compiled import Fallback, RootPlan, compile_plan
from schema.persisted import PersistedQueryError, remember_after, resolve
from schema.production import within_time_limit
from schema.routing import query_reads
from schema.timing import operation_done
from storage.persisted import sha256_of
from storage.replica import begin_request, end_request

log = logging.getLogger("gesso.plans")

PLANS_MAX = 256


class Unknown:
    """What ``Plans.get`` returns for a document not compiled yet."""


UNKNOWN = Unknown()


class Plans:
    """Compiled plans by (SHA-256 of the document's text, operation name), bounded; None marks a
    document that compiles to no plan, so it is not compiled again."""

    def __init__(self, size: int = PLANS_MAX) -> None:
        self.size = size
        self.served = 0  # responses built by a plan
        self._plans: OrderedDict[tuple[str, str | None], RootPlan | None] = OrderedDict()

    def get(self, sha256: str, operation_name: str | None) -> RootPlan | Unknown | None:
        """The plan, None (no plan possible), or ``UNKNOWN`` (not compiled yet)."""
        return self._plans.get((sha256, operation_name), UNKNOWN)

    def learn(self, query: str, operation_name: str | None) -> RootPlan | None:
        """Compile a document the regular path has just executed without an error."""
        plan = compile_plan(query, operation_name)
        self._plans[(sha256_of(query), operation_name)] = plan
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan

    def __len__(self) -> int:
        return len(self._plans)


@dataclass(frozen=True, slots=True)
class _Request:
    """A plain JSON query request: its text (None when sent by hash alone) and the hash."""

    query: str | None
    sha256: str
    operation_name: str | None
    variables: dict[str, Any]
    extensions: dict[str, Any]


CANDIDATE = "plan_candidate"  # request.state: a document to compile once the regular path ran


class CompiledPath:
    """The plans of one app and the requests they answer."""

    def __init__(
        self,
        services: Services,
        *,
        operation_timeout: float | None,
        strict: bool,
        max_cost: int | None = None,
    ) -> None:
        self.services = services
        self.operation_timeout = operation_timeout
        self.max_cost = max_cost  # the production cost limit (None in development)
        self.strict = strict
        self.plans = Plans()

    async def answer(self, request: Request) -> ExecutionResult | None:
        """The result of this request from its plan, or None: the regular path answers."""
        parsed = await _parse(request)
        if parsed is None:
            return None
        plan = self.plans.get(parsed.sha256, parsed.operation_name)
        if isinstance(plan, Unknown):
            setattr(request.state, CANDIDATE, parsed)
            return None
        observer = self.services.observer
        if plan is None:
            observer.compiled_fallback("not_covered")
            return None
        context = Context(
            services=self.services,
            viewer=request.state.viewer,
            token_hash=request.state.token_hash,
            request=request,
        )
        query, remember = parsed.query, None
        persisted = self.services.persisted
        if persisted is not None:
            try:
                query, remember = await resolve(persisted, query, parsed.extensions)
            except PersistedQueryError:
                return None  # refused: the regular path says why, in one place
        result = await self._run(plan, parsed.variables, context)
        if result is None:
            return None
        if persisted is not None:
            await remember_after(persisted, remember, query, context, result)
        self.plans.served += 1
        return result

    async def _run(
        self, plan: RootPlan, variables: dict[str, Any], context: Context
    ) -> ExecutionResult | None:
        services, observer = self.services, self.services.observer
        if services.recent_writes is not None:
            await begin_request(services.recent_writes, context.viewer_id)
        try:
            observer.operation_started(plan.operation_name)
            started = time.perf_counter()
            try:
                result = await within_time_limit(
                    self.operation_timeout,
                    _execute(plan, context.viewer_id, variables, services, self.max_cost),
                )
            except Fallback as fallback:
                observer.compiled_fallback(fallback.reason)
                return None
            except Exception:
                observer.compiled_fallback("error")
                if self.strict:
                    raise
                log.warning("a compiled plan failed; the regular path answers", exc_info=True)
                return None
            operation_done(
                observer, plan.operation_name, "query", time.perf_counter() - started, result
            )
        finally:
            if services.recent_writes is not None:
                await end_request(services.recent_writes)
        return result

    async def learn(self, request: Request, result: ExecutionResult) -> None:
        """After the regular path answered: compile the request's document if it ran cleanly
        (it parsed, validated and passed the limits and the persisted-query rules)."""
        candidate: _Request | None = getattr(request.state, CANDIDATE, None)
        if candidate is None or result.errors:
            return
        setattr(request.state, CANDIDATE, None)
        query = candidate.query
        if query is None and self.services.persisted is not None:
            # sent by its hash alone: the text the regular path found for it
            query = await self.services.persisted.lookup(candidate.sha256)
        if query is not None and sha256_of(query) == candidate.sha256:
            self.plans.learn(query, candidate.operation_name)


async def _execute(
    plan: RootPlan,
    viewer_id: int | None,
    variables: dict[str, Any],
    services: Services,
    max_cost: int | None,
) -> ExecutionResult:
    with query_reads(plan.replica):
        data = await plan.execute(viewer_id, variables, services.media_url, max_cost)
    return ExecutionResult(data=data, errors=None)


async def _parse(request: Request) -> _Request | None:
    """The request as a query a plan might answer: a plain JSON POST with a text, or a
    ``persistedQuery`` hash, and no other extension. None for anything else."""
    headers = request.headers
    accept = headers.get("accept", "")
    if (
        requestbody.media_type(headers.get("content-type")) != requestbody.JSON
        or "multipart/mixed" in accept
        or "text/event-stream" in accept
    ):
        return None
    try:
        data = requestbody.decode(await request.body())
    except requestbody.InvalidJSON:
        return None  # the regular path reports it
    if type(data) is not dict:
        return None
    query, name, variables = data.get("query"), data.get("operationName"), data.get("variables")
    extensions = data.get("extensions")
    if (name is not None and type(name) is not str) or (
        variables is not None and type(variables) is not dict
    ):
        return None
    if extensions is None:
        extensions = {}
    elif type(extensions) is not dict or set(extensions) != {"persistedQuery"}:
        return None
    if type(query) is str:
        return _Request(query, sha256_of(query), name, variables or {}, extensions)
    persisted = extensions.get("persistedQuery")
    sha256 = persisted.get("sha256Hash") if type(persisted) is dict else None
    if query is not None or type(sha256) is not str:
        return None
    return _Request(None, sha256, name, variables or {}, extensions)
