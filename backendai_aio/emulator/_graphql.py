"""``POST /admin/gql`` and ``POST /admin/gql/strawberry``: the manager's GraphQL API.

Documents are answered by graphql-core (the engine under the manager's Graphene) against the
emulator's schema (`_gql_schema`), over the emulator's live state
(`_gql_resolvers`); `_gql_engine` describes the steps and bounds. graphql-core
comes with the ``emulator`` extra (``pip install backendai-aio[emulator]``); without it the
rest of the emulator works and these routes answer 501.

GraphQL answers come with HTTP 200 (``{"data", "errors"}``), as the manager's do; a document
that is not GraphQL at all makes the 23.09 manager fail with 500 ``internal-server-error``,
and the emulator too. The body's keys are checked as the manager checks them (``query``,
``variables``, ``operation_name`` or ``operationName``).
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from aiohttp import web

from ._accounts import ACCOUNTS_KEY
from ._auth import current_keypair
from ._params import read_checked_params
from ._problems import InternalServerError, Problem
from ._releases import RELEASE_KEY
from ._services import SERVICES_KEY
from ._sessions import REGISTRY_KEY
from ._validation import Key, mapping, null_or, string, validate
from ._vfolders import VFOLDER_STORE_KEY

__all__ = ["GRAPHQL_PATHS", "GraphQLUnavailable", "add_graphql_routes"]

#: Where the emulator answers GraphQL (the Graphene endpoint, and 26.9's Strawberry one).
GRAPHQL_PATHS: Final = ("/admin/gql", "/admin/gql/strawberry")


class GraphQLUnavailable(Problem):
    """501: graphql-core is not installed."""

    status, slug, title = 501, "not-implemented", "Not implemented."


_MISSING: Final = (
    "The emulator answers GraphQL with graphql-core, which is not installed: "
    "install backendai-aio[emulator]."
)


def _engine() -> Any:
    """The GraphQL engine module, imported on first use (graphql-core is optional)."""
    try:
        return importlib.import_module(f"{__package__}._gql_engine")
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.partition(".")[0] == "graphql":
            raise GraphQLUnavailable(_MISSING) from None
        raise


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
    engine = _engine()
    context = engine.GraphQLContext(
        accounts=request.app[ACCOUNTS_KEY],
        caller=current_keypair(request),
        sessions=request.app[REGISTRY_KEY],
        vfolders=request.app.get(VFOLDER_STORE_KEY),
        services=request.app.get(SERVICES_KEY),
        release=request.app[RELEASE_KEY].name,
    )
    try:
        answer = engine.execute_graphql(
            params["query"], params["variables"], params["operation_name"], context
        )
    except engine.GraphQLSyntaxError:
        # The 23.09 manager parses the document outside its error handling.
        raise InternalServerError from None
    return web.json_response(answer)


#: ``POST /admin/gql`` and ``POST /admin/gql/strawberry``.
routes = web.RouteTableDef()
for _path in GRAPHQL_PATHS:
    routes.post(_path)(_handle_gql)


def add_graphql_routes(app: web.Application) -> None:
    """Install ``POST /admin/gql`` and ``POST /admin/gql/strawberry``."""
    app.add_routes(routes)
