"""Resource groups, slots and usage: ``client.resources``.

``/scaling-groups``, ``/config/resource-slots`` (and ``/details``), ``/config/vfolder-types``,
``/resource/presets`` and ``/resource/usage/{month,period}`` (the usage calls are a
superadmin's).
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

from ._catalog_types import GroupUsage, ProjectUsage, ResourceSlotInfo, ScalingGroupEntry
from ._errors import InvalidArgumentError, ResponseError
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["DEFAULT_PROJECT", "Resources", "day_text", "month_text"]

#: The project every example user belongs to, which
#: [`Resources.check_presets`][backendai_aio.Resources.check_presets] names when it is given none.
DEFAULT_PROJECT = "default"


def month_text(month: str | dt.date) -> str:
    """A month as the manager takes it: ``YYYYMM`` (from a date, or text already so)."""
    if isinstance(month, dt.date):
        return f"{month.year:04d}{month.month:02d}"
    if isinstance(month, str) and len(month) == 6 and month.isdigit():
        return month
    raise InvalidArgumentError(f"a month as 'YYYYMM' or a date, not {month!r}")


def day_text(day: str | dt.date) -> str:
    """A day as the manager takes it: ``YYYYMMDD`` (from a date, or text already so)."""
    if isinstance(day, dt.date):
        return f"{day.year:04d}{day.month:02d}{day.day:02d}"
    if isinstance(day, str) and len(day) == 8 and day.isdigit():
        return day
    raise InvalidArgumentError(f"a day as 'YYYYMMDD' or a date, not {day!r}")


def _mapping(answer: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(answer, Mapping):
        raise ResponseError(f"{what} that is not an object: {answer!r:.200}")
    return answer


def _usage(answer: Any) -> builtins.list[Any]:
    if not isinstance(answer, builtins.list):
        raise ResponseError(f"a usage answer that is not a list: {answer!r:.200}")
    return answer


class Resources:
    """What the caller may use: resource groups, slots, folder types, presets, usage.

    Reached as ``client.resources``; it uses only the transport:

    ```python
    groups = await client.resources.scaling_groups("default")
    slots = await client.resources.resource_slots()
    presets = await client.resources.presets(scaling_group=groups[0]["name"])
    ```
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<Resources of {self._transport!r}>"

    async def scaling_groups(
        self, group: str | uuid.UUID = "default", *, timeout: TimeoutArg = NOT_GIVEN
    ) -> builtins.list[ScalingGroupEntry]:
        """``GET /scaling-groups``: the resource groups open to the project *group*.

        *group* is the project's name or id. A plain user sees the public ones only.

        ```python
        names = [g["name"] for g in await client.resources.scaling_groups("default")]
        ```
        """
        answer = await self._transport.request(
            "GET", "/scaling-groups", params={"group": str(group)}, timeout=timeout
        )
        groups = _mapping(answer, "a scaling-group listing").get("scaling_groups")
        if not isinstance(groups, builtins.list):
            raise ResponseError(f"a scaling-group listing without a list: {answer!r:.200}")
        return cast("builtins.list[ScalingGroupEntry]", groups)

    async def resource_slots(self, *, timeout: TimeoutArg = NOT_GIVEN) -> dict[str, str]:
        """``GET /config/resource-slots``: each slot the cluster knows and its unit.

        ```python
        assert (await client.resources.resource_slots())["mem"] == "bytes"
        ```
        """
        answer = await self._transport.request("GET", "/config/resource-slots", timeout=timeout)
        return {str(k): str(v) for k, v in _mapping(answer, "a slot listing").items()}

    async def resource_slot_details(
        self, *, scaling_group: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> dict[str, ResourceSlotInfo]:
        """``GET /config/resource-slots/details``: how each slot is shown (name, unit, icon).

        *scaling_group* keeps the slots that group's agents offer (and ``cpu``, ``mem``).

        ```python
        details = await client.resources.resource_slot_details()
        print(details["cpu"]["display_unit"])
        ```
        """
        params = None if scaling_group is None else {"sgroup": scaling_group}
        answer = await self._transport.request(
            "GET", "/config/resource-slots/details", params=params, timeout=timeout
        )
        return cast("dict[str, ResourceSlotInfo]", dict(_mapping(answer, "slot details")))

    async def vfolder_types(self, *, timeout: TimeoutArg = NOT_GIVEN) -> builtins.list[str]:
        """``GET /config/vfolder-types``: the kinds of folder allowed (``user``, ``group``).

        ```python
        assert "user" in await client.resources.vfolder_types()
        ```
        """
        answer = await self._transport.request("GET", "/config/vfolder-types", timeout=timeout)
        if not isinstance(answer, builtins.list):
            raise ResponseError(f"a folder-type listing that is not a list: {answer!r:.200}")
        return [str(item) for item in answer]

    async def presets(
        self, *, scaling_group: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> builtins.list[dict[str, Any]]:
        """``GET /resource/presets``: the resource presets (``name``, ``resource_slots``...).

        *scaling_group* asks for the presets of that group (26.09; 23.09 answers every
        preset).

        ```python
        for preset in await client.resources.presets():
            print(preset["name"], preset["resource_slots"])
        ```
        """
        params = None if scaling_group is None else {"scaling_group": scaling_group}
        answer = await self._transport.request(
            "GET", "/resource/presets", params=params, timeout=timeout
        )
        presets = _mapping(answer, "a preset listing").get("presets")
        if not isinstance(presets, builtins.list):
            raise ResponseError(f"a preset listing without a list: {answer!r:.200}")
        return cast("builtins.list[dict[str, Any]]", presets)

    async def check_presets(
        self,
        *,
        group: str | None = None,
        scaling_group: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> dict[str, Any]:
        """`POST /resource/check-presets`: which presets fit now, with limits and usage.

        ```python
        report = await client.resources.check_presets(group="default")
        print(report["keypair_remaining"])
        ```

        Args:
            group: The project's **name**; without it the default project (`"default"`) is
                asked for. Managers since 25.15 require a project name (an id is 404
                `project-not-found`, no group at all is 400); older ones took a name or an
                id and defaulted to `"default"` themselves.
            scaling_group: The resource group to check in.
            timeout: The limits of this call.

        Returns:
            The presets (`presets`, each with `allocatable`), the keypair's, project's and
            groups' limits and what remains.
        """
        body = {"group": DEFAULT_PROJECT if group is None else group}
        if scaling_group is not None:
            body["scaling_group"] = scaling_group
        answer = await self._transport.request(
            "POST", "/resource/check-presets", json=body, timeout=timeout
        )
        return dict(_mapping(answer, "a preset check"))

    async def usage_per_month(
        self,
        month: str | dt.date,
        *,
        group_ids: Iterable[str | uuid.UUID] = (),
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> builtins.list[GroupUsage]:
        """``GET /resource/usage/month``: each project's sessions of *month* (superadmin).

        *month* is ``"YYYYMM"`` or a date in it; *group_ids* keeps those projects only
        (23.09 requires at least one; 26.09 takes all without). A plain user's call is an
        `AuthenticationError` on 23.09 and a `PermissionDeniedError` on 26.09.

        ```python
        for group in await client.resources.usage_per_month("202612"):
            print(group["g_name"], len(group["c_infos"]))
        ```
        """
        # One group_ids parameter per id: both 23.09 and 26.09 read the repeated key.
        params = [("month", month_text(month))]
        params += [("group_ids", str(group_id)) for group_id in group_ids]
        answer = await self._transport.request(
            "GET", "/resource/usage/month", params=params, timeout=timeout
        )
        return _usage(answer)

    async def usage_per_period(
        self,
        start: str | dt.date,
        end: str | dt.date,
        *,
        group_id: str | uuid.UUID | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> builtins.list[GroupUsage | ProjectUsage]:
        """``GET /resource/usage/period``: the sessions from *start* to *end* (superadmin).

        Both days are included (``"YYYYMMDD"`` or dates; at most 100 days apart);
        *group_id* keeps one project only (23.09 requires it; 26.09 takes all without).
        23.09 answers a [`GroupUsage`][backendai_aio.GroupUsage] per project, 26.09 a
        [`ProjectUsage`][backendai_aio.ProjectUsage] (its sessions by id, each with its
        kernels); ``"sessions" in entry`` tells them apart:

        ```python
        for entry in await client.resources.usage_per_period(date(2026, 12, 1), date.today()):
            if "sessions" in entry:
                print(entry["project_name"], len(entry["sessions"]))
            else:
                print(entry["g_name"], len(entry["c_infos"]))
        ```
        """
        params = {"start_date": day_text(start), "end_date": day_text(end)}
        if group_id is not None:
            params["group_id"] = str(group_id)
        answer = await self._transport.request(
            "GET", "/resource/usage/period", params=params, timeout=timeout
        )
        return _usage(answer)
