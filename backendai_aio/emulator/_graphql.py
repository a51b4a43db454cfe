"""``POST /admin/gql``: a small, documented subset of the manager's GraphQL API.

The emulator cannot run the manager's GraphQL schema; it parses the whole GraphQL query
language and answers these read-only root fields of type ``Queries`` (the arguments are the
manager's):

- ``keypair(access_key, domain_name)``: the caller's keypair, or another one for a superadmin
  (null when there is no such keypair); ``keypairs(domain_name, email, is_active)``: every
  keypair for a superadmin, the caller's own otherwise;
- ``user(email, domain_name)``: the caller, or another user for a superadmin;
- ``images(is_installed, is_operation)`` and ``image(reference!, architecture)``: the
  manager's image rows (``cr.backend.ai/stable/python:3.9-ubuntu20.04``, alias ``python``);
- ``agents(scaling_group, status)``: none (the emulator runs sessions itself), for superadmins
  only; ``groups(domain_name, is_active)``: the ``default`` project.

with the scalar fields of their types (``KeyPair``, ``User``, ``Image``, ``Agent``, ``Group``)
and the small object lists ``User.groups``, ``Image.labels`` and ``Image.resource_limits``.
Aliases, fragments (named and inline), variables with defaults, ``@include`` and ``@skip``
work as in GraphQL.

Everything else is answered as the manager answers GraphQL errors: HTTP 200 with ``{"data":
null, "errors": [{"message", "locations": [{"line", "column"}]}]}``. The manager's own
validation messages are reproduced for the common mistakes (``Cannot query field 'x' on type
'Queries'. Did you mean 'y'?``, unknown or missing arguments, leaf and object selections,
literals of the wrong type, introspection, which the manager disables, several operations
without ``operationName``, subscriptions); a field the manager has but the emulator does not
(any mutation, ``compute_session_list``, ...) answers an error ``"The emulator does not
implement the GraphQL field 'Queries.compute_session_list'."``. Resolver errors (``Forbidden
operation.``, an unknown image) come with ``data`` and a ``path``, as the manager's do. A
document that is not GraphQL at all makes the 23.09 manager fail with 500
``internal-server-error``; the emulator answers the same.

Variables are checked as GraphQL checks them, with its messages: undefined and unused ones; a
type the schema lacks (``Unknown type 'Foo'.``) or that is not an input type (``Variable '$k'
cannot be non-input type 'KeyPair'.``); a default of the wrong type; a variable used where its
type does not fit (``Variable '$k' of type '[String]' used in position expecting type
'String'.``, and a nullable one without a default where a non-null value goes, such as
``@include(if:)``); then the given values: a missing required one, null for a non-null one,
and a value a ``String``, ``ID`` or ``Boolean`` variable cannot hold.

The emulator bounds what a document may ask for: at most 1000 fields, counting a fragment's
fields at each of its spreads, nested at most 50 levels (selections, fragment spreads, list
and object values, list types). A document past these bounds is answered with the single
error ``The query is too complex: ...`` (and ``data`` null), before anything else is checked,
so that a short document whose fragments spread one another cannot keep the emulator busy.
Fragments are expanded as GraphQL's CollectFields does (once per selection set), and each
fragment is validated once per type it is spread on.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from aiohttp import web

from ._accounts import ACCOUNTS_KEY, DEFAULT_GROUP_ID, AccountDirectory, Keypair, User
from ._auth import current_keypair
from ._images import IMAGES, Image, canonical_reference, find_image, image_labels
from ._params import read_checked_params
from ._problems import InternalServerError
from ._sessions import REGISTRY_KEY, SessionRegistry
from ._validation import Key, mapping, null_or, string, validate

__all__ = ["add_graphql_routes", "execute_graphql"]


# -- the document: tokens and syntax tree --------------------------------------------------


class GraphQLSyntaxError(Exception):
    """The document is not GraphQL."""


class _TooComplex(Exception):
    """The document nests too deeply, or selects too many fields once fragments expand."""


#: The most fields a document may select, counting a fragment's fields at each spread.
_MAX_SELECTIONS: Final = 1000
#: The deepest a document may nest selections, fragment spreads, values and types.
_MAX_DEPTH: Final = 50
_TOO_COMPLEX: Final = (
    f"The query is too complex: the emulator answers at most {_MAX_SELECTIONS} fields "
    f"(fragments expanded) nested at most {_MAX_DEPTH} levels deep."
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "punct", "name", "int", "float", "string", "eof"
    value: str
    line: int
    column: int


_NAME_RE: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_NUMBER_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_PUNCTUATORS: Final = frozenset("!$&()[]{}:=@|")
_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    index, line, line_start, length = 0, 1, 0, len(source)
    while index < length:
        char = source[index]
        if char in " \t,\ufeff":
            index += 1
            continue
        if char in "\r\n":
            index += 2 if source.startswith("\r\n", index) else 1
            line, line_start = line + 1, index
            continue
        if char == "#":
            while index < length and source[index] not in "\r\n":
                index += 1
            continue
        column = index - line_start + 1
        if source.startswith("...", index):
            tokens.append(_Token("punct", "...", line, column))
            index += 3
        elif char in _PUNCTUATORS:
            tokens.append(_Token("punct", char, line, column))
            index += 1
        elif (name := _NAME_RE.match(source, index)) is not None:
            tokens.append(_Token("name", name.group(), line, column))
            index = name.end()
        elif (number := _NUMBER_RE.match(source, index)) is not None:
            end = number.end()
            if end < length and (source[end] == "." or _NAME_RE.match(source, end)):
                raise GraphQLSyntaxError(f"Invalid number at {line}:{column}")
            kind = "float" if number.group(1) or number.group(2) else "int"
            tokens.append(_Token(kind, number.group(), line, column))
            index = end
        elif source.startswith('"""', index):
            end = source.find('"""', index + 3)
            while end != -1 and source[end - 1] == "\\":
                end = source.find('"""', end + 3)
            if end == -1:
                raise GraphQLSyntaxError(f"Unterminated string at {line}:{column}")
            raw = source[index + 3 : end].replace('\\"""', '"""')
            tokens.append(_Token("string", raw, line, column))
            if "\n" in raw:
                line += raw.count("\n")
                line_start = source.rindex("\n", index, end) + 1
            index = end + 3
        elif char == '"':
            value, index = _read_string(source, index, line, column)
            tokens.append(_Token("string", value, line, column))
        else:
            raise GraphQLSyntaxError(f"Unexpected character {char!r} at {line}:{column}")
    tokens.append(_Token("eof", "", line, index - line_start + 1))
    return tokens


def _read_string(source: str, start: int, line: int, column: int) -> tuple[str, int]:
    chars: list[str] = []
    index = start + 1
    while index < len(source):
        char = source[index]
        if char == '"':
            return "".join(chars), index + 1
        if char in "\r\n":
            break
        if char == "\\":
            escape = source[index + 1 : index + 2]
            if escape == "u":
                digits = source[index + 2 : index + 6]
                if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                    break
                chars.append(chr(int(digits, 16)))
                index += 6
                continue
            if escape not in _ESCAPES:
                break
            chars.append(_ESCAPES[escape])
            index += 2
            continue
        chars.append(char)
        index += 1
    raise GraphQLSyntaxError(f"Invalid string at {line}:{column}")


Location: TypeAlias = tuple[int, int]


@dataclass(frozen=True)
class _Value:
    kind: str  # variable, int, float, string, boolean, null, enum, list, object
    value: Any
    loc: Location


@dataclass(frozen=True)
class _Directive:
    name: str
    args: dict[str, _Value]
    loc: Location


@dataclass(frozen=True)
class _Field:
    alias: str | None
    name: str
    args: dict[str, _Value]
    arg_locs: dict[str, Location]
    directives: list[_Directive]
    selections: list[_Selection] | None
    selections_loc: Location | None
    loc: Location

    @property
    def key(self) -> str:
        """The field's key in the answer (its alias, else its name)."""
        return self.alias or self.name


@dataclass(frozen=True)
class _Spread:
    name: str
    directives: list[_Directive]
    loc: Location
    #: Where the fragment's name is (errors about the fragment point there).
    name_loc: Location


@dataclass(frozen=True)
class _InlineFragment:
    type_condition: str | None
    directives: list[_Directive]
    selections: list[_Selection]
    loc: Location


_Selection: TypeAlias = "_Field | _Spread | _InlineFragment"


@dataclass(frozen=True)
class _VariableDefinition:
    name: str
    type: str  # GraphQL notation: "String", "String!", "[String]"
    default: _Value | None
    loc: Location
    #: Where the type is, and where its name is (``Foo`` in ``[Foo]!``).
    type_loc: Location
    named_type_loc: Location


@dataclass(frozen=True)
class _Operation:
    kind: str  # query, mutation, subscription
    name: str | None
    variables: list[_VariableDefinition]
    directives: list[_Directive]
    selections: list[_Selection]
    loc: Location


@dataclass(frozen=True)
class _Fragment:
    name: str
    type_condition: str
    directives: list[_Directive]
    selections: list[_Selection]
    loc: Location


class _Parser:
    """A recursive-descent parser of GraphQL's executable documents."""

    def __init__(self, source: str) -> None:
        self._tokens = _tokenize(source)
        self._pos = 0
        self._depth = 0

    @contextlib.contextmanager
    def _nested(self) -> Iterator[None]:
        """Count one level of nesting while the ``with`` block parses it."""
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise _TooComplex
        try:
            yield
        finally:
            self._depth -= 1

    def _peek(self, offset: int = 0) -> _Token:
        return self._tokens[min(self._pos + offset, len(self._tokens) - 1)]

    def _next(self) -> _Token:
        token = self._peek()
        self._pos += 1
        return token

    def _at(self, kind: str, value: str | None = None) -> bool:
        token = self._peek()
        return token.kind == kind and (value is None or token.value == value)

    def _expect(self, kind: str, value: str | None = None) -> _Token:
        if not self._at(kind, value):
            token = self._peek()
            wanted = value or kind
            raise GraphQLSyntaxError(
                f"Expected {wanted}, found {token.value or token.kind} at {token.line}:"
                f"{token.column}"
            )
        return self._next()

    def _skip(self, kind: str, value: str) -> bool:
        if self._at(kind, value):
            self._pos += 1
            return True
        return False

    @staticmethod
    def _loc(token: _Token) -> Location:
        return token.line, token.column

    def document(self) -> tuple[list[_Operation], list[_Fragment]]:
        operations: list[_Operation] = []
        fragments: list[_Fragment] = []
        while not self._at("eof"):
            token = self._peek()
            if token.kind == "punct" and token.value == "{":
                operations.append(
                    _Operation("query", None, [], [], self._selection_set(), self._loc(token))
                )
            elif token.kind == "name" and token.value in ("query", "mutation", "subscription"):
                operations.append(self._operation())
            elif token.kind == "name" and token.value == "fragment":
                fragments.append(self._fragment())
            else:
                raise GraphQLSyntaxError(f"Unexpected {token.value!r} at {token.line}")
        if not operations and not fragments:
            raise GraphQLSyntaxError("Empty document")
        return operations, fragments

    def _operation(self) -> _Operation:
        start = self._next()
        name = self._next().value if self._at("name") else None
        variables: list[_VariableDefinition] = []
        if self._skip("punct", "("):
            while not self._skip("punct", ")"):
                dollar = self._expect("punct", "$")
                var_name = self._expect("name").value
                self._expect("punct", ":")
                type_loc = self._loc(self._peek())
                var_type, named_type_loc = self._type()
                default = self._value(const=True) if self._skip("punct", "=") else None
                self._directives()
                variables.append(
                    _VariableDefinition(
                        var_name, var_type, default, self._loc(dollar), type_loc, named_type_loc
                    )
                )
        directives = self._directives()
        return _Operation(
            start.value, name, variables, directives, self._selection_set(), self._loc(start)
        )

    def _fragment(self) -> _Fragment:
        start = self._next()
        name = self._expect("name")
        if name.value == "on":
            raise GraphQLSyntaxError("A fragment cannot be named 'on'")
        self._expect("name", "on")
        type_condition = self._expect("name").value
        directives = self._directives()
        return _Fragment(
            name.value, type_condition, directives, self._selection_set(), self._loc(start)
        )

    def _type(self) -> tuple[str, Location]:
        """A type's notation (``[String]!``) and where its name is."""
        if self._skip("punct", "["):
            with self._nested():
                inner, named_loc = self._type()
            self._expect("punct", "]")
            notation = f"[{inner}]"
        else:
            name = self._expect("name")
            notation, named_loc = name.value, self._loc(name)
        return (notation + "!" if self._skip("punct", "!") else notation), named_loc

    def _selection_set(self) -> list[_Selection]:
        self._expect("punct", "{")
        with self._nested():
            selections: list[_Selection] = [self._selection()]
            while not self._skip("punct", "}"):
                selections.append(self._selection())
        return selections

    def _selection(self) -> _Selection:
        start = self._peek()
        if self._skip("punct", "..."):
            if self._at("name") and self._peek().value != "on":
                fragment_name = self._next()
                return _Spread(
                    fragment_name.value,
                    self._directives(),
                    self._loc(start),
                    self._loc(fragment_name),
                )
            type_condition = None
            if self._skip("name", "on"):
                type_condition = self._expect("name").value
            directives = self._directives()
            return _InlineFragment(
                type_condition, directives, self._selection_set(), self._loc(start)
            )
        name = self._expect("name")
        alias = None
        if self._skip("punct", ":"):
            alias, name = name.value, self._expect("name")
        args, arg_locs = self._arguments(const=False)
        directives = self._directives()
        selections, selections_loc = None, None
        if self._at("punct", "{"):
            selections_loc = self._loc(self._peek())
            selections = self._selection_set()
        return _Field(
            alias,
            name.value,
            args,
            arg_locs,
            directives,
            selections,
            selections_loc,
            self._loc(start),
        )

    def _arguments(self, *, const: bool) -> tuple[dict[str, _Value], dict[str, Location]]:
        args: dict[str, _Value] = {}
        locs: dict[str, Location] = {}
        if self._skip("punct", "("):
            while True:
                name = self._expect("name")
                self._expect("punct", ":")
                args[name.value] = self._value(const=const)
                locs[name.value] = self._loc(name)
                if self._skip("punct", ")"):
                    break
        return args, locs

    def _directives(self) -> list[_Directive]:
        directives: list[_Directive] = []
        while self._at("punct", "@"):
            start = self._next()
            name = self._expect("name").value
            args, _ = self._arguments(const=False)
            directives.append(_Directive(name, args, self._loc(start)))
        return directives

    def _value(self, *, const: bool) -> _Value:
        token = self._next()
        loc = self._loc(token)
        if token.kind == "punct" and token.value == "$" and not const:
            return _Value("variable", self._expect("name").value, loc)
        if token.kind == "int":
            return _Value("int", int(token.value), loc)
        if token.kind == "float":
            return _Value("float", float(token.value), loc)
        if token.kind == "string":
            return _Value("string", token.value, loc)
        if token.kind == "name":
            if token.value in ("true", "false"):
                return _Value("boolean", token.value == "true", loc)
            if token.value == "null":
                return _Value("null", None, loc)
            return _Value("enum", token.value, loc)
        if token.kind == "punct" and token.value == "[":
            items: list[_Value] = []
            with self._nested():
                while not self._skip("punct", "]"):
                    items.append(self._value(const=const))
            return _Value("list", items, loc)
        if token.kind == "punct" and token.value == "{":
            fields: dict[str, _Value] = {}
            with self._nested():
                while not self._skip("punct", "}"):
                    name = self._expect("name").value
                    self._expect("punct", ":")
                    fields[name] = self._value(const=const)
            return _Value("object", fields, loc)
        raise GraphQLSyntaxError(f"Unexpected {token.value or token.kind} at {token.line}")


def _print_value(value: _Value) -> str:
    """A value as GraphQL source text (how the manager's messages quote it)."""
    if value.kind == "variable":
        return f"${value.value}"
    if value.kind == "string":
        return json.dumps(value.value, ensure_ascii=False)
    if value.kind == "boolean":
        return "true" if value.value else "false"
    if value.kind == "null":
        return "null"
    if value.kind == "list":
        return "[" + ", ".join(_print_value(item) for item in value.value) + "]"
    if value.kind == "object":
        return "{" + ", ".join(f"{k}: {_print_value(v)}" for k, v in value.value.items()) + "}"
    return str(value.value)


# -- the emulated schema ---------------------------------------------------------------------


@dataclass(frozen=True)
class _FieldDef:
    type: str
    args: Mapping[str, str] = field(default_factory=dict)
    emulated: bool = True


_SCALARS: Final = frozenset(
    {"String", "Int", "Float", "Boolean", "ID", "UUID", "DateTime", "JSONString", "BigInt"}
)


def _fields(
    emulated: Mapping[str, str], others: Mapping[str, str] | None = None
) -> dict[str, _FieldDef]:
    defs = {name: _FieldDef(kind) for name, kind in emulated.items()}
    for name, kind in (others or {}).items():
        defs[name] = _FieldDef(kind, emulated=False)
    return defs


# The manager's types, with every field it has: the emulated ones resolve, selecting another
# is answered as not implemented (rather than as unknown).
_TYPES: Final[dict[str, dict[str, _FieldDef]]] = {
    "KeyPair": _fields(
        {
            "id": "ID", "user_id": "String", "full_name": "String", "access_key": "String",
            "secret_key": "String", "is_active": "Boolean", "is_admin": "Boolean",
            "resource_policy": "String", "created_at": "DateTime", "last_used": "DateTime",
            "rate_limit": "Int", "num_queries": "Int", "user": "UUID", "projects": "[String]",
            "ssh_public_key": "String", "concurrency_used": "Int", "concurrency_limit": "Int",
            "user_info": "UserInfo",
        },
        {"vfolders": "[VirtualFolder]", "compute_sessions": "[ComputeSession]"},
    ),
    "User": _fields(
        {
            "id": "ID", "uuid": "UUID", "username": "String", "email": "String",
            "need_password_change": "Boolean", "full_name": "String", "description": "String",
            "is_active": "Boolean", "status": "String", "status_info": "String",
            "created_at": "DateTime", "modified_at": "DateTime", "domain_name": "String",
            "role": "String", "resource_policy": "String", "allowed_client_ip": "[String]",
            "totp_activated": "Boolean", "totp_activated_at": "DateTime",
            "sudo_session_enabled": "Boolean", "main_access_key": "String",
            "groups": "[UserGroup]",
        }
    ),
    "UserGroup": _fields({"id": "UUID", "name": "String"}),
    "UserInfo": _fields({"email": "String", "full_name": "String"}),
    "Image": _fields(
        {
            "id": "UUID", "name": "String", "humanized_name": "String", "tag": "String",
            "registry": "String", "architecture": "String", "is_local": "Boolean",
            "digest": "String", "labels": "[KVPair]", "aliases": "[String]",
            "size_bytes": "BigInt", "resource_limits": "[ResourceLimit]",
            "supported_accelerators": "[String]", "installed": "Boolean",
            "installed_agents": "[String]", "hash": "String",
        }
    ),
    "KVPair": _fields({"key": "String", "value": "String"}),
    "ResourceLimit": _fields({"key": "String", "min": "String", "max": "String"}),
    "Agent": _fields(
        {
            "id": "ID", "status": "String", "status_changed": "DateTime", "region": "String",
            "scaling_group": "String", "schedulable": "Boolean",
            "available_slots": "JSONString", "occupied_slots": "JSONString", "addr": "String",
            "architecture": "String", "first_contact": "DateTime", "lost_at": "DateTime",
            "live_stat": "JSONString", "version": "String", "compute_plugins": "JSONString",
            "hardware_metadata": "JSONString", "auto_terminate_abusing_kernel": "Boolean",
            "local_config": "JSONString", "container_count": "Int", "mem_slots": "Int",
            "cpu_slots": "Float", "gpu_slots": "Float", "tpu_slots": "Float",
            "used_mem_slots": "Int", "used_cpu_slots": "Float", "used_gpu_slots": "Float",
            "used_tpu_slots": "Float", "cpu_cur_pct": "Float", "mem_cur_bytes": "Float",
        },
        {"compute_containers": "[ComputeContainer]"},
    ),
    "Group": _fields(
        {
            "id": "UUID", "name": "String", "description": "String", "is_active": "Boolean",
            "created_at": "DateTime", "modified_at": "DateTime", "domain_name": "String",
            "total_resource_slots": "JSONString", "allowed_vfolder_hosts": "JSONString",
            "integration_id": "String", "resource_policy": "String",
            "scaling_groups": "[String]",
        }
    ),
}  # fmt: skip

# The emulated root fields, with the manager's arguments.
_EMULATED_QUERIES: Final = {
    "keypair": _FieldDef("KeyPair", {"domain_name": "String", "access_key": "String"}),
    "keypairs": _FieldDef(
        "[KeyPair]", {"domain_name": "String", "email": "String", "is_active": "Boolean"}
    ),
    "user": _FieldDef("User", {"domain_name": "String", "email": "String"}),
    "images": _FieldDef("[Image]", {"is_installed": "Boolean", "is_operation": "Boolean"}),
    "image": _FieldDef("Image", {"reference": "String!", "architecture": "String"}),
    "agents": _FieldDef("[Agent]", {"scaling_group": "String", "status": "String"}),
    "groups": _FieldDef("[Group]", {"domain_name": "String", "is_active": "Boolean"}),
}

# The other root fields of the 23.09 manager's schema.
_OTHER_QUERIES: Final = [
    "agent",
    "agent_list",
    "agent_summary",
    "agent_summary_list",
    "compute_container",
    "compute_container_list",
    "compute_session",
    "compute_session_list",
    "container_registries",
    "container_registry",
    "domain",
    "domains",
    "endpoint",
    "endpoint_list",
    "endpoint_token",
    "endpoint_token_list",
    "group",
    "group_node",
    "group_nodes",
    "groups_by_name",
    "keypair_list",
    "keypair_resource_policies",
    "keypair_resource_policy",
    "legacy_compute_session",
    "legacy_compute_session_list",
    "node",
    "project_resource_policies",
    "project_resource_policy",
    "quota_scope",
    "resource_preset",
    "resource_presets",
    "routing",
    "routing_list",
    "scaling_group",
    "scaling_groups",
    "scaling_groups_for_domain",
    "scaling_groups_for_keypair",
    "scaling_groups_for_user_group",
    "storage_volume",
    "storage_volume_list",
    "user_from_uuid",
    "user_list",
    "user_node",
    "user_nodes",
    "user_resource_policies",
    "user_resource_policy",
    "users",
    "vfolder",
    "vfolder_host_permissions",
    "vfolder_invited_list",
    "vfolder_list",
    "vfolder_own_list",
    "vfolder_permission_list",
    "vfolder_project_list",
    "vfolders",
]

_MUTATIONS: Final = [
    "alias_image",
    "associate_scaling_group_with_domain",
    "associate_scaling_group_with_keypair",
    "associate_scaling_group_with_user_group",
    "clear_images",
    "create_container_registry",
    "create_domain",
    "create_group",
    "create_keypair",
    "create_keypair_resource_policy",
    "create_project_resource_policy",
    "create_resource_preset",
    "create_scaling_group",
    "create_user",
    "create_user_resource_policy",
    "dealias_image",
    "delete_container_registry",
    "delete_domain",
    "delete_group",
    "delete_keypair",
    "delete_keypair_resource_policy",
    "delete_project_resource_policy",
    "delete_resource_preset",
    "delete_scaling_group",
    "delete_user",
    "delete_user_resource_policy",
    "disassociate_all_scaling_groups_with_domain",
    "disassociate_all_scaling_groups_with_group",
    "disassociate_scaling_group_with_domain",
    "disassociate_scaling_group_with_keypair",
    "disassociate_scaling_group_with_user_group",
    "forget_image",
    "modify_agent",
    "modify_container_registry",
    "modify_domain",
    "modify_endpoint",
    "modify_group",
    "modify_image",
    "modify_keypair",
    "modify_keypair_resource_policy",
    "modify_project_resource_policy",
    "modify_resource_preset",
    "modify_scaling_group",
    "modify_user",
    "modify_user_resource_policy",
    "preload_image",
    "purge_domain",
    "purge_group",
    "purge_user",
    "rescan_images",
    "set_quota_scope",
    "unload_image",
    "unset_quota_scope",
]

_TYPES["Queries"] = {
    **{name: _FieldDef("?", emulated=False) for name in _OTHER_QUERIES},
    **_EMULATED_QUERIES,
}
_TYPES["Mutations"] = {name: _FieldDef("?", emulated=False) for name in _MUTATIONS}
_ROOTS: Final = {"query": "Queries", "mutation": "Mutations"}
_DIRECTIVES: Final = {"include", "skip"}
# The type of the ``if`` argument of ``@include`` and ``@skip``.
_DIRECTIVE_IF: Final = "Boolean!"
# Every type the emulated schema has (for suggestions).
_TYPE_NAMES: Final = sorted({*_SCALARS, *_TYPES})

#: A variable used in a document: its name, where, and the type its position expects (None
#: where the emulator does not know it: inside a list or an object, under an unknown field).
_Usage: TypeAlias = tuple[str, Location, str | None]


def _named_type(notation: str) -> str:
    return notation.strip("[]!")


def _is_list(notation: str) -> bool:
    return notation.startswith("[")


def _is_subtype(notation: str, expected: str) -> bool:
    """Whether a value of type *notation* fits where *expected* goes (GraphQL's rule)."""
    if notation == expected:
        return True
    if expected.endswith("!"):
        return notation.endswith("!") and _is_subtype(notation[:-1], expected[:-1])
    if notation.endswith("!"):
        return _is_subtype(notation[:-1], expected)
    if _is_list(expected):
        return _is_list(notation) and _is_subtype(notation[1:-1], expected[1:-1])
    return False


def _allowed_position(definition: _VariableDefinition, expected: str) -> bool:
    """Whether the variable of *definition* may be used where a value of *expected* goes.

    A nullable variable fits a non-null position only with a default that is not null.
    """
    if expected.endswith("!") and not definition.type.endswith("!"):
        default = definition.default
        if default is None or default.kind == "null":
            return False
        return _is_subtype(definition.type, expected[:-1])
    return _is_subtype(definition.type, expected)


# -- suggestions, as GraphQL's reference implementation makes them -----------------------------


def _distance(a: str, b: str, threshold: int) -> int | None:
    """The optimal-string-alignment distance of *a* and *b*, if at most *threshold*."""
    if a == b:
        return 0
    a, b = a.lower(), b.lower()
    if a == b:
        # A change of case counts as one edit.
        return 1
    if len(a) < len(b):
        a, b = b, a
    if len(a) - len(b) > threshold:
        return None
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > threshold:
            return None
        previous2, previous = previous, current
    distance = previous[len(b)]
    return distance if distance <= threshold else None


def _natural_key(text: str) -> tuple[Any, ...]:
    parts = re.split(r"(\d+)", text)
    return tuple((int(part), part) if index % 2 else part for index, part in enumerate(parts))


def _did_you_mean(given: str, options: Sequence[str]) -> str:
    """`` Did you mean 'a', 'b', or 'c'?`` with the options closest to *given* (or nothing)."""
    threshold = int(len(given) * 0.4) + 1
    scored = {}
    for option in options:
        distance = _distance(given, option, threshold)
        if distance is not None:
            scored[option] = distance
    close = sorted(scored, key=lambda option: (scored[option], _natural_key(option)))[:5]
    quoted = [f"'{option}'" for option in close]
    if not quoted:
        return ""
    if len(quoted) == 1:
        return f" Did you mean {quoted[0]}?"
    if len(quoted) == 2:
        return f" Did you mean {quoted[0]} or {quoted[1]}?"
    return f" Did you mean {', '.join(quoted[:-1])}, or {quoted[-1]}?"


# -- validation ------------------------------------------------------------------------------


@dataclass
class _Error:
    message: str
    locations: list[Location] = field(default_factory=list)
    path: list[str] | None = None

    def formatted(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.locations:
            body["locations"] = [{"line": line, "column": col} for line, col in self.locations]
        if self.path is not None:
            body["path"] = self.path
        return body


def _not_implemented(parent: str, name: str, loc: Location) -> _Error:
    return _Error(f"The emulator does not implement the GraphQL field '{parent}.{name}'.", [loc])


class _Validator:
    """The manager's validation rules that the emulated subset can meet.

    Each fragment is checked once per type it is spread on; its variable usages are then
    reused wherever it is spread again, so validation takes time in proportion to the
    document, however often fragments spread one another.
    """

    def __init__(self, operations: list[_Operation], fragments: list[_Fragment]) -> None:
        self.operations = operations
        self.fragments = {fragment.name: fragment for fragment in fragments}
        self.errors: list[_Error] = []
        self._reported: set[tuple[str, tuple[Location, ...]]] = set()
        self._used_fragments: set[str] = set()
        # The variable usages of each fragment checked on a parent type.
        self._fragment_usages: dict[tuple[str, str | None], list[_Usage]] = {}

    def _report(self, error: _Error) -> None:
        key = (error.message, tuple(error.locations))
        if key not in self._reported:
            self._reported.add(key)
            self.errors.append(error)

    def run(self) -> list[_Error]:
        introspection = [
            _Error(f"Cannot query '{f.name}': introspection is disabled.", [f.loc])
            for f in self._all_fields()
            if f.name.startswith("__")
        ]
        if introspection:
            # The manager checks this first, alone.
            return introspection
        if len(self.operations) > 1:
            for operation in self.operations:
                if operation.name is None:
                    self._report(
                        _Error(
                            "This anonymous operation must be the only defined operation.",
                            [operation.loc],
                        )
                    )
        for operation in self.operations:
            used: list[_Usage] = []
            root = _ROOTS.get(operation.kind)
            self._variable_definitions(operation)
            self._directives(operation.directives, used)
            self._selections(operation.selections, root, used, visiting=())
            self._variables(operation, used)
        for name, fragment in self.fragments.items():
            if name not in self._used_fragments:
                self._report(_Error(f"Fragment '{name}' is never used.", [fragment.loc]))
        return self.errors

    def _all_fields(self) -> Iterator[_Field]:
        def walk(selections: Sequence[_Selection]) -> Iterator[_Field]:
            for selection in selections:
                if isinstance(selection, _Field):
                    yield selection
                    yield from walk(selection.selections or [])
                elif isinstance(selection, _InlineFragment):
                    yield from walk(selection.selections)

        for operation in self.operations:
            yield from walk(operation.selections)
        for fragment in self.fragments.values():
            yield from walk(fragment.selections)

    def _variable_definitions(self, operation: _Operation) -> None:
        """Each variable's type must exist and be an input type; its default must fit it."""
        for definition in operation.variables:
            named = _named_type(definition.type)
            if named not in _SCALARS and named not in _TYPES:
                self._report(
                    _Error(
                        f"Unknown type '{named}'." + _did_you_mean(named, _TYPE_NAMES),
                        [definition.named_type_loc],
                    )
                )
            elif named not in _SCALARS:
                self._report(
                    _Error(
                        f"Variable '${definition.name}' cannot be non-input type "
                        f"'{definition.type}'.",
                        [definition.type_loc],
                    )
                )
            elif definition.default is not None and not _is_list(definition.type):
                problem = _literal_problem(definition.type, definition.default)
                if problem is not None:
                    self._report(_Error(problem, [definition.default.loc]))

    def _variables(self, operation: _Operation, used: list[_Usage]) -> None:
        defined = {definition.name: definition for definition in operation.variables}
        where = f" by operation '{operation.name}'" if operation.name else ""
        for name, loc, _ in used:
            if name not in defined:
                self._report(
                    _Error(f"Variable '${name}' is not defined{where}.", [loc, operation.loc])
                )
        used_names = {name for name, _, _ in used}
        where = f" in operation '{operation.name}'" if operation.name else ""
        for definition in operation.variables:
            if definition.name not in used_names:
                self._report(
                    _Error(f"Variable '${definition.name}' is never used{where}.", [definition.loc])
                )
        for name, loc, expected in used:
            found = defined.get(name)
            if (
                found is None
                or expected is None
                or _named_type(found.type) not in _SCALARS
                or _allowed_position(found, expected)
            ):
                continue
            self._report(
                _Error(
                    f"Variable '${name}' of type '{found.type}' used in position "
                    f"expecting type '{expected}'.",
                    [found.loc, loc],
                )
            )

    def _values_used(self, value: _Value, used: list[_Usage], expected: str | None) -> None:
        """Note the variables in *value*, given where a value of type *expected* goes."""
        if value.kind == "variable":
            used.append((value.value, value.loc, expected))
        elif value.kind == "list":
            for item in value.value:
                self._values_used(item, used, None)
        elif value.kind == "object":
            for item in value.value.values():
                self._values_used(item, used, None)

    def _directives(self, directives: list[_Directive], used: list[_Usage]) -> None:
        for directive in directives:
            known = directive.name in _DIRECTIVES
            if not known:
                self._report(_Error(f"Unknown directive '@{directive.name}'.", [directive.loc]))
            for name, value in directive.args.items():
                self._values_used(value, used, _DIRECTIVE_IF if known and name == "if" else None)

    def _selections(
        self,
        selections: Sequence[_Selection],
        parent: str | None,
        used: list[_Usage],
        *,
        visiting: tuple[str, ...],
    ) -> None:
        for selection in selections:
            self._directives(selection.directives, used)
            if isinstance(selection, _Field):
                self._field(selection, parent, used, visiting=visiting)
            elif isinstance(selection, _InlineFragment):
                condition = selection.type_condition
                if parent is not None and condition is not None and condition != parent:
                    self._report(
                        _Error(
                            "Fragment cannot be spread here as objects of type "
                            f"'{parent}' can never be of type '{condition}'.",
                            [selection.loc],
                        )
                    )
                    continue
                self._selections(selection.selections, parent, used, visiting=visiting)
            else:
                self._spread(selection, parent, used, visiting=visiting)

    def _spread(
        self, spread: _Spread, parent: str | None, used: list[_Usage], *, visiting: tuple[str, ...]
    ) -> None:
        fragment = self.fragments.get(spread.name)
        if fragment is None:
            self._report(_Error(f"Unknown fragment '{spread.name}'.", [spread.name_loc]))
            return
        self._used_fragments.add(fragment.name)
        if fragment.name in visiting:
            self._report(
                _Error(f"Cannot spread fragment '{fragment.name}' within itself.", [spread.loc])
            )
            return
        if parent is not None and fragment.type_condition != parent:
            self._report(
                _Error(
                    f"Fragment '{fragment.name}' cannot be spread here as objects of "
                    f"type '{parent}' can never be of type '{fragment.type_condition}'.",
                    [spread.loc],
                )
            )
            return
        key = (fragment.name, parent)
        usages = self._fragment_usages.get(key)
        if usages is None:
            usages = []
            self._selections(
                fragment.selections, parent, usages, visiting=(*visiting, fragment.name)
            )
            self._fragment_usages[key] = usages
        used.extend(usages)

    def _field(
        self,
        node: _Field,
        parent: str | None,
        used: list[_Usage],
        *,
        visiting: tuple[str, ...],
    ) -> None:
        fields = None if parent is None else _TYPES.get(parent)
        definition = None if fields is None else fields.get(node.name)
        known_args = definition.args if definition is not None and definition.emulated else {}
        for name, value in node.args.items():
            self._values_used(value, used, known_args.get(name))
        if parent is None or fields is None:
            # Under an operation type the schema lacks (subscriptions): nothing to check.
            self._selections(node.selections or [], None, used, visiting=visiting)
            return
        if definition is None:
            self._report(
                _Error(
                    f"Cannot query field '{node.name}' on type '{parent}'."
                    + _did_you_mean(node.name, list(fields)),
                    [node.loc],
                )
            )
            self._selections(node.selections or [], None, used, visiting=visiting)
            return
        if not definition.emulated:
            self._report(_not_implemented(parent, node.name, node.loc))
            self._selections(node.selections or [], None, used, visiting=visiting)
            return
        for name, value in node.args.items():
            arg_type = definition.args.get(name)
            if arg_type is None:
                self._report(
                    _Error(
                        f"Unknown argument '{name}' on field '{parent}.{node.name}'."
                        + _did_you_mean(name, list(definition.args)),
                        [node.arg_locs[name]],
                    )
                )
            elif value.kind != "variable" and (problem := _literal_problem(arg_type, value)):
                self._report(_Error(problem, [value.loc]))
        for name, arg_type in definition.args.items():
            if arg_type.endswith("!") and name not in node.args:
                self._report(
                    _Error(
                        f"Field '{node.name}' argument '{name}' of type '{arg_type}' is "
                        "required, but it was not provided.",
                        [node.loc],
                    )
                )
        named = _named_type(definition.type)
        if named in _SCALARS:
            if node.selections is not None:
                assert node.selections_loc is not None
                self._report(
                    _Error(
                        f"Field '{node.name}' must not have a selection since type "
                        f"'{definition.type}' has no subfields.",
                        [node.selections_loc],
                    )
                )
                self._selections(node.selections, None, used, visiting=visiting)
            return
        if node.selections is None:
            self._report(
                _Error(
                    f"Field '{node.name}' of type '{definition.type}' must have a selection of "
                    f"subfields. Did you mean '{node.name} {{ ... }}'?",
                    [node.loc],
                )
            )
            return
        if named not in _TYPES:
            self._report(_not_implemented(parent, node.name, node.loc))
            self._selections(node.selections, None, used, visiting=visiting)
            return
        self._selections(node.selections, named, used, visiting=visiting)


def _literal_problem(arg_type: str, value: _Value) -> str | None:
    """The manager's message for a literal of the wrong type, if it is one."""
    named = _named_type(arg_type)
    if value.kind == "null":
        return (
            f"Expected value of type '{arg_type}', found null." if arg_type.endswith("!") else None
        )
    printed = _print_value(value)
    if named == "String" and value.kind != "string":
        return f"String cannot represent a non string value: {printed}"
    if named == "Boolean" and value.kind != "boolean":
        return f"Boolean cannot represent a non boolean value: {printed}"
    return None


# -- execution -------------------------------------------------------------------------------


class _FieldError(Exception):
    """A resolver failed; the field's answer is null and the error is reported."""


@dataclass
class _Context:
    accounts: AccountDirectory
    caller: Keypair
    sessions: SessionRegistry
    variables: dict[str, Any]
    fragments: dict[str, _Fragment]


def _argument(value: _Value, ctx: _Context) -> Any:
    if value.kind == "variable":
        return ctx.variables.get(value.value)
    if value.kind == "list":
        return [_argument(item, ctx) for item in value.value]
    if value.kind == "object":
        return {key: _argument(item, ctx) for key, item in value.value.items()}
    return value.value


def _constant(value: _Value) -> Any:
    """A literal's Python value (lists and objects included)."""
    if value.kind == "list":
        return [_constant(item) for item in value.value]
    if value.kind == "object":
        return {key: _constant(item) for key, item in value.value.items()}
    return value.value


def _included(directives: list[_Directive], ctx: _Context) -> bool:
    for directive in directives:
        condition = directive.args.get("if")
        flag = bool(_argument(condition, ctx)) if condition is not None else True
        if directive.name == "skip" and flag:
            return False
        if directive.name == "include" and not flag:
            return False
    return True


def _collect(
    selections: Sequence[_Selection],
    ctx: _Context,
    collected: dict[str, list[_Field]] | None = None,
    visited: set[str] | None = None,
) -> dict[str, list[_Field]]:
    """The fields to answer, by answer key (fragments expanded, skipped fields left out).

    As GraphQL's CollectFields: a fragment spread again in the same selection set (directly
    or through other fragments) is expanded only the first time.
    """
    collected = {} if collected is None else collected
    visited = set() if visited is None else visited
    for selection in selections:
        if not _included(selection.directives, ctx):
            continue
        if isinstance(selection, _Field):
            collected.setdefault(selection.key, []).append(selection)
        elif isinstance(selection, _InlineFragment):
            _collect(selection.selections, ctx, collected, visited)
        elif selection.name not in visited:
            visited.add(selection.name)
            _collect(ctx.fragments[selection.name].selections, ctx, collected, visited)
    return collected


def _complete(value: Any, notation: str, nodes: list[_Field], ctx: _Context) -> Any:
    if value is None:
        return None
    inner = notation.rstrip("!")
    if inner.startswith("["):
        return [_complete(item, inner[1:-1], nodes, ctx) for item in value]
    fields = _TYPES.get(inner)
    if fields is None:
        return value
    selections = [selection for node in nodes for selection in (node.selections or [])]
    return {
        key: _complete(value.get(group[0].name), fields[group[0].name].type, group, ctx)
        for key, group in _collect(selections, ctx).items()
    }


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


def _keypair_object(keypair: Keypair, ctx: _Context) -> dict[str, Any]:
    last_used = ctx.accounts.last_used(keypair.access_key)
    return {
        "id": keypair.access_key,
        "user_id": keypair.user.email,
        "full_name": keypair.user.full_name,
        "access_key": keypair.access_key,
        "secret_key": keypair.secret_key,
        "is_active": True,
        "is_admin": keypair.is_admin,
        "resource_policy": keypair.resource_policy,
        "created_at": _iso(ctx.accounts.created_at),
        # The manager stores this one without its timezone (it is UTC).
        "last_used": None if last_used is None else last_used.replace(tzinfo=None).isoformat(),
        "rate_limit": keypair.rate_limit,
        "num_queries": ctx.accounts.num_queries(keypair.access_key),
        "user": str(keypair.user.uuid),
        "projects": ["default"],
        "ssh_public_key": None,
        "concurrency_used": len(ctx.sessions.owned_by(keypair.access_key)),
        "user_info": {"email": keypair.user.email, "full_name": keypair.user.full_name},
        # What the 23.09 manager reports for the example policy.
        "concurrency_limit": 0,
    }


def _user_object(user: User, ctx: _Context) -> dict[str, Any]:
    created = _iso(ctx.accounts.created_at)
    return {
        "id": str(user.uuid),
        "uuid": str(user.uuid),
        "username": user.username,
        "email": user.email,
        "need_password_change": user.need_password_change,
        "full_name": user.full_name,
        "description": user.description,
        "is_active": user.status == "active",
        "status": user.status,
        "status_info": user.status_info,
        "created_at": created,
        "modified_at": created,
        "domain_name": user.domain_name,
        "role": user.role,
        "resource_policy": user.resource_policy,
        "allowed_client_ip": None,
        "totp_activated": False,
        "totp_activated_at": None,
        "sudo_session_enabled": False,
        "main_access_key": ctx.accounts.main_keypair(user).access_key,
        "groups": [{"id": str(DEFAULT_GROUP_ID), "name": "default"}],
    }


def _image_object(image: Image) -> dict[str, Any]:
    # The 23.09 manager's digest column is fixed-width text: it answers a trailing blank.
    digest = image.digest + " "
    return {
        "id": str(image.id),
        "name": image.name,
        "humanized_name": image.name,
        "tag": image.tag,
        "registry": image.registry,
        "architecture": image.architecture,
        "is_local": False,
        "digest": digest,
        "labels": image_labels(image),
        "aliases": list(image.aliases),
        "size_bytes": image.size_bytes,
        "resource_limits": [
            {"key": key, "min": low, "max": high}
            for key, (low, high) in image.resource_limits.items()
        ],
        "supported_accelerators": [""],
        "installed": False,
        "installed_agents": [],
        "hash": digest,
    }


def _group_object(ctx: _Context) -> dict[str, Any]:
    created = _iso(ctx.accounts.created_at)
    return {
        "id": str(DEFAULT_GROUP_ID),
        "name": "default",
        "description": "The default user group",
        "is_active": True,
        "created_at": created,
        "modified_at": created,
        "domain_name": "default",
        "total_resource_slots": "{}",
        "allowed_vfolder_hosts": "{}",
        "integration_id": None,
        "resource_policy": "default",
        "scaling_groups": [],
    }


def _resolve_keypair(args: dict[str, Any], ctx: _Context) -> Any:
    access_key = args.get("access_key") or ctx.caller.access_key
    if access_key != ctx.caller.access_key and not ctx.caller.is_superadmin:
        raise _FieldError("Forbidden operation.")
    keypair = ctx.accounts.keypair(access_key)
    return None if keypair is None else _keypair_object(keypair, ctx)


def _resolve_keypairs(args: dict[str, Any], ctx: _Context) -> Any:
    keypairs = ctx.accounts.keypairs() if ctx.caller.is_superadmin else [ctx.caller]
    if args.get("email") is not None:
        keypairs = [kp for kp in keypairs if kp.user.email == args["email"]]
    if args.get("is_active") is False:
        keypairs = []
    return [_keypair_object(keypair, ctx) for keypair in keypairs]


def _resolve_user(args: dict[str, Any], ctx: _Context) -> Any:
    email = args.get("email") or ctx.caller.user.email
    if email != ctx.caller.user.email and not ctx.caller.is_superadmin:
        raise _FieldError("Forbidden operation.")
    user = ctx.accounts.user_by_email(email)
    return None if user is None else _user_object(user, ctx)


def _resolve_images(args: dict[str, Any], ctx: _Context) -> Any:
    if args.get("is_installed") is True:
        # No agent has pulled anything.
        return []
    return [_image_object(image) for image in IMAGES]


def _resolve_image(args: dict[str, Any], ctx: _Context) -> Any:
    reference = args.get("reference")
    if not isinstance(reference, str):
        raise _FieldError("Internal server error.")
    image = find_image(reference)
    if image is not None:
        return _image_object(image)
    try:
        canonical = canonical_reference(reference)
    except InternalServerError:
        raise _FieldError("Internal server error.") from None
    raise _FieldError(
        "No such environment image. (Unknown image references: "
        f"ref:{canonical!r}, alias:{reference!r})"
    )


def _resolve_agents(args: dict[str, Any], ctx: _Context) -> Any:
    if not ctx.caller.is_superadmin:
        raise _FieldError("Forbidden operation. (superadmin privilege required)")
    return []


def _resolve_groups(args: dict[str, Any], ctx: _Context) -> Any:
    if args.get("is_active") is False:
        return []
    return [_group_object(ctx)]


_RESOLVERS: Final[dict[str, Callable[[dict[str, Any], _Context], Any]]] = {
    "keypair": _resolve_keypair,
    "keypairs": _resolve_keypairs,
    "user": _resolve_user,
    "images": _resolve_images,
    "image": _resolve_image,
    "agents": _resolve_agents,
    "groups": _resolve_groups,
}


def _variable_problem(definition: _VariableDefinition, given: Any) -> str | None:
    """The manager's message for a variable value its definition refuses, if any."""
    name, notation = definition.name, definition.type
    if given is None:
        if notation.endswith("!"):
            return f"Variable '${name}' of non-null type '{notation}' must not be null."
        return None
    named = _named_type(notation)
    if notation.rstrip("!").startswith("["):
        return None
    if named in ("String", "ID") and not isinstance(given, str):
        return (
            f"Variable '${name}' got invalid value {given!r}; "
            f"String cannot represent a non string value: {given!r}"
        )
    if named == "Boolean" and not isinstance(given, bool):
        return (
            f"Variable '${name}' got invalid value {given!r}; "
            f"Boolean cannot represent a non boolean value: {given!r}"
        )
    return None


def _coerce_variables(
    operation: _Operation, given: Mapping[str, Any]
) -> tuple[dict[str, Any], list[_Error]]:
    values: dict[str, Any] = {}
    errors: list[_Error] = []
    for definition in operation.variables:
        if definition.name in given:
            problem = _variable_problem(definition, given[definition.name])
            if problem is not None:
                errors.append(_Error(problem, [definition.loc]))
            else:
                values[definition.name] = given[definition.name]
        elif definition.default is not None:
            values[definition.name] = _constant(definition.default)
        elif definition.type.endswith("!"):
            errors.append(
                _Error(
                    f"Variable '${definition.name}' of required type '{definition.type}' "
                    "was not provided.",
                    [definition.loc],
                )
            )
    return values, errors


def _measure(
    selections: Sequence[_Selection],
    fragments: Mapping[str, _Fragment],
    level: int,
    sizes: dict[str, tuple[int, int]],
) -> tuple[int, int]:
    """How many fields *selections* select and how deep they nest, fragments expanded.

    Each fragment counts at each of its spreads; :class:`_TooComplex` is raised past the
    limits. *sizes* remembers each fragment's figures, so that the count takes time in proportion to
    the document even when it is astronomically large.
    """
    if level > _MAX_DEPTH:
        raise _TooComplex
    count = depth = 0
    for selection in selections:
        if isinstance(selection, _Field):
            inner_count, inner_depth = _measure(
                selection.selections or [], fragments, level + 1, sizes
            )
            count += 1 + inner_count
        elif isinstance(selection, _InlineFragment):
            inner_count, inner_depth = _measure(selection.selections, fragments, level + 1, sizes)
            count += inner_count
        else:
            fragment = fragments.get(selection.name)
            if fragment is None:
                continue  # validation reports it
            if fragment.name not in sizes:
                # A cycle counts nothing more (validation reports it).
                sizes[fragment.name] = (0, 0)
                sizes[fragment.name] = _measure(fragment.selections, fragments, level + 1, sizes)
            inner_count, inner_depth = sizes[fragment.name]
            count += inner_count
        depth = max(depth, 1 + inner_depth)
        if count > _MAX_SELECTIONS or level + depth > _MAX_DEPTH:
            raise _TooComplex
    return count, depth


def _check_complexity(operations: list[_Operation], fragments: list[_Fragment]) -> None:
    """Raise :class:`_TooComplex` for a document over the emulator's bounds."""
    by_name = {fragment.name: fragment for fragment in fragments}
    sizes: dict[str, tuple[int, int]] = {}
    total = 0
    for operation in operations:
        total += _measure(operation.selections, by_name, 0, sizes)[0]
    if total > _MAX_SELECTIONS:
        raise _TooComplex


def execute_graphql(
    query: str,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    *,
    accounts: AccountDirectory,
    caller: Keypair,
    sessions: SessionRegistry,
) -> dict[str, Any]:
    """Run *query* as *caller*; return the answer (``{"data", "errors"}``).

    Raises :class:`GraphQLSyntaxError` when the document is not GraphQL.
    """
    try:
        operations, fragments = _Parser(query).document()
        _check_complexity(operations, fragments)
    except _TooComplex:
        return {"data": None, "errors": [{"message": _TOO_COMPLEX}]}
    errors = _Validator(operations, fragments).run()
    if errors:
        return {"data": None, "errors": [error.formatted() for error in errors]}
    if operation_name is not None:
        chosen = [op for op in operations if op.name == operation_name]
        if not chosen:
            message = f"Unknown operation named '{operation_name}'."
            return {"data": None, "errors": [{"message": message}]}
    elif len(operations) != 1:
        message = (
            "Must provide operation name if query contains multiple operations."
            if operations
            else "Must provide an operation."
        )
        return {"data": None, "errors": [{"message": message}]}
    else:
        chosen = operations
    operation = chosen[0]
    if operation.kind == "subscription":
        error = _Error(
            "Schema is not configured to execute subscription operation.", [operation.loc]
        )
        return {"data": None, "errors": [error.formatted()]}
    values, problems = _coerce_variables(operation, variables or {})
    if problems:
        return {"data": None, "errors": [problem.formatted() for problem in problems]}
    ctx = _Context(
        accounts, caller, sessions, values, {fragment.name: fragment for fragment in fragments}
    )
    data: dict[str, Any] = {}
    failures: list[_Error] = []
    for key, nodes in _collect(operation.selections, ctx).items():
        node = nodes[0]
        definition = _EMULATED_QUERIES[node.name]
        args = {name: _argument(value, ctx) for name, value in node.args.items()}
        try:
            value = _RESOLVERS[node.name](args, ctx)
        except _FieldError as exc:
            data[key] = None
            failures.append(_Error(str(exc), [node.loc], [key]))
            continue
        data[key] = _complete(value, definition.type, nodes, ctx)
    answer: dict[str, Any] = {"data": data}
    if failures:
        answer["errors"] = [failure.formatted() for failure in failures]
    return answer


async def _handle_gql(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request),
        [
            Key.of("query", string()),
            Key.of("variables", null_or(mapping()), None),
            Key.of(["operation_name", "operationName"], null_or(string()), None,
                   to="operation_name"),
        ],
    )  # fmt: skip
    try:
        answer = execute_graphql(
            params["query"],
            params["variables"],
            params["operation_name"],
            accounts=request.app[ACCOUNTS_KEY],
            caller=current_keypair(request),
            sessions=request.app[REGISTRY_KEY],
        )
    except GraphQLSyntaxError:
        # The 23.09 manager parses the document outside its error handling.
        raise InternalServerError from None
    return web.json_response(answer)


def add_graphql_routes(app: web.Application) -> None:
    """Install ``POST /admin/gql``."""
    app.router.add_post("/admin/gql", _handle_gql)
