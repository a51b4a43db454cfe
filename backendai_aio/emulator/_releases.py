"""Release profiles: which manager release the emulator behaves as.

A profile fixes what differs between releases for the calls the SDKs make: the API versions
the manager accepts, ``GET /``'s manager version, the problem bodies (26.9 adds an
``error_code`` to each, and reports an unknown session as ``entity-not-found``), session
restart, the check-presets rules, folder deletion (to the trash since 24.03), the session
event filter and the creation ``config`` keys. ``--api-version`` then picks an older version
inside a profile, as a client that speaks an older version would.

The facts come from the releases' sources (``ai/backend/manager/server.py`` of 23.9.10,
``ai/backend/manager/api/rest/`` of 26.9.6) and from a real 26.9.6 manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from .._apiversion import ApiVersion, parse_api_version
from ._problems import (
    EntityNotFound,
    InvalidAPIParameters,
    Problem,
    SessionNotFound,
    VFolderAlreadyExists,
    VFolderNameTaken,
)

__all__ = [
    "DEFAULT_RELEASE",
    "RELEASES",
    "RELEASE_KEY",
    "SERVED_VERSIONS_KEY",
    "ReleaseProfile",
    "ServedVersions",
    "release_profile",
]

# The versions each release's manager accepts in X-BackendAI-Version (from v5 on; older ones
# are API v4, which the client no longer speaks but the managers still accept).
_V4: Final = ("v4.20181215", "v4.20190115", "v4.20190315", "v4.20190615")
_VERSIONS_23_09: Final = (
    *_V4,
    "v5.20191215",
    "v6.20200815",
    "v6.20210815",
    "v6.20220315",
    "v6.20220615",
    "v6.20230315",
    "v7.20230615",
)
_VERSIONS_26_9: Final = (
    *_V4,
    "v5.20191215",
    "v6.20200815",
    "v6.20220315",
    "v6.20220615",
    "v6.20221201",
    "v6.20230315",
    "v7.20230615",
    "v8.20240315",
    "v8.20240915",
    "v9.20250722",
)


@dataclass(frozen=True)
class ReleaseProfile:
    """What one manager release does differently, for the calls the emulator serves."""

    #: The release's short name: ``"23.09"`` or ``"26.9"``.
    name: str
    #: The manager version ``GET /`` reports.
    manager_version: str
    #: Every API version the release accepts, oldest first; the last one is its newest.
    api_versions: tuple[str, ...]
    #: Problem bodies carry an ``error_code`` (26.9's ``domain_operation_detail`` codes).
    error_codes: bool
    #: ``PATCH /session/{name}`` restarts the kernel (26.9 answers 501).
    restarts_sessions: bool
    #: ``/resource/check-presets`` requires ``group``, a project name (26.9).
    presets_need_group_name: bool
    #: ``DELETE /folders/{name}`` moves the folder to the trash, its name staying taken.
    folder_trash: bool
    #: ``GET /events/session`` reads ``sessionName`` only (``name`` is ignored), and an unknown
    #: session name is a 404 at once (26.9).
    events_by_session_name: bool
    #: ``config`` takes ``mount_ids``, ``mount_id_map`` and ``attach_network`` at API v9, and
    #: the top-level creation options of 26.9 (``priority``, ``job_priority``, ...) are known.
    creation_v9: bool
    #: ``GET /folders/_/id`` resolves a folder name to its id.
    folder_id_lookup: bool

    @property
    def latest_api_version(self) -> str:
        """The newest API version the release speaks (what ``GET /`` advertises)."""
        return self.api_versions[-1]

    def accepts(self, api_version: str) -> bool:
        """Whether the release accepts *api_version* as its newest (``--api-version``)."""
        return api_version in self.api_versions and not api_version.startswith("v4.")

    def accepted_up_to(self, api_version: str) -> frozenset[str]:
        """The versions a server of this release limited to *api_version* accepts."""
        newest = parse_api_version(api_version)
        return frozenset(v for v in self.api_versions if parse_api_version(v) <= newest)

    def render(self, problem: Problem, headers: dict[str, str] | None = None) -> web.Response:
        """Answer *problem* as this release words it."""
        if self.name != "23.09":
            if isinstance(problem, SessionNotFound):
                problem = EntityNotFound("No SessionRow matches the given key", entity="session")
            elif isinstance(problem, VFolderNameTaken):
                # A name already taken (also by a folder in the trash): 26.9 wraps its
                # conflict in a 400 invalid-api-params that carries both messages.
                problem = InvalidAPIParameters(
                    f"{problem.title} (VFolder with the given name already exists. "
                    f"({problem.name}))"
                )
            elif isinstance(problem, VFolderAlreadyExists):
                # An invitation to a name already held: 409 Conflict (23.09: 400).
                problem.status = 409
        return problem.to_response(headers, error_code=self.error_codes)


#: The release profiles, by name.
RELEASES: Final[Mapping[str, ReleaseProfile]] = {
    "23.09": ReleaseProfile(
        name="23.09",
        manager_version="23.9.10",
        api_versions=_VERSIONS_23_09,
        error_codes=False,
        restarts_sessions=True,
        presets_need_group_name=False,
        folder_trash=False,
        events_by_session_name=False,
        creation_v9=False,
        folder_id_lookup=False,
    ),
    "26.9": ReleaseProfile(
        name="26.9",
        manager_version="26.9.6",
        api_versions=_VERSIONS_26_9,
        error_codes=True,
        restarts_sessions=False,
        presets_need_group_name=True,
        folder_trash=True,
        events_by_session_name=True,
        creation_v9=True,
        folder_id_lookup=True,
    ),
}

#: The profile ``Emulator()`` uses when none is named: the newest release.
DEFAULT_RELEASE: Final = "26.9"

#: Where an application keeps its `ReleaseProfile`.
RELEASE_KEY: Final = web.AppKey("release", ReleaseProfile)


@dataclass(frozen=True)
class ServedVersions:
    """What ``GET /`` (and the webserver's ``GET /func/ping``) report."""

    #: The newest API version the emulated manager speaks.
    api_version: str
    #: The manager (and webserver) release that goes with it.
    manager_version: str


#: Where an application keeps its `ServedVersions`.
SERVED_VERSIONS_KEY: Final = web.AppKey("served_versions", ServedVersions)


def release_profile(name: str) -> ReleaseProfile:
    """The profile called *name* (``"23.09"`` or ``"26.9"``); else `ValueError`."""
    try:
        return RELEASES[name]
    except KeyError:
        known = ", ".join(RELEASES)
        raise ValueError(f"unknown release {name!r}; the emulator knows {known}") from None


def is_v9(version: ApiVersion) -> bool:
    """Whether a call speaks API v9 (the version of 25.x and 26.x)."""
    return version.major >= 9
