"""The GraphQL endpoint's error (its calls are ``client.query`` and the namespaces')."""

from __future__ import annotations

from ._errors import ServerError

__all__ = ["GraphQLError"]


class GraphQLError(ServerError):
    """The GraphQL endpoint answered ``errors`` (with HTTP 200); ``data`` holds them."""
