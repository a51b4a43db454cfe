"""Calls about the caller and what it may use.

Login (session mode), the auth check, the role, resource presets and the GraphQL endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yarl import URL

from ._errors import AuthenticationError, InvalidArgumentError
from ._gql_call import decipher_graphql
from ._namespace import Namespace
from ._timeouts import NOT_GIVEN, TimeoutArg

__all__ = ["DEFAULT_PROJECT", "AccountAPI"]

#: The project every example user belongs to, which :meth:`AccountAPI.check_presets` names
#: when it is given none.
DEFAULT_PROJECT = "default"


class AccountAPI(Namespace):
    """Who the caller is and what it may use."""

    async def login(
        self,
        username: str,
        password: str,
        *,
        otp: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Log in to a webserver endpoint (``endpoint_type="session"``).

        The session cookie the webserver sets authorises every later call, which goes under
        ``/func/``. *otp* is the one-time code of a user with two-factor authentication.
        Answers the webserver's ``data`` (access key, role, status). A refused
        login raises :class:`~backendai_aio.AuthenticationError` with the reason; the
        password never appears in an error or a log line.
        """
        if not self._transport.webserver:
            raise InvalidArgumentError("login() needs a ClientConfig with endpoint_type='session'")
        if not username or not password:
            raise InvalidArgumentError("login() needs a user name and a password")
        url = self._server_url("login")
        creds = {"username": username, "password": password}
        if otp:
            creds["otp"] = otp
        body = await self._transport.call(
            "POST",
            url,
            json=creds,
            timeout=timeout,
            signed=False,
        )
        if not isinstance(body, Mapping) or body.get("authenticated") is not True:
            details = body.get("data") if isinstance(body, Mapping) else None
            details = details if isinstance(details, Mapping) else {}
            title = details.get("title")
            reason = details.get("details")
            message = "login refused"
            if title or reason:
                message += ": " + " ".join(str(part) for part in (title, reason) if part)
            raise AuthenticationError(
                message,
                status=200,
                problem_type=details.get("type"),
                title=None if title is None else str(title),
                msg=None if reason is None else str(reason),
                body=body,
                method="POST",
                url=str(url),
            )
        return body.get("data")

    async def logout(self, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """End the webserver login session (``endpoint_type="session"``)."""
        if not self._transport.webserver:
            raise InvalidArgumentError("logout() needs a ClientConfig with endpoint_type='session'")
        await self._transport.call(
            "POST", self._server_url("logout"), timeout=timeout, signed=False
        )

    def _server_url(self, name: str) -> URL:
        # The webserver's own routes live beside /func/, not under it.
        return URL(str(self._transport.endpoint) + "server/" + name, encoded=True)

    async def check_auth(self, echo: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """Check the credentials: the server answers ``{"authorized": "yes", "echo": echo}``."""
        return await self._transport.call(
            "POST", self._transport.url("auth", "test"), json={"echo": echo}, timeout=timeout
        )

    async def get_role(self, group: str | None = None, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """The caller's roles: ``{"global_role", "domain_role", "group_role"}``.

        *group* (a group id) asks for the role in that group too.
        """
        params = {} if group is None else {"group": group}
        return await self._transport.call(
            "GET", self._transport.url("auth", "role"), params=params, timeout=timeout
        )

    async def list_presets(self, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """The resource presets: ``{"presets": [{"name", "resource_slots", ...}, ...]}``."""
        return await self._transport.call(
            "GET", self._transport.url("resource", "presets"), timeout=timeout
        )

    async def check_presets(
        self,
        *,
        group: str | None = None,
        scaling_group: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Which presets can be allocated now, with the keypair's limits and usage.

        *group* is the project's **name**; without it the default project (``"default"``)
        is asked for. Managers since 25.15 require a project name (an id is 404
        ``project-not-found``, no group at all is 400); older ones took a name or an id and
        defaulted to ``"default"`` themselves.
        """
        body: dict[str, str] = {"group": DEFAULT_PROJECT if group is None else group}
        if scaling_group is not None:
            body["scaling_group"] = scaling_group
        return await self._transport.call(
            "POST", self._transport.url("resource", "check-presets"), json=body, timeout=timeout
        )

    async def query(
        self,
        gql: str,
        variables: Mapping[str, Any] | None = None,
        *,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Run a GraphQL query or mutation and return its ``data``.

        The manager answers GraphQL errors with HTTP 200 and an ``errors`` list: they raise
        :class:`~backendai_aio.GraphQLError` (``data`` holds the list, ``body`` the whole
        answer), as does an answer without a ``data`` object.
        """
        if not isinstance(gql, str) or not gql.strip():
            raise InvalidArgumentError("query() needs a GraphQL document")
        url = self._transport.url("admin", "gql")
        body = await self._transport.call(
            "POST",
            url,
            json={"query": gql, "variables": dict(variables or {})},
            timeout=timeout,
        )
        return decipher_graphql(body, url=str(url))
