"""Which compiler a document goes to, by its root field: the one entry point of the plans.

``schema.plans`` compiles every document here. A feed page (``homeFeed``, ``discoverFeed``,
``tagFeed``) is compiled by ``schema.compiled``, one post or artwork by id by
``schema.plan_detail``, which builds on it; anything else keeps the regular path (None).
"""

from __future__ import annotations

from graphql import GraphQLSyntaxError, parse

from schema import plan_detail
from schema.compiled import CompiledPlan, Unsupported, compile_feed, root_selection


def compile_plan(query: str, operation_name: str | None) -> CompiledPlan | None:
    """The plan for this document and operation, or None when a plan cannot cover it."""
    try:
        document = parse(query, no_location=True)
        selection = root_selection(document, operation_name)
        if selection.root_field() in plan_detail.ROOTS:
            return plan_detail.compile_detail(
                document, selection.operation, selection.fragments, selection.roots
            )
        return compile_feed(document, selection, operation_name)
    except (Unsupported, GraphQLSyntaxError):
        return None
