"""Images: ``client.images``, the manager's image rows through its GraphQL ``images``/``image``.

Both fields exist, with the fields read here, from the 23.09 manager to 26.09; the answers are
turned into [`ImageEntry`][backendai_aio.ImageEntry] mappings (labels as a ``dict``, the canonical
``reference`` added).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Final, TypedDict

from ._errors import InvalidArgumentError, NotFoundError, ResponseError
from ._gql_call import graphql_data
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["ImageEntry", "ImageResourceLimit", "Images"]

# The fields every supported manager's ``Image`` type has (26.09 adds namespace, status...).
_FIELDS: Final = (
    "id name humanized_name tag registry architecture digest aliases size_bytes "
    "supported_accelerators installed labels { key value } resource_limits { key min max }"
)
_LIST: Final = (
    f"query($is_operation: Boolean) {{ images(is_operation: $is_operation) {{ {_FIELDS} }} }}"
)
_GET: Final = (
    f"query($reference: String!, $architecture: String) "
    f"{{ image(reference: $reference, architecture: $architecture) {{ {_FIELDS} }} }}"
)


class ImageResourceLimit(TypedDict):
    """One resource slot an image needs: its minimum and maximum (``None``: no maximum)."""

    key: str
    min: str | None
    max: str | None


class ImageEntry(TypedDict):
    """An image row as the manager reports it."""

    id: str | None
    #: ``registry/name:tag``, what a session's ``image`` may name.
    reference: str
    name: str
    humanized_name: str | None
    tag: str
    registry: str
    architecture: str
    digest: str | None
    aliases: builtins.list[str]
    size_bytes: int | None
    supported_accelerators: builtins.list[str]
    installed: bool | None
    #: The image's labels (``ai.backend.*`` and the rest), by key.
    labels: dict[str, str]
    resource_limits: builtins.list[ImageResourceLimit]


def image_entry(raw: Any) -> ImageEntry:
    """Turn one GraphQL ``Image`` object into an [`ImageEntry`][backendai_aio.ImageEntry]."""
    if not isinstance(raw, Mapping):
        raise ResponseError(f"an image entry that is not an object: {raw!r:.200}")

    def text(key: str) -> str:
        value = raw.get(key)
        return "" if value is None else str(value)

    labels: dict[str, str] = {}
    for label in raw.get("labels") or ():
        if isinstance(label, Mapping) and label.get("key") is not None:
            labels[str(label["key"])] = "" if label.get("value") is None else str(label["value"])
    limits: builtins.list[ImageResourceLimit] = [
        ImageResourceLimit(key=str(item.get("key")), min=item.get("min"), max=item.get("max"))
        for item in raw.get("resource_limits") or ()
        if isinstance(item, Mapping)
    ]
    digest = raw.get("digest")
    return ImageEntry(
        id=None if raw.get("id") is None else str(raw["id"]),
        reference=f"{text('registry')}/{text('name')}:{text('tag')}",
        name=text("name"),
        humanized_name=raw.get("humanized_name"),
        tag=text("tag"),
        registry=text("registry"),
        architecture=text("architecture"),
        # 23.09 pads the digest column with a blank.
        digest=digest.strip() if isinstance(digest, str) else None,
        aliases=[str(alias) for alias in raw.get("aliases") or ()],
        size_bytes=raw.get("size_bytes"),
        supported_accelerators=[
            str(item) for item in raw.get("supported_accelerators") or () if item
        ],
        installed=raw.get("installed"),
        labels=labels,
        resource_limits=limits,
    )


class Images:
    """The images the manager knows: list them, or look one up by reference.

    Reached as ``client.images``; it uses only the transport. Every call takes ``timeout=``
    and raises [`BackendError`][backendai_aio.BackendError] on failure:

    ```python
    for image in await client.images.list(architecture="x86_64"):
        print(image["reference"], image["labels"].get("ai.backend.runtime-type"))
    ```
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<Images of {self._transport!r}>"

    async def list(
        self,
        *,
        architecture: str | None = None,
        operation: bool = False,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> builtins.list[ImageEntry]:
        """GraphQL ``images``: every image row (only those of *architecture* if given).

        *operation* also lists the images the manager uses for its own operations (the
        official SDK's ``operation=``). The manager has no architecture argument: the
        filter applies to its answer.

        ```python
        images = await client.images.list()
        print([image["reference"] for image in images])
        ```
        """
        if architecture is not None and not isinstance(architecture, str):
            raise InvalidArgumentError(f"an architecture name, not {architecture!r}")
        data = await graphql_data(
            self._transport, _LIST, {"is_operation": bool(operation)}, timeout=timeout
        )
        rows = data.get("images")
        if not isinstance(rows, builtins.list):
            raise ResponseError(f"a GraphQL images answer that is not a list: {rows!r:.200}")
        entries = [image_entry(row) for row in rows]
        if architecture is not None:
            entries = [entry for entry in entries if entry["architecture"] == architecture]
        return entries

    async def get(
        self,
        reference: str,
        *,
        architecture: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> ImageEntry:
        """GraphQL ``image``: the image *reference* names (canonical name or alias).

        *architecture* defaults to the manager's own. An unknown reference raises
        [`GraphQLError`][backendai_aio.GraphQLError] with the manager's message.

        ```python
        image = await client.images.get("python")
        print(image["reference"], image["resource_limits"])
        ```
        """
        if not isinstance(reference, str) or not reference:
            raise InvalidArgumentError(f"an image reference, not {reference!r}")
        variables: dict[str, Any] = {"reference": reference}
        if architecture is not None:
            variables["architecture"] = architecture
        data = await graphql_data(self._transport, _GET, variables, timeout=timeout)
        row = data.get("image")
        if row is None:
            raise NotFoundError(f"POST /admin/gql: no image {reference!r}", status=200)
        return image_entry(row)
