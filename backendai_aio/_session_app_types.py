"""The manager's answers to the app-service calls of a compute session, as ``TypedDict``s.

The shapes are those of ``GET /stream/session/{name}/apps`` and
``POST /session/{name}/start-service`` in the manager's releases 23.09 to 26.9.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

__all__ = ["AppInfo", "StartedService"]


class AppInfo(TypedDict):
    """One service port of a session ([`Sessions.apps`][backendai_aio.Sessions.apps])."""

    #: The app's name (``jupyter``, ``ttyd``, ...; a preopened port is named by its number).
    name: str
    #: ``http``, ``tcp``, ``preopen``, ``pty``, ``vnc`` or ``rdp``.
    protocol: str
    #: The ports the app listens on inside the session, the primary one first.
    ports: list[int]
    #: How a client builds the app's address, e.g. ``"{protocol}://{host}:{port}/"``.
    url_template: NotRequired[str]
    #: The command-line arguments the app accepts from `start_service`.
    allowed_arguments: NotRequired[list[str]]
    #: The environment variables the app accepts from `start_service`.
    allowed_envs: NotRequired[list[str]]


class StartedService(TypedDict):
    """[`Sessions.start_service`][backendai_aio.Sessions.start_service]: where the app is served.

    The manager registers the started app with the resource group's app proxy, which serves
    it to a browser holding ``token``.
    """

    #: The app proxy's token for this app.
    token: str
    #: The app proxy's address, e.g. ``"https://proxy.example.com:10200"``.
    wsproxy_addr: str
