"""What one document asks of the server, measured without expanding its fragments.

A fragment that spreads another twice, twenty levels deep, is 850 bytes of text and 2^20 copies of
its innermost fields once expanded. Anything that walks such a document by inlining every spread
(as a naive depth limiter, a cost estimate or a field collector does) spends seconds on it, before
execution and outside any time limit. Here each fragment is measured once, on its own type, and
its measure is reused at each spread: depth is the deepest of its uses, aliases and cost add up per
use (a fragment spread twice counts twice), so a document is measured in one pass over its text.

Cost counts the fields the server may resolve: each field is 1, and a field that returns a list
multiplies the cost of what is selected below it by the most items the list can hold: the page
size of a connection (``first``, from the literal or the variable (the request's value, else the
operation's default for it, else the largest page), else the argument's default, capped at the
largest page), the product caps for lists without arguments (the artworks of a post,
the images of an artwork). ``edges`` and ``nodes`` of a connection are the page already counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)

from resolvers.media import IMAGES_MAX, MEDIA_VARIANTS
from resolvers.pagination import DEFAULT_PAGE, MAX_PAGE
from resolvers.posts import ATTACHMENTS_MAX

COST_CODE = "QUERY_TOO_COSTLY"
DEPTH_CODE = "QUERY_TOO_DEEP"
ALIASES_CODE = "TOO_MANY_ALIASES"
COMPLEX_CODE = "QUERY_TOO_COMPLEX"

# The most items a list field without a page argument can hold, by (type, field); a list not
# named here counts as LIST_DEFAULT items.
LIST_SIZES: Mapping[tuple[str, str], int] = {
    ("Post", "artworks"): ATTACHMENTS_MAX,
    ("Post", "images"): IMAGES_MAX,
    ("Artwork", "images"): IMAGES_MAX,
    ("MediaAsset", "variants"): MEDIA_VARIANTS,
    ("ProtectionReport", "derivatives"): MEDIA_VARIANTS,
}
LIST_DEFAULT = 10
PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True, slots=True)
class Measure:
    """Depth (object fields nested), aliases and cost of a selection, per use."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth), self.aliases + other.aliases, self.cost + other.cost
        )


class _Measurer:
    """Measures the selections of one document; each fragment once, on its type condition."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        self.measuring: set[str] = set()  # a cycle is another rule's error; it counts 0 here
        self.defaults: dict[str, Any] = {}  # the operation's variable defaults

    def operation(self, operation: OperationDefinitionNode) -> Measure:
        # A variable the request leaves out takes the operation's default, as execution does;
        # fragments may read those, so each operation measures its fragments afresh.
        self.defaults = {
            definition.variable.name.value: (
                int(definition.default_value.value)
                if isinstance(definition.default_value, IntValueNode)
                else None
            )
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None
        }
        self.measured = {}
        root = self.schema.get_root_type(operation.operation)
        return self.selection_set(operation.selection_set, root)

    def selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None
    ) -> Measure:
        total = Measure()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> Measure:
        known = self.measured.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.measuring:
            return Measure()
        self.measuring.add(name)
        target = self.schema.get_type(definition.type_condition.name.value)
        measure = self.selection_set(definition.selection_set, target)
        self.measuring.discard(name)
        self.measured[name] = measure
        return measure

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> Measure:
        aliases = 1 if node.alias is not None else 0
        name = node.name.value
        if node.selection_set is None or name.startswith("__"):
            return Measure(0, aliases, 1)
        definition = _field(parent, name)
        below = self.selection_set(
            node.selection_set,
            get_named_type(definition.type) if definition is not None else None,
        )
        items = self.items(node, parent, definition) if definition is not None else 1
        return Measure(1 + below.depth, aliases + below.aliases, 1 + items * below.cost)

    def items(self, node: FieldNode, parent: GraphQLNamedType | None, field: GraphQLField) -> int:
        """How many objects the field may return at most."""
        for argument in PAGE_ARGUMENTS:
            if argument in field.args:
                return self.page_size(node, argument, field)
        if not _is_list(field.type) or parent is None or parent.name.endswith("Connection"):
            return 1
        return LIST_SIZES.get((parent.name, node.name.value), LIST_DEFAULT)

    def page_size(self, node: FieldNode, argument: str, field: GraphQLField) -> int:
        value: Any = None
        given = next((a for a in node.arguments or () if a.name.value == argument), None)
        if given is None:
            default = field.args[argument].default_value
            value = default if isinstance(default, int) else DEFAULT_PAGE
        elif isinstance(given.value, IntValueNode):
            value = int(given.value.value)
        elif isinstance(given.value, VariableNode):
            # left out: the operation's default; unknown before the request's variables are
            # (a registered document) and without a default: the largest
            name = given.value.name.value
            variables = self.variables or {}
            value = variables[name] if name in variables else self.defaults.get(name, MAX_PAGE)
            if value is None:
                value = DEFAULT_PAGE
        if not isinstance(value, int) or isinstance(value, bool):
            return MAX_PAGE  # does not coerce: execution refuses it
        # out of range is refused by the resolver with BAD_USER_INPUT; count what could run
        return max(0, min(value, MAX_PAGE))


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        field: GraphQLField | None = parent.fields.get(name)
        return field
    return None


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def measure_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None = None,
) -> Measure:
    """The depth, aliases and cost of ``operation`` (variables unknown: page sizes at most)."""
    return _Measurer(schema, document, variables).operation(operation)


def operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def operation_label(operation: OperationDefinitionNode) -> str:
    return operation.name.value if operation.name else "anonymous"


# Costs are exact integers, and a bomb's reaches 2^60 and more: past this one (the largest
# integer a JSON reader keeps exactly) the error reports this one.
COST_REPORTED_MAX = 2**53 - 1


def cost_error(cost: int, max_cost: int) -> GraphQLError:
    reported = min(cost, COST_REPORTED_MAX)
    return GraphQLError(
        f"the query may resolve up to {reported} fields. Allowed: {max_cost}",
        extensions={"code": COST_CODE, "cost": reported, "maxCost": max_cost},
    )


def document_rule(
    check: Callable[[ValidationContext, _Measurer, OperationDefinitionNode, Measure], None],
) -> type[ValidationRule]:
    """A validation rule that measures every operation of the document (variables unknown)."""

    class MeasureRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measurer = _Measurer(context.schema, context.document, None)
            for operation in operations(context.document):
                check(context, measurer, operation, measurer.operation(operation))

    return MeasureRule


def depth_rule(max_depth: int) -> type[ValidationRule]:
    """Refuses an operation whose fields nest deeper than ``max_depth`` (fragments included)."""

    def check(
        context: ValidationContext, _m: _Measurer, op: OperationDefinitionNode, measure: Measure
    ) -> None:
        if measure.depth > max_depth:
            context.report_error(
                GraphQLError(
                    f"'{operation_label(op)}' exceeds maximum operation depth of {max_depth}",
                    op,
                    extensions={"code": DEPTH_CODE},
                )
            )

    return document_rule(check)


def alias_rule(max_aliases: int) -> type[ValidationRule]:
    """Refuses a document with more than ``max_aliases`` aliases, counted per fragment use."""

    class AliasRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measurer = _Measurer(context.schema, context.document, None)
            total = sum(measurer.operation(op).aliases for op in operations(context.document))
            if total > max_aliases:
                context.report_error(
                    GraphQLError(
                        f"{total} aliases found. Allowed: {max_aliases}",
                        extensions={"code": ALIASES_CODE},
                    )
                )

    return AliasRule
