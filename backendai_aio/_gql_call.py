"""One GraphQL call over a [`Transport`][backendai_aio.Transport], for the namespaces that need one.

The manager answers GraphQL errors with HTTP 200 and an ``errors`` list; they raise
[`GraphQLError`][backendai_aio.GraphQLError] here as in :meth:`Client.query
<backendai_aio.Client.query>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._account import GraphQLError
from ._errors import InvalidArgumentError
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["GRAPHQL_PATHS", "graphql_data"]

#: The manager's GraphQL endpoints by schema: graphene's (every release) and strawberry's.
GRAPHQL_PATHS: Final = {"graphene": "/admin/gql", "strawberry": "/admin/gql/strawberry"}


async def graphql_data(
    transport: Transport,
    document: str,
    variables: Mapping[str, Any] | None = None,
    *,
    operation_name: str | None = None,
    schema: str = "graphene",
    timeout: TimeoutArg = NOT_GIVEN,
) -> Mapping[str, Any]:
    """``POST /admin/gql`` (or the *schema*'s endpoint) with *document*; its ``data`` or raise."""
    path = GRAPHQL_PATHS.get(schema) if isinstance(schema, str) else None
    if path is None:
        raise InvalidArgumentError(
            f"schema must be one of {', '.join(map(repr, GRAPHQL_PATHS))}, not {schema!r}"
        )
    if not isinstance(document, str) or not document.strip():
        raise InvalidArgumentError("query() needs a GraphQL document")
    payload: dict[str, Any] = {"query": document, "variables": dict(variables or {})}
    if operation_name is not None:
        payload["operationName"] = operation_name
    body = await transport.request("POST", path, json=payload, timeout=timeout)
    if not isinstance(body, Mapping):
        raise GraphQLError(
            f"POST {path}: the GraphQL answer is not an object", body=body, status=200
        )
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else errors
        detail = first.get("message") if isinstance(first, Mapping) else first
        raise GraphQLError(
            f"POST {path}: GraphQL error: {detail}",
            status=200,
            msg=None if detail is None else str(detail),
            data=errors,
            body=body,
            method="POST",
            url=path,
        )
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise GraphQLError(f"POST {path}: the GraphQL answer has no data", body=body, status=200)
    return data
