"""Answering a GraphQL document with graphql-core, as the manager's ``/admin/gql`` does.

The steps are the manager's: the document is parsed (a document that is not GraphQL makes
the manager fail with 500, so `graphql.GraphQLSyntaxError` propagates); introspection
is refused on its own first (``Cannot query '__schema': introspection is disabled.``); then
graphql-core validates the document against `_gql_schema` with its standard rules and
executes it over `_gql_resolvers`. Validation and execution messages are graphql-core's,
as the manager's are. Two things are the emulator's own: a field the manager has and the
emulator does not answer is refused with ``The emulator does not implement the GraphQL field
'Queries.x'.`` (suggestions for a misspelt field still consider the manager's whole type), and
a document past the emulator's bounds (more than 1000 fields, counting a fragment's fields at
each spread, or nested more than 50 levels: selections, fragment spreads, list and object
values, list types) is refused before anything else is checked, with the single error ``The
query is too complex: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from graphql import (
    ASTValidationRule,
    ExecutionResult,
    FieldNode,
    FieldsOnCorrectTypeRule,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSyntaxError,
    InlineFragmentNode,
    ListTypeNode,
    ListValueNode,
    Node,
    NonNullTypeNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeNode,
    ValidationRule,
    ValueNode,
    execute_sync,
    parse,
    specified_rules,
    validate,
)
from graphql.pyutils import did_you_mean, suggestion_list

from ._gql_objects import GraphQLContext
from ._gql_resolvers import ROOT_RESOLVERS
from ._gql_schema import UNIMPLEMENTED, emulator_schema
from ._gql_serving import SERVING_RESOLVERS

__all__ = [
    "MAX_DEPTH",
    "MAX_FIELDS",
    "TOO_COMPLEX",
    "GraphQLContext",
    "GraphQLSyntaxError",
    "execute_graphql",
]

#: The most fields a document may select, counting a fragment's fields at each spread.
MAX_FIELDS: Final = 1000
#: The deepest a document may nest selections, fragment spreads, values and types.
MAX_DEPTH: Final = 50
TOO_COMPLEX: Final = (
    f"The query is too complex: the emulator answers at most {MAX_FIELDS} fields "
    f"(fragments expanded) nested at most {MAX_DEPTH} levels deep."
)
# Far more tokens than any document within the bounds needs; parsing stops there.
_MAX_TOKENS: Final = 100_000


class _TooComplex(Exception):
    """The document nests too deeply, or selects too many fields once fragments expand."""


# -- bounds --------------------------------------------------------------------------------------


class _Measure:
    """Count a document's fields and nesting, each fragment measured once (then reused)."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._sizes: dict[str, tuple[int, int]] = {}

    def selections(self, node: SelectionSetNode | None, level: int) -> tuple[int, int]:
        """(fields, depth) of a selection set found *level* levels deep."""
        if node is None:
            return 0, 0
        if level > MAX_DEPTH:
            raise _TooComplex
        count = depth = 0
        for selection in node.selections:
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    self.value(argument.value, level + 1)
            if isinstance(selection, FieldNode):
                values = max(
                    (self.value(arg.value, level + 1) for arg in selection.arguments or ()),
                    default=0,
                )
                inner_count, inner_depth = self.selections(selection.selection_set, level + 1)
                inner_depth = max(inner_depth, values)
                count += 1 + inner_count
            elif isinstance(selection, InlineFragmentNode):
                inner_count, inner_depth = self.selections(selection.selection_set, level + 1)
                count += inner_count
            elif isinstance(selection, FragmentSpreadNode):
                inner_count, inner_depth = self._fragment(selection.name.value, level + 1)
                count += inner_count
            else:  # pragma: no cover - no other selections exist
                continue
            depth = max(depth, 1 + inner_depth)
            if count > MAX_FIELDS or level + depth > MAX_DEPTH:
                raise _TooComplex
        return count, depth

    def _fragment(self, name: str, level: int) -> tuple[int, int]:
        fragment = self._fragments.get(name)
        if fragment is None:
            return 0, 0  # validation reports it
        if name not in self._sizes:
            # A cycle counts nothing more (validation reports it).
            self._sizes[name] = (0, 0)
            self._sizes[name] = self.selections(fragment.selection_set, level)
        return self._sizes[name]

    def value(self, node: ValueNode, level: int) -> int:
        """How deep a value nests (a list or an object adds a level)."""
        if level > MAX_DEPTH:
            raise _TooComplex
        if isinstance(node, ListValueNode):
            return 1 + max((self.value(item, level + 1) for item in node.values), default=0)
        if isinstance(node, ObjectValueNode):
            return 1 + max((self.value(f.value, level + 1) for f in node.fields), default=0)
        return 0


def _type_depth(node: TypeNode) -> int:
    depth = 0
    while isinstance(node, ListTypeNode | NonNullTypeNode):
        depth += isinstance(node, ListTypeNode)
        node = node.type
    return depth


def _check_bounds(definitions: tuple[Node, ...]) -> None:
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    measure = _Measure(fragments)
    total = 0
    for definition in definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for variable in definition.variable_definitions or ():
            if _type_depth(variable.type) > MAX_DEPTH:
                raise _TooComplex
            if variable.default_value is not None:
                measure.value(variable.default_value, 1)
        total += measure.selections(definition.selection_set, 0)[0]
        if total > MAX_FIELDS:
            raise _TooComplex
    for fragment in fragments.values():
        # Fragments no operation spreads are measured too (validation refuses them later).
        measure.selections(fragment.selection_set, 1)


# -- validation ------------------------------------------------------------------------------------


class _NoIntrospection(ValidationRule):
    """The manager's rule: no ``__schema``, ``__type`` (and on 23.09 no ``__typename``)."""

    #: The meta fields the release refuses.
    refused: frozenset[str] = frozenset({"__schema", "__type", "__typename"})

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        name = node.name.value
        if name in self.refused:
            self.report_error(
                GraphQLError(f"Cannot query '{name}': introspection is disabled.", node)
            )


class _NoSchemaIntrospection(_NoIntrospection):
    """26.9's rule: ``__typename`` is answered (``Query``, ``User``, ...)."""

    refused = frozenset({"__schema", "__type"})


def _not_implemented(type_name: str, field_name: str, node: Node) -> GraphQLError:
    return GraphQLError(
        f"The emulator does not implement the GraphQL field '{type_name}.{field_name}'.", node
    )


def _unknown_field(type_name: str, field_name: str, known: list[str], node: Node) -> GraphQLError:
    suggestion = did_you_mean(suggestion_list(field_name, known))
    return GraphQLError(
        f"Cannot query field '{field_name}' on type '{type_name}'.{suggestion}", node
    )


def _unimplemented(type_name: str) -> frozenset[str]:
    # `UNIMPLEMENTED` names the root types as 23.09 does; 26.9 calls them Query and Mutation.
    canonical = {"Query": "Queries", "Mutation": "Mutations"}.get(type_name, type_name)
    return UNIMPLEMENTED.get(canonical, frozenset())


class _KnownFields(FieldsOnCorrectTypeRule):
    """graphql-core's rule, told about the manager's fields the emulator does not answer."""

    def enter_field(self, node: FieldNode, *args: Any) -> None:
        parent = self.context.get_parent_type()
        if not isinstance(parent, GraphQLObjectType) or self.context.get_field_def() is not None:
            super().enter_field(node, *args)
            return
        name = node.name.value
        missing = _unimplemented(parent.name)
        if name in missing:
            self.report_error(_not_implemented(parent.name, name, node))
        else:
            self.report_error(_unknown_field(parent.name, name, [*parent.fields, *missing], node))


class _KnownMutations(ValidationRule):
    """Mutations: the manager has them, the emulator's schema has no mutation type."""

    #: The release's name for the mutation type.
    type_name = "Mutations"

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if node.operation != OperationType.MUTATION:
            return
        names = UNIMPLEMENTED["Mutations"]
        known = sorted(names)
        for selection in node.selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.name.value.startswith("__"):
                continue
            name = selection.name.value
            if name in names:
                self.report_error(_not_implemented(self.type_name, name, selection))
            else:
                self.report_error(_unknown_field(self.type_name, name, known, selection))


class _KnownMutation(_KnownMutations):
    type_name = "Mutation"


_RULES: Final[tuple[type[ASTValidationRule], ...]] = tuple(
    _KnownFields if rule is FieldsOnCorrectTypeRule else rule for rule in specified_rules
)
# Each release's introspection rule, and its further rules.
_RELEASE_RULES: Final[
    Mapping[str, tuple[type[ASTValidationRule], tuple[type[ASTValidationRule], ...]]]
] = {
    "23.09": (_NoIntrospection, (*_RULES, _KnownMutations)),
    "26.9": (_NoSchemaIntrospection, (*_RULES, _KnownMutation)),
}


# -- the answer ------------------------------------------------------------------------------------


def _answer(result: ExecutionResult) -> dict[str, Any]:
    return dict(result.formatted)


def execute_graphql(
    query: str,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    context: GraphQLContext,
) -> dict[str, Any]:
    """Answer *query* for *context*'s caller: ``{"data"}``, with ``"errors"`` if any.

    Raises `graphql.GraphQLSyntaxError` when the document is not GraphQL.
    """
    too_complex = {"data": None, "errors": [{"message": TOO_COMPLEX}]}
    try:
        document = parse(query, max_tokens=_MAX_TOKENS)
        _check_bounds(document.definitions)
    except (_TooComplex, RecursionError):
        return too_complex
    except GraphQLSyntaxError as exc:
        # graphql-core's own limits (tokens, nesting) end parsing with this sentence.
        if exc.message.endswith("Parsing aborted."):
            return too_complex
        raise
    schema = emulator_schema(context.release)
    introspection, rules = _RELEASE_RULES.get(context.release, _RELEASE_RULES["26.9"])
    errors = validate(schema, document, (introspection,))
    if not errors:
        errors = validate(schema, document, rules)
    if errors:
        return _answer(ExecutionResult(None, errors))
    result = execute_sync(
        schema,
        document,
        root_value={**ROOT_RESOLVERS, **SERVING_RESOLVERS},
        context_value=context,
        variable_values=None if variables is None else dict(variables),
        operation_name=operation_name,
    )
    return _answer(result)
