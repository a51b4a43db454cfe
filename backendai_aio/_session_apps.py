"""``client.sessions`` app services: service ports, local tunnels to them, the terminal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, cast

import aiohttp

from ._errors import InvalidArgumentError
from ._namespace import Namespace
from ._session_app_types import AppInfo, StartedService
from ._terminal import Terminal
from ._timeouts import NOT_GIVEN, TimeoutArg, resolve_timeout
from ._tunnel import TunnelRelays

__all__ = ["SessionAppCalls"]

#: The ports a service may be asked on (the manager's own bounds for ``port``).
_SERVICE_PORTS: Final = range(1024, 65536)
#: How long closing a tunnel waits for its listener to close.
_LISTENER_CLOSE_LIMIT: Final = 5.0


def _check_name(label: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{label} must be a non-empty string, not {value!r}")
    return value


def _check_port(port: object) -> int | None:
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or port not in _SERVICE_PORTS:
        raise InvalidArgumentError(f"port must be an int from 1024 to 65535, not {port!r}")
    return port


def _json_option(label: str, value: Mapping[str, Any] | None) -> str | None:
    """*value* as the JSON text the manager reads for ``arguments`` and ``envs``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{label} must be a mapping, not {type(value).__name__}")
    try:
        return json.dumps(dict(value))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{label} is not JSON-serialisable: {exc}") from exc


def _service_params(
    app: str,
    port: int | None,
    arguments: Mapping[str, Any] | None,
    envs: Mapping[str, str] | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"app": _check_name("app", app)}
    if _check_port(port) is not None:
        params["port"] = port
    for key, value in (("arguments", arguments), ("envs", envs)):
        text = _json_option(key, value)
        if text is not None:
            params[key] = text
    return params


class SessionAppCalls(Namespace):
    """The app services of a session: the calls of [`Sessions`][backendai_aio.Sessions]."""

    async def apps(self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN) -> list[AppInfo]:
        """The apps a session serves (its service ports): name, protocol and ports.

        ```python
        for app in await client.sessions.apps("my-session"):
            print(app["name"], app["protocol"], app["ports"])
        ```
        """
        url = self._transport.url(
            "stream", "session", _check_name("session_id", session_id), "apps"
        )
        answer = await self._transport.call("GET", url, timeout=timeout)
        return cast(list[AppInfo], answer)

    async def start_service(
        self,
        session_id: str,
        app: str,
        *,
        port: int | None = None,
        arguments: Mapping[str, Any] | None = None,
        envs: Mapping[str, str] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> StartedService:
        """Start *app* in the session and register it with the app proxy.

        *port* picks one of the app's ports (1024 to 65535; the primary one by default);
        *arguments* and *envs* are the app's command-line arguments and environment, among
        those its `AppInfo` allows. Answers the app proxy's ``token`` and ``wsproxy_addr``.
        A resource group without an app proxy makes the manager answer 503.

        ```python
        started = await client.sessions.start_service("my-session", "jupyter")
        print(started["wsproxy_addr"], started["token"])
        ```
        """
        body = _service_params(app, port, arguments, envs)
        url = self._transport.url("session", _check_name("session_id", session_id), "start-service")
        answer = await self._transport.call("POST", url, json=body, timeout=timeout)
        return cast(StartedService, answer)

    async def shutdown_service(
        self, session_id: str, app: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> None:
        """Stop the session's *app* service.

        ```python
        await client.sessions.shutdown_service("my-session", "jupyter")
        ```
        """
        url = self._transport.url(
            "session", _check_name("session_id", session_id), "shutdown-service"
        )
        params = {"service_name": _check_name("app", app)}
        await self._transport.call("POST", url, params=params, timeout=timeout)

    @asynccontextmanager
    async def tunnel(
        self,
        session_id: str,
        *,
        app: str,
        port: int | None = None,
        local_port: int = 0,
        arguments: Mapping[str, Any] | None = None,
        envs: Mapping[str, str] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[tuple[str, int]]:
        """Serve the session's *app* on a local port: ``async with`` yields ``(host, port)``.

        A TCP listener on ``127.0.0.1`` (at *local_port*; any free port with 0) relays each
        connection it accepts over a websocket of its own, as the official CLI's
        ``backend.ai app`` does. *port* picks one of the app's ports; *arguments* and *envs*
        are passed when the app starts, as with `start_service`. The app must be one of the
        session's `apps`, else [`InvalidArgumentError`][backendai_aio.InvalidArgumentError]
        is raised before listening. A connection the session cannot serve is closed (and
        logged). Leaving the block closes the listener and every relay in bounded time.

        ```python
        async with client.sessions.tunnel("my-session", app="jupyter") as (host, port):
            print(f"http://{host}:{port}/")
        ```
        """
        params = _service_params(app, port, arguments, envs)
        name = _check_name("session_id", session_id)
        if isinstance(local_port, bool) or not isinstance(local_port, int):
            raise InvalidArgumentError(f"local_port must be an int, not {local_port!r}")
        if not 0 <= local_port <= 65535:
            raise InvalidArgumentError(f"local_port must be from 0 to 65535, not {local_port}")
        listed = {item["name"]: item for item in await self.apps(name, timeout=timeout)}
        if app not in listed:
            raise InvalidArgumentError(
                f"the session {name!r} serves no app {app!r} (it serves: "
                f"{', '.join(sorted(listed)) or 'none'})"
            )
        if port is not None and port not in listed[app]["ports"]:
            raise InvalidArgumentError(f"the app {app!r} does not listen on port {port}")
        limits = resolve_timeout(timeout, self._transport.default_timeout, streaming=True)
        url = self._transport.url("stream", "session", name, "tcpproxy").with_query(params)

        async def open_socket() -> aiohttp.ClientWebSocketResponse:
            return await self._transport.websocket(url, limits, f"the tunnel to {app}")

        relays = TunnelRelays(open_socket, f"the tunnel to {name}:{app}")
        try:
            server = await asyncio.start_server(relays.handle, "127.0.0.1", local_port)
        except OSError as exc:
            raise InvalidArgumentError(f"cannot listen on 127.0.0.1:{local_port}: {exc}") from exc
        try:
            host, bound = server.sockets[0].getsockname()[:2]
            yield str(host), int(bound)
        finally:
            server.close()
            await relays.stop()
            try:
                async with asyncio.timeout(_LISTENER_CLOSE_LIMIT):
                    await server.wait_closed()
            except TimeoutError:
                pass

    @asynccontextmanager
    async def pty(
        self, session_id: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> AsyncIterator[Terminal]:
        r"""Open the session's pseudo-terminal: ``async with`` yields a `Terminal`.

        The websocket closes when the block ends; the session's terminal keeps running.
        *timeout* bounds connecting and, if its read limit is set, each wait for output.

        ```python
        async with client.sessions.pty("my-session") as terminal:
            await terminal.resize(24, 80)
            await terminal.write("ls\n")
            print(await terminal.read())
        ```
        """
        limits = resolve_timeout(timeout, self._transport.default_timeout, streaming=True)
        url = self._transport.url("stream", "session", _check_name("session_id", session_id), "pty")
        ws = await self._transport.websocket(url, limits, "the terminal")
        terminal = Terminal(ws, self._transport.absolute(url))
        try:
            yield terminal
        finally:
            await terminal.close()
