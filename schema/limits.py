"""Limits on what one GraphQL document may ask for, and the production extension list.

A public endpoint receives hostile documents from the first day: alias and depth bombs, thousands
of directives, introspection harvesting. Production runs each document through Strawberry's
``QueryDepthLimiter``, ``MaxAliasesLimiter`` and ``MaxTokensLimiter``, a cap on directives and a
ban on schema introspection, and validates without "Did you mean ...?" suggestions.

The rule classes are built once per process: the validation cache is keyed by the rule classes, so
a limiter that built a new class per request (as ``QueryDepthLimiter(...)`` does when passed as a
factory) would never hit the cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
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
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    max_aliases,
    query_depth_limiter,
)
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule


@dataclass(frozen=True, slots=True)
class Limits:
    """What one document may contain. Each bound is inclusive: ``max_depth=10`` allows 10."""

    max_depth: int = 10
    max_aliases: int = 100
    max_tokens: int = 2000
    max_directives: int = 20


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
    """The validation rules that enforce ``limits`` (one set of classes per ``limits``)."""
    return (
        query_depth_limiter.create_validator(limits.max_depth, None, None),
        max_aliases.create_validator(limits.max_aliases),
        directive_cap(limits.max_directives),
        NoSchemaIntrospectionCustomRule,
    )


class DepthLimit(QueryDepthLimiter):
    """``QueryDepthLimiter`` with its rule class shared by every request."""

    def __init__(self, limits: Limits) -> None:
        AddValidationRules.__init__(self, [limit_rules(limits)[0]])


class AliasLimit(MaxAliasesLimiter):
    """``MaxAliasesLimiter`` with its rule class shared by every request."""

    def __init__(self, limits: Limits) -> None:
        AddValidationRules.__init__(self, [limit_rules(limits)[1]])


def validate_quietly(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    """Validate as Strawberry does, but without "Did you mean ...?" suggestions, which would
    hand the schema out piece by piece to a client that guesses field names."""
    return validate(
        schema,
        document,
        (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
        hide_suggestions=True,
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
        lambda: DepthLimit(limits),
        lambda: AliasLimit(limits),
        lambda: AddValidationRules(list(rules[2:])),  # directives, introspection
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=cache_size),
        lambda: QuietValidationCache(maxsize=cache_size),
    ]


def check_document(
    schema: GraphQLSchema, document: DocumentNode, limits: Limits
) -> list[GraphQLError]:
    """Every production rule at once, for a path that validates by itself (``schema.fastlane``)."""
    return validate_quietly(schema, document, (*_standard_rules(), *limit_rules(limits)))


@functools.cache
def _standard_rules() -> tuple[type[ASTValidationRule], ...]:
    from graphql import specified_rules

    return tuple(specified_rules)
