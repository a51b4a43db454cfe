"""One GraphQL call over a :class:`~backendai_aio.Transport`, and the reading of its answer.

The manager answers GraphQL errors with HTTP 200 and an ``errors`` list; :func:`decipher_graphql`
(pure) turns them into :class:`~backendai_aio.GraphQLError` for this call and for
:meth:`Client.query <backendai_aio.Client.query>` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._error_parts import bounded, request_name
from ._errors import GraphQLError
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["decipher_graphql", "graphql_data"]

_PATH = "/admin/gql"


def decipher_graphql(body: Any, *, url: str, method: str = "POST") -> Mapping[str, Any]:
    """The ``data`` object of a GraphQL answer *body*, or raise the :class:`GraphQLError` it means.

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
    timeout: TimeoutArg = NOT_GIVEN,
) -> Mapping[str, Any]:
    """``POST /admin/gql`` with *document*; answer its ``data`` object or raise."""
    body = await transport.request(
        "POST",
        _PATH,
        json={"query": document, "variables": dict(variables or {})},
        timeout=timeout,
    )
    return decipher_graphql(body, url=_PATH)
