"""Every Python code block of the README, docs/*.md and examples/*.md runs against the emulator.

The conventions, for whoever writes a page:

- Blocks fenced as ``python`` (or ``py``) or ``pycon`` run in the order of the page, in one
  namespace per page: a name defined by a block stays defined for the next ones, as in a
  notebook.
- Each page runs in an empty temporary folder, against a fresh in-process emulator:
  ``BACKEND_ENDPOINT``, ``BACKEND_ACCESS_KEY`` and ``BACKEND_SECRET_KEY`` point at it, so
  ``ClientConfig.from_env()`` works. The namespace starts with ``client``, an open ``Client``
  on it, and ``config``, its ``ClientConfig``; before each block the compute session
  ``my-session`` (image ``python:3.11``) exists. Blocks are the body of
  ``async with Client(config) as client:``: top-level ``await``, ``async with`` and
  ``async for`` are allowed. A block may show that frame itself
  (``async with Client(...) as client: ...``): the next block gets the page's client back.
- A block that calls ``asyncio.run(...)`` is a complete program: it runs in a thread of its
  own, with its own event loop.
- A ``pycon`` block (or a ``python`` block whose first line starts with ``>>>``) is a REPL
  transcript, as in ``python -m asyncio``: each ``>>>`` statement runs (with its ``...``
  lines), and what it prints must match the lines under it, where ``...`` stands for any text
  (doctest's ELLIPSIS). An expected traceback matches on its last line, the module path left
  out. Text before the first ``>>>`` (a shell prompt) is ignored.
- A block that only includes a file (pymdownx.snippets: ``--8<-- "examples/NAME.py"``, or
  the path between two ``--8<--`` lines, which ``ruff format`` leaves alone) shows an example
  that ``tests/docs/test_examples.py`` runs; here the file must exist.
- HTML comments right before a block (blank lines between them allowed) direct the run:

  - ``<!-- not-run: REASON -->`` skips the block; the reason is required. Keep these few.
    ``<!-- not-run-page: REASON -->``, on a line of its own anywhere in a page, skips the
    whole page (one of the few).
  - ``<!-- requires: MODULE, ... -->`` skips the block when an optional module (one of the
    ``examples`` extra) is not installed.
  - ``<!-- setup`` on a line, Python code on the next lines, then ``-->``: code run before
    the block in the same namespace, hidden from the rendered page; it prepares what the
    block assumes (local files, files in the session), not what it shows.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import doctest
import importlib.util
import inspect
import io
import logging
import os
import re
import sys
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backendai_aio import Client
from backendai_aio.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").glob("*.md")]
)
# The compute session that exists before each block.
SESSION, SESSION_IMAGE = "my-session", "python:3.11"
# The longest a block may take (a failing block should fail, not hang the suite).
BLOCK_TIMEOUT = 60.0

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")
_DIRECTIVE = re.compile(r"^<!--\s*(?P<key>[\w-]+)(?P<rest>.*?)(?:-->)?$", re.DOTALL)
_BLOCK_DIRECTIVE = re.compile(r"<!--\s*(not-run|requires|setup)(?![\w-])")
_PAGE_SKIP = re.compile(r"^<!--\s*not-run-page:(?P<reason>.*?)-->\s*$", re.MULTILINE)
_INCLUDE = re.compile(r'^--8<--(?:\s+"(?P<path>[^"]+)"|\n(?P<block>[^\n]+)\n--8<--)$')
_MODULE_PATH = re.compile(r"^(?:[A-Za-z_][\w]*\.)+(?=[A-Za-z_]\w*(?::|$))")
_CHECKER = doctest.OutputChecker()
_CHECK_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    """A fenced code block and the directives right before it."""

    page: Path
    line: int
    lang: str
    source: str
    not_run: str | None = None
    requires: list[str] = field(default_factory=list)
    setup: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def transcript(self) -> bool:
        first = self.source.lstrip().splitlines()[:1]
        return self.lang == "pycon" or bool(first and first[0].startswith(">>>"))

    @property
    def include(self) -> str | None:
        found = _INCLUDE.match(self.source.strip())
        return (found["path"] or found["block"].strip()) if found else None


def _apply(directive: str, block: Block) -> None:
    found = _DIRECTIVE.match(directive.strip())
    assert found is not None
    key, rest = found["key"], found["rest"]
    if key == "not-run":
        reason = rest.lstrip(":").strip()
        if not reason:
            raise ValueError(f"{block.where}: <!-- not-run: --> needs a reason")
        block.not_run = reason
    elif key == "requires":
        block.requires += [name.strip() for name in rest.lstrip(":").split(",") if name.strip()]
    elif key == "setup":
        block.setup += inspect.cleandoc("\n" + rest) + "\n"
    else:
        raise ValueError(f"{block.where}: unknown directive <!-- {key} -->")


def page_skip_reason(page: Path) -> str | None:
    """The reason of a ``<!-- not-run-page: REASON -->`` line, if the page has one."""
    found = _PAGE_SKIP.search(page.read_text(encoding="utf-8"))
    return found["reason"].strip() if found else None


def parse_blocks(page: Path) -> list[Block]:
    """The ``python`` and ``pycon`` blocks of a Markdown page, with their directives."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        fence = _FENCE.match(line)
        if stripped.startswith("<!--"):
            comment = [line]
            while "-->" not in comment[-1] and index + 1 < len(lines):
                index += 1
                comment.append(lines[index])
            text = "\n".join(comment)
            if _BLOCK_DIRECTIVE.match(text.strip()):
                pending.append(text.strip().removesuffix("-->"))
            index += 1
            continue
        if fence is None:
            if stripped:
                pending = []
            index += 1
            continue
        marker = fence["fence"]
        body: list[str] = []
        start = index + 2  # the block's first line, counted from 1
        index += 1
        while index < len(lines):
            closing = lines[index].strip()
            if closing.startswith(marker) and not closing.lstrip(marker[0]):
                break
            body.append(lines[index])
            index += 1
        index += 1
        if fence["lang"] in ("python", "py", "pycon"):
            indent = len(fence["indent"])
            source = "\n".join(text[indent:] for text in body) + "\n"
            block = Block(page, start, fence["lang"], source)
            for directive in pending:
                _apply(directive, block)
            blocks.append(block)
        pending = []
    return blocks


# -- running blocks ------------------------------------------------------------------------------


def _compile(source: str, filename: str, mode: str = "exec") -> types.CodeType:
    code: types.CodeType = compile(
        source, filename, mode, flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    return code


async def _execute(code: types.CodeType, namespace: dict[str, Any]) -> None:
    """Run compiled code in *namespace*, awaiting it if it has a top-level await."""
    result = types.FunctionType(code, namespace)()
    if inspect.iscoroutine(result):
        await result


def _is_program(source: str) -> bool:
    """Whether a block calls ``asyncio.run()``: then it is a program with its own loop."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "asyncio"
        ):
            return True
    return False


def _run_program(source: str, filename: str, namespace: dict[str, Any]) -> None:
    exec(_compile(source, filename), namespace)


def _strip_module_path(text: str) -> str:
    return "\n".join(_MODULE_PATH.sub("", line) for line in text.splitlines()) + "\n"


async def _run_transcript(block: Block, namespace: dict[str, Any]) -> None:
    examples = doctest.DocTestParser().get_examples(block.source, block.where)
    assert examples, f"{block.where}: a REPL transcript without a >>> line"
    for example in examples:
        where = f"{block.page.relative_to(ROOT)}:{block.line + example.lineno}"
        output = io.StringIO()
        raised: BaseException | None = None
        with contextlib.redirect_stdout(output):
            try:
                await _execute(_compile(example.source, where, "single"), namespace)
            except Exception as exc:
                raised = exc
        if example.exc_msg is not None:
            assert raised is not None, f"{where}: expected {example.exc_msg.strip()!r}, no error"
            got = f"{type(raised).__name__}: {raised}\n"
            want = _strip_module_path(example.exc_msg)
            assert _CHECKER.check_output(want, got, _CHECK_FLAGS), (
                f"{where}: {example.source.strip()}\nexpected: {want}got: {got}"
            )
            continue
        if raised is not None:
            raise AssertionError(f"{where}: {example.source.strip()} raised {raised!r}") from raised
        assert _CHECKER.check_output(example.want, output.getvalue(), _CHECK_FLAGS), (
            f"{where}: {example.source.strip()}\nexpected:\n{example.want}got:\n{output.getvalue()}"
        )


async def run_block(block: Block, namespace: dict[str, Any]) -> None:
    """Run one block (and its setup) in *namespace*."""
    if block.setup:
        await _execute(_compile(block.setup, f"{block.where} (setup)"), namespace)
    if block.transcript:
        await _run_transcript(block, namespace)
    elif _is_program(block.source):
        await asyncio.to_thread(_run_program, block.source, block.where, namespace)
    else:
        await _execute(_compile(block.source, block.where), namespace)


@contextlib.contextmanager
def _logger_levels() -> Iterator[None]:
    """Put back the levels of every logger, which a page may change."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *manager.loggerDict.values()]
    levels = {id(log): log.level for log in loggers if isinstance(log, logging.Logger)}
    try:
        yield
    finally:
        for log in [logging.getLogger(), *manager.loggerDict.values()]:
            if isinstance(log, logging.Logger):
                log.setLevel(levels.get(id(log), logging.NOTSET))


@contextlib.asynccontextmanager
async def page_environment(
    monkeypatch: pytest.MonkeyPatch, folder: Path
) -> AsyncIterator[dict[str, Any]]:
    """A fresh emulator, the environment pointing at it, and the page's namespace."""
    for name in list(os.environ):
        if name.startswith("BACKEND_"):
            monkeypatch.delenv(name)
    # Batch commands run "python": make it this interpreter.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(folder)
    async with Emulator() as emulator:
        monkeypatch.setenv("BACKEND_ENDPOINT", emulator.endpoint)
        monkeypatch.setenv("BACKEND_ACCESS_KEY", emulator.config.access_key)
        monkeypatch.setenv("BACKEND_SECRET_KEY", emulator.config.secret_key)
        async with Client(emulator.config) as client:
            with _logger_levels():
                yield {"__name__": "__main__", "client": client, "config": emulator.config}


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_pages_are_found() -> None:
    names = {_page_id(page) for page in PAGES}
    assert {"README.md", "docs/getting-started.md", "examples/repl.md"} <= names


def test_skipped_blocks_are_few_and_explained() -> None:
    skipped = [block.where for page in PAGES for block in parse_blocks(page) if block.not_run]
    skipped += [_page_id(page) for page in PAGES if page_skip_reason(page) is not None]
    assert len(skipped) <= 3, skipped
    for page in PAGES:
        assert page_skip_reason(page) != "", f"{_page_id(page)}: not-run-page needs a reason"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
async def test_code_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    reason = page_skip_reason(page)
    if reason:
        pytest.skip(reason)
    blocks = parse_blocks(page)
    runnable = [block for block in blocks if not block.not_run and not block.include]
    for block in blocks:
        if block.include:
            assert (ROOT / block.include).is_file(), f"{block.where}: no file {block.include}"
    if not runnable:
        return
    missing = sorted(
        {name for block in runnable for name in block.requires if not _importable(name)}
    )
    async with page_environment(monkeypatch, tmp_path) as namespace:
        client: Client = namespace["client"]
        for block in runnable:
            if any(name in missing for name in block.requires):
                continue
            if isinstance(namespace.get("client"), Client) and namespace["client"].closed:
                namespace["client"] = client
            await client.create_if_not_exists(SESSION_IMAGE, SESSION)
            try:
                async with asyncio.timeout(BLOCK_TIMEOUT):
                    await run_block(block, namespace)
            except Exception as exc:
                raise AssertionError(f"the block at {block.where} failed: {exc!r}") from exc
    if missing:
        pytest.skip(f"optional modules not installed: {', '.join(missing)}")


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None
