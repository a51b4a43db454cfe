"""Every public call of every namespace (and of the folder handle) has an example.

An example is a ``python`` code block of docs/ that calls it (``.name(``), or one in the
call's own docstring; the docs' code blocks themselves run in test_docs_examples.py.
"""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path

import pytest

import backendai_aio
from backendai_aio import Client, VFolder

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _namespaces() -> dict[str, type]:
    """The client's namespace properties and the classes they answer."""
    found: dict[str, type] = {}
    for name in dir(Client):
        attribute = inspect.getattr_static(Client, name)
        if name.startswith("_") or not isinstance(attribute, functools.cached_property):
            continue
        # A public class, named by its string annotation (imported on first use by the package).
        hint = attribute.func.__annotations__.get("return")
        answered = getattr(backendai_aio, hint, None) if isinstance(hint, str) else hint
        if inspect.isclass(answered) and answered.__module__.startswith("backendai_aio."):
            found[name] = answered
    return found


def _calls() -> list[tuple[str, str, object]]:
    owners = {**_namespaces(), "vfolders.get(...)": VFolder}
    return [
        (owner, name, function)
        for owner, cls in owners.items()
        for name, function in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    ]


def _doc_blocks() -> str:
    text = "\n".join(page.read_text(encoding="utf-8") for page in DOCS.glob("*.md"))
    return "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))


def test_the_namespaces_are_found() -> None:
    # The guard below must look at the real namespaces, not at an empty list.
    assert {"sessions", "vfolders", "services", "events", "auth", "resources"} <= set(_namespaces())
    assert len(_calls()) > 100


@pytest.mark.parametrize(
    ("owner", "name", "function"), [pytest.param(*c, id=f"{c[0]}.{c[1]}") for c in _calls()]
)
def test_every_call_has_an_example(owner: str, name: str, function: object) -> None:
    in_docstring = "```python" in (inspect.getdoc(function) or "")
    assert in_docstring or f".{name}(" in _doc_blocks(), f"{owner}.{name} has no example"
