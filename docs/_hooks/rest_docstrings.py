"""Griffe extension: read the package's reST-flavoured docstrings as Markdown.

The docstrings use Sphinx roles (``:class:`~backendai_aio.Timeout```), ``::`` before literal
blocks and lists that follow a line of text directly. For the API reference, roles become code
spans, ``::`` a colon (the indented block after it is already a Markdown code block), and a
blank line goes before a list.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")


def _role(match: re.Match[str]) -> str:
    target = match["target"]
    if match["tilde"]:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def to_markdown(text: str) -> str:
    """Rewrite one docstring."""
    lines: list[str] = []
    for line in _ROLE.sub(_role, text).splitlines():
        stripped = line.strip()
        if stripped == "::":
            continue
        if stripped.endswith("::"):
            line = line[:-1]
        is_item = stripped.startswith(("- ", "* "))
        if is_item and lines and lines[-1].strip() and not lines[-1].lstrip().startswith("- "):
            lines.append("")
        lines.append(line)
    return "\n".join(lines)


class RestDocstrings(griffe.Extension):
    """Rewrite every docstring of the loaded objects."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called for each object griffe loads."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
