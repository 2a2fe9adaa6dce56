"""Limits on what one GraphQL document may ask for, and the production extension list.

A public endpoint receives hostile documents from the first day: alias, depth and fragment bombs,
thousands of directives, introspection harvesting. Production refuses, before execution, a
document nested too deep, with too many aliases, tokens or directives, or whose operation may
resolve too many fields (its cost), bans schema introspection, and validates without "Did you mean
...?" suggestions. Depth, aliases and cost are measured by ``schema.budget`` without expanding
fragments, so the check itself costs one pass over the text whatever the document.

The rule classes are built once per process: the validation cache is keyed by the rule classes, so
a rule class built per request would never hit the cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DirectiveNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    ValidationContext,
    ValidationRule,
    validate,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from schema.budget import (
    COMPLEX_CODE,
    alias_rule,
    cost_error,
    depth_rule,
    measure_operation,
    operations,
)
from schema.parsing import DocumentCache


@dataclass(frozen=True, slots=True)
class Limits:
    """What one document may contain. Each bound is inclusive: ``max_depth=10`` allows 10."""

    max_depth: int = 10
    max_aliases: int = 100
    max_tokens: int = 2000
    max_directives: int = 20
    max_cost: int = 15_000


PRODUCTION_LIMITS = Limits()


def directive_cap(max_directives: int) -> type[ValidationRule]:
    """A rule that refuses a document carrying more than ``max_directives`` directives."""

    class MaxDirectivesRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
            self.count += 1

        def leave_document(self, node: DocumentNode, *_args: Any) -> None:
            if self.count > max_directives:
                self.report_error(
                    GraphQLError(
                        f"{self.count} directives found. Allowed: {max_directives}",
                        extensions={"code": "TOO_MANY_DIRECTIVES"},
                    )
                )

    return MaxDirectivesRule


@functools.cache
def limit_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The validation rules that enforce ``limits`` (one set of classes per ``limits``): all but
    the cost, which depends on the request's variables (``CostLimit``)."""
    return (
        depth_rule(limits.max_depth),
        alias_rule(limits.max_aliases),
        directive_cap(limits.max_directives),
        NoSchemaIntrospectionCustomRule,
    )


class CostLimit(SchemaExtension):
    """Refuses, before execution, an operation that may resolve more than ``limits.max_cost``
    fields with the request's page sizes (``schema.budget``). Runs after validation, on a valid
    document only."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not context.pre_execution_errors:
            selected = [
                op
                for op in operations(document)
                if context.operation_name is None
                or (op.name is not None and op.name.value == context.operation_name)
            ]
            cost = max(
                (
                    measure_operation(context.schema._schema, document, op, context.variables)
                    for op in selected
                ),
                key=lambda measure: measure.cost,
                default=None,
            )
            if cost is not None and cost.cost > self.limits.max_cost:
                context.pre_execution_errors = [cost_error(cost.cost, self.limits.max_cost)]
        yield


def validate_quietly(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    """Validate as Strawberry does, but without "Did you mean ...?" suggestions, which would
    hand the schema out piece by piece to a client that guesses field names."""
    errors = validate(
        schema,
        document,
        (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
        hide_suggestions=True,
    )
    return [too_complex_error() if isinstance(e, ValidationAbortedError) else e for e in errors]


def too_complex_error() -> GraphQLError:
    """graphql-core stops validating a document whose overlapping fields take too many
    comparisons (thousands of copies of one field): say so with a code."""
    return GraphQLError(
        "the document repeats fields too often to be validated",
        extensions={"code": COMPLEX_CODE},
    )


@functools.cache
def _cached_validate(maxsize: int) -> Callable[..., list[GraphQLError]]:
    return functools.lru_cache(maxsize=maxsize)(validate_quietly)


class QuietValidationCache(SchemaExtension):
    """Validation with a bounded cache shared by all requests, and without suggestions."""

    def __init__(self, maxsize: int) -> None:
        self.validate = _cached_validate(maxsize)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        context.pre_execution_errors = self.validate(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        yield


def production_extensions(limits: Limits, cache_size: int) -> list[Callable[[], SchemaExtension]]:
    """Factories (never shared instances) of the extensions production adds to the schema."""
    rules = limit_rules(limits)
    return [
        lambda: AddValidationRules(list(rules)),  # depth, aliases, directives, introspection
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: DocumentCache(maxsize=cache_size),
        lambda: QuietValidationCache(maxsize=cache_size),
        lambda: CostLimit(limits),  # after validation: it measures a valid document
    ]


def check_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    limits: Limits,
    variables: Mapping[str, Any] | None = None,
) -> list[GraphQLError]:
    """Every production rule at once, cost included, for a path that validates by itself
    (``schema.fastlane``, ``gesso persisted register``). Without ``variables``, a page size given
    by a variable counts as the operation's default for it, else as the largest page."""
    errors = validate_quietly(schema, document, (*_standard_rules(), *limit_rules(limits)))
    if errors:
        return errors
    cost = max(
        (measure_operation(schema, document, op, variables).cost for op in operations(document)),
        default=0,
    )
    return [cost_error(cost, limits.max_cost)] if cost > limits.max_cost else []


@functools.cache
def _standard_rules() -> tuple[type[ASTValidationRule], ...]:
    from graphql import specified_rules

    return tuple(specified_rules)
