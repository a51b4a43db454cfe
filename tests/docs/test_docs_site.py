"""The documentation site's promises, checked on its sources (the build itself needs MkDocs)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import backendai_aio
import backendai_aio.emulator

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"

#: ruff's line length, to which the stylesheet fits the content column.
COLUMNS = 100


def _code_lines(page: Path) -> list[str]:
    lines, inside = [], False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def test_the_site_opens_from_the_disk() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    # Directory URLs (getting-started/) open a folder listing from file://; file URLs work.
    assert re.search(r"^use_directory_urls: false$", config, flags=re.MULTILINE)
    assert "stylesheets/extra.css" in config and (DOCS / "stylesheets" / "extra.css").is_file()


@pytest.mark.parametrize(
    ("module", "prefix"),
    [(backendai_aio, "backendai_aio"), (backendai_aio.emulator, "backendai_aio.emulator")],
)
def test_every_public_name_is_in_the_reference(module: object, prefix: str) -> None:
    reference = (DOCS / "reference.md").read_text()
    missing = [
        name
        for name in getattr(module, "__all__")  # noqa: B009 (a module given as a parameter)
        if not re.search(rf"^::: {re.escape(prefix)}\.{re.escape(name)}$", reference, re.M)
    ]
    assert not missing, f"add to docs/reference.md: {missing}"


def test_the_pytest_fixtures_are_in_the_reference() -> None:
    reference = (DOCS / "reference.md").read_text()
    for name in ("backendai_emulator", "backendai_emulator_isolated", "EmulatorThread"):
        assert f"::: backendai_aio.emulator.pytest_plugin.{name}\n" in reference


@pytest.mark.parametrize(
    "page", ["index.md", "getting-started.md", "configuration.md", "reference.md", "emulator.md"]
)
def test_code_fits_the_column(page: str) -> None:
    long = [line for line in _code_lines(DOCS / page) if len(line) > COLUMNS]
    assert not long, f"{page}: code lines over {COLUMNS} columns: {long}"


def test_the_home_page_says_what_the_sdk_is_first() -> None:
    text = (DOCS / "index.md").read_text()
    first_command = text.index("```sh")
    assert text.index("client SDK for [Backend.AI]") < first_command
    assert text.index("```python") < first_command


def test_getting_started_names_a_backend_then_teaches_run() -> None:
    text = (DOCS / "getting-started.md").read_text()
    first_python = text.index("```python")
    before = text[:first_python]
    assert "BACKEND_ENDPOINT" in before and "python -m backendai_aio.emulator" in before
    first_block = text[first_python : text.index("```\n", first_python + 3)]
    assert "client.sessions.run(" in first_block and "execute(" not in first_block
    assert text.index("client.sessions.run(") < text.index("client.execute(")


_SPHINX_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):`")


def _documented() -> list[tuple[str, str]]:
    """Every docstring the reference renders: the public names and their public members."""
    found: list[tuple[str, str]] = []
    for module in (backendai_aio, backendai_aio.emulator):
        for name in getattr(module, "__all__"):  # noqa: B009 (either module)
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            found.append((f"{module.__name__}.{name}", inspect.getdoc(obj) or ""))
            if not inspect.isclass(obj):
                continue
            for klass in obj.__mro__:
                if not klass.__module__.startswith("backendai_aio"):
                    continue
                for member, value in vars(klass).items():
                    doc = getattr(value, "__doc__", None)
                    if not member.startswith("_") and isinstance(doc, str):
                        found.append((f"{module.__name__}.{name}.{member}", inspect.cleandoc(doc)))
    return found


def test_docstrings_are_markdown_for_mkdocstrings() -> None:
    # mkdocstrings renders the docstrings as Markdown with Google-style sections: a Sphinx
    # role or a reST "::" literal block would reach the page as raw text.
    wrong = [
        name
        for name, doc in _documented()
        if _SPHINX_ROLE.search(doc)
        or any(line.rstrip().endswith("::") for line in doc.splitlines())
    ]
    assert not wrong, f"reST markup in docstrings (use Markdown): {sorted(set(wrong))}"
