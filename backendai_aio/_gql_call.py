"""One GraphQL call over a [`Transport`][backendai_aio.Transport], and the reading of its answer.

The manager answers GraphQL errors with HTTP 200 and an ``errors`` list; `decipher_graphql`
(pure) turns them into [`GraphQLError`][backendai_aio.GraphQLError] for this call and for
[`Client.query`][backendai_aio.Client.query] alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._error_parts import bounded, request_name
from ._errors import GraphQLError, InvalidArgumentError
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["GRAPHQL_PATHS", "decipher_graphql", "graphql_data"]

#: The manager's GraphQL endpoints by schema: graphene's (every release) and strawberry's.
GRAPHQL_PATHS: Final = {"graphene": "/admin/gql", "strawberry": "/admin/gql/strawberry"}


def decipher_graphql(body: Any, *, url: str, method: str = "POST") -> Mapping[str, Any]:
    """The ``data`` object of a GraphQL answer *body*, or raise the `GraphQLError` it means.

    The message names the request, the first error's message and its ``path`` (the field
    that failed); ``data`` holds every error, ``body`` the whole answer.
    """
    where = request_name(method, url)
    fields: dict[str, Any] = {"status": 200, "body": body, "method": method, "url": url}
    if not isinstance(body, Mapping):
        raise GraphQLError(f"{where}: the GraphQL answer is not an object", **fields)
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) else errors
        detail = first.get("message") if isinstance(first, Mapping) else first
        message = f"{where}: GraphQL error: {bounded(str(detail))}"
        path = first.get("path") if isinstance(first, Mapping) else None
        if isinstance(path, list) and path:
            message += f" (at {bounded('.'.join(str(part) for part in path))})"
        if isinstance(errors, list) and len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        msg = None if detail is None else str(detail)
        raise GraphQLError(message, msg=msg, data=errors, **fields)
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise GraphQLError(f"{where}: the GraphQL answer has no data", **fields)
    return data


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
    return decipher_graphql(body, url=path)
