"""Which compiler a document goes to, by its root field: the one entry point of the plans.

``schema.plans`` compiles every document here. A feed page (``homeFeed``, ``discoverFeed``,
``tagFeed``, ``search``) is compiled by ``schema.compiled``, one post or artwork by id by
``schema.plan_detail`` and a person with one of their connections by ``schema.plan_user``, which
build on it; anything else keeps the regular path (None).
"""

from __future__ import annotations

from graphql import GraphQLSyntaxError, parse

from schema import plan_detail, plan_user
from schema.compiled import CompiledPlan, Unsupported, _variables, compile_feed, root_selection


def compile_plan(query: str, operation_name: str | None) -> CompiledPlan | None:
    """The plan for this document and operation, or None when a plan cannot cover it."""
    try:
        document = parse(query, no_location=True)
        selection = root_selection(document, operation_name)
        root = selection.root_field()
        if root in plan_detail.ROOTS:
            return plan_detail.compile_detail(
                document, selection.operation, selection.fragments, selection.roots
            )
        if root == "user":
            return plan_user.compile_user(
                document,
                selection.operation,
                selection.fragments,
                _variables(selection.operation),
                selection.roots,
            )
        return compile_feed(document, selection, operation_name)
    except (Unsupported, GraphQLSyntaxError):
        return None
