"""The emulator's images: which ones exist, how a reference resolves, what a miss says.

The emulated manager has one image row, the one the reference setup loads:
``cr.backend.ai/stable/python:3.9-ubuntu20.04``, alias ``python``. Beyond the manager, the
emulator also runs any other ``python`` image (``python:3.11``, ``registry/ns/python:tag``)
with the local interpreter, under the name it was asked for.

An unknown reference is refused with the manager's message, which names the reference parsed
as an image reference (registry, name and tag: ``foo`` is ``index.docker.io/lablup/foo:latest``)
and as an alias: ``Unknown image references: ref:'index.docker.io/lablup/foo:latest',
alias:'foo'``. A reference the manager cannot parse at all (an empty or malformed tag, a URL)
makes it fail with 500, and the emulator too.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from ._problems import ImageNotFound, InternalServerError

__all__ = [
    "DEFAULT_IMAGE",
    "IMAGES",
    "Image",
    "ResolvedImage",
    "canonical_reference",
    "resolve_image",
]

# Docker Hub, and the namespace a bare name lives in there, as the manager assumes them.
_DEFAULT_REGISTRY: Final = "index.docker.io"
_DEFAULT_NAMESPACE: Final = "lablup"
_TAG_SLUG: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-._]*[A-Za-z0-9])?$")
# Any ``python`` image (``python``, ``python:3.11``, ``cr.backend.ai/stable/python:3.9-...``)
# runs the local interpreter.
_PYTHON_IMAGE: Final = re.compile(r"(?:[\w.\-:]+/)*python(?::[\w.\-]+)?")


@dataclass(frozen=True)
class Image:
    """An image row of the manager's ``images`` table (the fields the emulator reports)."""

    id: uuid.UUID
    name: str
    tag: str
    registry: str
    aliases: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    #: Each slot's minimum and maximum (None: no maximum).
    resource_limits: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    architecture: str = "x86_64"
    digest: str = "sha256:" + "0" * 64
    size_bytes: int = 1000000

    @property
    def canonical(self) -> str:
        """``registry/name:tag``."""
        return f"{self.registry}/{self.name}:{self.tag}"


#: The image row of the reference setup (``image.sql``).
DEFAULT_IMAGE: Final = Image(
    id=uuid.UUID("a6f9a7a2-5b55-4c6e-9d3e-0f6b1c2d3e4f"),
    name="stable/python",
    tag="3.9-ubuntu20.04",
    registry="cr.backend.ai",
    aliases=("python",),
    labels={
        "ai.backend.kernelspec": "1",
        "ai.backend.features": "batch query uid-match user-input",
        "ai.backend.base-distro": "ubuntu20.04",
        "ai.backend.runtime-type": "python",
        "ai.backend.runtime-path": "/usr/bin/python3",
        "ai.backend.resource.min.cpu": "1",
        "ai.backend.resource.min.mem": "256m",
        "ai.backend.service-ports": "ipython:pty:3000,jupyter:http:8081",
    },
    resource_limits={"cpu": ("1", None), "mem": ("268435456", None)},
)

#: Every image row the emulated manager has.
IMAGES: Final = (DEFAULT_IMAGE,)


@dataclass(frozen=True)
class ResolvedImage:
    """What a session's image reference resolved to."""

    #: The name a session reports as its image.
    name: str
    registry: str
    #: The smallest resources a session of this image may ask for.
    min_cpu: Decimal = Decimal(1)
    #: The image's minimum memory plus the default shared memory (64 MiB).
    min_mem: Decimal = Decimal(256 + 64) * 2**20


def canonical_reference(reference: str) -> str:
    """*reference* read as an image reference (``registry/name:tag``), as the manager reads it.

    A bare name is on Docker Hub in the ``lablup`` namespace and a missing tag is ``latest``;
    with a slash, the first part is the registry. Raises 500 where the manager's own parser
    fails (a URL, an empty name or an invalid tag).
    """
    if "://" in reference or reference.startswith("//"):
        raise InternalServerError
    first, slash, rest = reference.partition("/")
    if not slash:
        registry, (name, tag) = _DEFAULT_REGISTRY, _split_tag(reference, bare_in_namespace=True)
    else:
        # Only Docker Hub gets its implicit namespace; any other registry is taken as named.
        registry = first
        name, tag = _split_tag(rest, bare_in_namespace=first == _DEFAULT_REGISTRY)
    if not _TAG_SLUG.search(tag):
        raise InternalServerError
    return f"{registry}/{name}:{tag}"


def _split_tag(text: str, *, bare_in_namespace: bool) -> tuple[str, str]:
    name, colon, tag = text.rpartition(":")
    if not colon:
        name, tag = text, "latest"
    if not name:
        raise InternalServerError
    if "/" not in name and bare_in_namespace:
        name = f"{_DEFAULT_NAMESPACE}/{name}"
    return name, tag


def find_image(reference: str) -> Image | None:
    """The manager's image row named or aliased by *reference*, if any."""
    for image in IMAGES:
        if reference in image.aliases or reference == image.canonical:
            return image
    try:
        canonical = canonical_reference(reference)
    except InternalServerError:
        return None
    return next((image for image in IMAGES if image.canonical == canonical), None)


def resolve_image(reference: str) -> ResolvedImage:
    """Resolve a session's image reference, or raise the manager's 404 (or 500)."""
    row = find_image(reference)
    if row is not None:
        return ResolvedImage(row.canonical, row.registry)
    if _PYTHON_IMAGE.fullmatch(reference) is not None:
        # The emulator's own python images keep the name they were asked for.
        registry = reference.partition("/")[0] if "/" in reference else _DEFAULT_REGISTRY
        return ResolvedImage(reference, registry)
    canonical = canonical_reference(reference)
    raise ImageNotFound(f"Unknown image references: ref:{canonical!r}, alias:{reference!r}")


def image_labels(image: Image) -> list[dict[str, Any]]:
    """The image's labels as GraphQL answers them (``[{key, value}]``)."""
    return [{"key": key, "value": value} for key, value in image.labels.items()]
