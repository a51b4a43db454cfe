"""Session and cluster templates: ``client.templates``, the manager's ``/template/...`` routes.

A session template (``kind: taskTemplate``) holds what a session creation takes (image,
resources, mounts, environment, startup command); a cluster template (``kind:
clusterTemplate``) names session templates by role. Every call takes ``kind="session"``
(the default) or ``kind="cluster"``.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast, overload

from ._catalog_types import CreatedTemplate, TemplateEntry, TemplateInfo, TemplateKind
from ._errors import InvalidArgumentError, ResponseError
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["Templates", "template_id_text", "template_payload"]

_Template = str | Mapping[str, Any] | Sequence[Mapping[str, Any]]


def _path(kind: str, template_id: str | uuid.UUID | None = None) -> str:
    if kind not in ("session", "cluster"):
        raise InvalidArgumentError(f"kind is 'session' or 'cluster', not {kind!r}")
    base = f"/template/{kind}"
    return base if template_id is None else f"{base}/{template_id_text(template_id)}"


def template_id_text(template_id: str | uuid.UUID) -> str:
    """A template id as the manager writes it (32 hex digits); anything else is refused."""
    try:
        parsed = template_id if isinstance(template_id, uuid.UUID) else uuid.UUID(template_id)
    except (TypeError, ValueError, AttributeError):
        raise InvalidArgumentError(f"a template id (a UUID), not {template_id!r}") from None
    return parsed.hex


def _session_item(template: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    # An item is {"template": {...}, "name"?, "group_id"?, "user_uuid"?}; a bare template
    # body (with its "kind") is wrapped into one.
    item: dict[str, Any] = (
        dict(template) if "template" in template else {"template": dict(template)}
    )
    if name is not None:
        item["name"] = name
    return item


def template_payload(template: _Template, kind: str, name: str | None = None) -> str:
    """The ``payload`` text the manager parses: *template* as given if text, else JSON.

    A session template may be one body, one item (``{"template": ..., "name": ...}``) or a
    list of them; a cluster template is one body.
    """
    if isinstance(template, str):
        if not template.strip():
            raise InvalidArgumentError("a template must not be empty")
        return template
    if kind == "cluster":
        if not isinstance(template, Mapping):
            raise InvalidArgumentError("a cluster template is one mapping")
        return json.dumps(dict(template))
    if isinstance(template, Mapping):
        items = [_session_item(template, name)]
    elif isinstance(template, Sequence):
        if not all(isinstance(t, Mapping) for t in template):
            raise InvalidArgumentError("a list of templates holds mappings only")
        items = [_session_item(cast("Mapping[str, Any]", t), name) for t in template]
    else:
        raise InvalidArgumentError(
            f"a template mapping, a list of them, or text, not {template!r:.80}"
        )
    if not items:
        raise InvalidArgumentError("no template to send")
    return json.dumps(items)


def _scope(body: dict[str, Any], owner_access_key: str | None) -> dict[str, Any]:
    if owner_access_key is not None:
        body["owner_access_key"] = owner_access_key
    return body


class Templates:
    """Session and cluster templates: create, list, read, replace and delete them.

    Reached as ``client.templates``; it uses only the transport. A template is given as a
    mapping (sent as JSON) or as the YAML or JSON text the manager parses:

    ```python
    (created,) = await client.templates.create({
        "api_version": "v1", "kind": "taskTemplate",
        "metadata": {"name": "py"},
        "spec": {"kernel": {"image": "python:3.12"}, "resources": {"cpu": 1}},
    })
    info = await client.templates.get(created["id"])
    ```
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<Templates of {self._transport!r}>"

    async def create(
        self,
        template: _Template,
        *,
        kind: TemplateKind = "session",
        name: str | None = None,
        group: str = "default",
        domain: str | None = None,
        owner_access_key: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> builtins.list[CreatedTemplate]:
        """``POST /template/{kind}``: store *template* in the project *group* (its name).

        *name* overrides the template's ``metadata.name``. Answers one ``{"id", "user"}``
        per template created (a session payload may hold several; a cluster template is
        one). Not retried: a second attempt would store a second copy.

        ```python
        (created,) = await client.templates.create(yaml_text, kind="cluster")
        ```
        """
        body: dict[str, Any] = {"group": group, "payload": template_payload(template, kind, name)}
        if domain is not None:
            body["domain"] = domain
        answer = await self._transport.request(
            "POST", _path(kind), json=_scope(body, owner_access_key), timeout=timeout
        )
        created = [answer] if isinstance(answer, Mapping) else answer
        if not isinstance(created, builtins.list):
            raise ResponseError(f"a template creation answer of an odd shape: {answer!r:.200}")
        return cast("builtins.list[CreatedTemplate]", created)

    async def list(
        self,
        *,
        kind: TemplateKind = "session",
        all: bool = False,
        group_id: str | uuid.UUID | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> builtins.list[TemplateEntry]:
        """``GET /template/{kind}``: the templates the caller may use.

        *all* lists every user's cluster templates (for a superadmin); *group_id* only
        those of one project.

        ```python
        for entry in await client.templates.list():
            print(entry["id"], entry["name"])
        ```
        """
        params: dict[str, str] = {}
        if all:
            params["all"] = "true"
        if group_id is not None:
            params["group_id"] = str(group_id)
        answer = await self._transport.request(
            "GET", _path(kind), params=params or None, timeout=timeout
        )
        if not isinstance(answer, builtins.list):
            raise ResponseError(f"a template listing that is not a list: {answer!r:.200}")
        return cast("builtins.list[TemplateEntry]", answer)

    @overload
    async def get(
        self,
        template_id: str | uuid.UUID,
        *,
        kind: Literal["session"] = ...,
        owner_access_key: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> TemplateInfo: ...

    @overload
    async def get(
        self,
        template_id: str | uuid.UUID,
        *,
        kind: Literal["cluster"],
        owner_access_key: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> dict[str, Any]: ...

    async def get(
        self,
        template_id: str | uuid.UUID,
        *,
        kind: TemplateKind = "session",
        owner_access_key: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> TemplateInfo | dict[str, Any]:
        """``GET /template/{kind}/{id}``: a session template, or a cluster template's body.

        ```python
        info = await client.templates.get(template_id)
        print(info["template"]["spec"]["kernel"]["image"])
        ```
        """
        params = _scope({"format": "json"}, owner_access_key)
        answer = await self._transport.request(
            "GET", _path(kind, template_id), params=params, timeout=timeout
        )
        if not isinstance(answer, Mapping):
            raise ResponseError(f"a template that is not an object: {answer!r:.200}")
        return cast("TemplateInfo | dict[str, Any]", answer)

    async def update(
        self,
        template_id: str | uuid.UUID,
        template: _Template,
        *,
        kind: TemplateKind = "session",
        name: str | None = None,
        group: str = "default",
        domain: str | None = None,
        owner_access_key: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> bool:
        """``PUT /template/{kind}/{id}``: replace a template's body (and name).

        Answers the manager's ``success``.

        ```python
        await client.templates.update(template_id, new_body)
        ```
        """
        body: dict[str, Any] = {"payload": template_payload(template, kind, name)}
        if kind == "session":
            body["group"] = group
            if domain is not None:
                body["domain"] = domain
        answer = await self._transport.request(
            "PUT",
            _path(kind, template_id),
            json=_scope(body, owner_access_key),
            timeout=timeout,
        )
        return bool(answer.get("success")) if isinstance(answer, Mapping) else False

    async def delete(
        self,
        template_id: str | uuid.UUID,
        *,
        kind: TemplateKind = "session",
        owner_access_key: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> bool:
        """``DELETE /template/{kind}/{id}``: delete a template; answers ``success``.

        An unknown (or already deleted) id raises [`NotFoundError`][backendai_aio.NotFoundError].

        ```python
        await client.templates.delete(template_id)
        ```
        """
        params = _scope({}, owner_access_key)
        answer = await self._transport.request(
            "DELETE", _path(kind, template_id), params=params or None, timeout=timeout
        )
        return bool(answer.get("success")) if isinstance(answer, Mapping) else False
