"""One GraphQL call over a :class:`~backendai_aio.Transport`, for the namespaces that need one.

The manager answers GraphQL errors with HTTP 200 and an ``errors`` list; they raise
:class:`~backendai_aio.GraphQLError` here as in :meth:`Client.query
<backendai_aio.Client.query>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._account import GraphQLError
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["graphql_data"]

_PATH = "/admin/gql"


async def graphql_data(
    transport: Transport,
    document: str,
    variables: Mapping[str, Any] | None = None,
    *,
    timeout: TimeoutArg = NOT_GIVEN,
) -> Mapping[str, Any]:
    """``POST /admin/gql`` with *document*; answer its ``data`` object or raise."""
    body = await transport.request(
        "POST",
        _PATH,
        json={"query": document, "variables": dict(variables or {})},
        timeout=timeout,
    )
    if not isinstance(body, Mapping):
        raise GraphQLError(
            f"POST {_PATH}: the GraphQL answer is not an object", body=body, status=200
        )
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else errors
        detail = first.get("message") if isinstance(first, Mapping) else first
        raise GraphQLError(
            f"POST {_PATH}: GraphQL error: {detail}",
            status=200,
            msg=None if detail is None else str(detail),
            data=errors,
            body=body,
            method="POST",
            url=_PATH,
        )
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise GraphQLError(f"POST {_PATH}: the GraphQL answer has no data", body=body, status=200)
    return data
