"""Typed results of the high-level helpers, built from the manager's raw answers (pure)."""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ResponseError

__all__ = [
    "CONTINUING_STATUSES",
    "TERMINAL_STATUSES",
    "ConsoleItem",
    "FileEntry",
    "RunResult",
    "session_entries",
    "vfolder_entries",
]

#: Statuses after which `Sessions.run` asks for more with mode ``continue``.
CONTINUING_STATUSES = frozenset({"continued", "build-finished", "clean-finished"})
#: Statuses that end a run.
TERMINAL_STATUSES = frozenset({"finished", "exec-timeout"})


@dataclass(frozen=True, slots=True)
class ConsoleItem:
    """One ``[kind, payload]`` console entry: ``stdout``, ``stderr``, ``media``, ``html``, ..."""

    kind: str
    payload: Any


@dataclass(slots=True)
class RunResult:
    """The outcome of `Sessions.run`: what the code printed and how it ended."""

    #: The run id used for every step.
    run_id: str
    #: The final status: ``finished`` or ``exec-timeout``.
    status: str = ""
    #: The exit code, when the run finished.
    exit_code: int | None = None
    #: Every console item, in order.
    console: list[ConsoleItem] = field(default_factory=list)
    #: Files the run reported (batch mode's ``files``).
    files: list[Any] = field(default_factory=list)
    #: The raw ``result`` objects of every step, for what the typed fields leave out.
    raw: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def stdout(self) -> str:
        """Everything printed on standard output."""
        return "".join(str(item.payload) for item in self.console if item.kind == "stdout")

    @property
    def stderr(self) -> str:
        """Everything printed on standard error."""
        return "".join(str(item.payload) for item in self.console if item.kind == "stderr")

    @property
    def media(self) -> list[tuple[str, Any]]:
        """``(mime type, data)`` of each media item (images, plots)."""
        found = []
        for item in self.console:
            if item.kind == "media" and isinstance(item.payload, Sequence) and item.payload:
                found.append(
                    (str(item.payload[0]), item.payload[1] if len(item.payload) > 1 else None)
                )
        return found

    @property
    def html(self) -> list[str]:
        """The HTML items."""
        return [str(item.payload) for item in self.console if item.kind == "html"]

    @property
    def ok(self) -> bool:
        """Whether the run finished with exit code 0."""
        return self.status == "finished" and self.exit_code == 0

    def add_step(self, result: Mapping[str, Any]) -> list[ConsoleItem]:
        """Record one raw ``result`` object; return its new console items.

        A result whose ``console`` is not a list raises
        [`ResponseError`][backendai_aio.ResponseError] (nothing is recorded then).
        """
        console = result.get("console")
        if console is not None and not isinstance(console, list):
            raise ResponseError(
                f"an execution result whose console is not a list: {console!r:.100}",
                body=result,
            )
        self.raw.append(result)
        self.status = str(result.get("status", ""))
        exit_code = result.get("exitCode")
        if isinstance(exit_code, int) and not isinstance(exit_code, bool):
            self.exit_code = exit_code
        files = result.get("files")
        if isinstance(files, list):
            self.files.extend(files)
        items = []
        for entry in console or ():
            if isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 2:
                items.append(ConsoleItem(str(entry[0]), entry[1]))
        self.console.extend(items)
        return items


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of a folder listing, in a session or a virtual folder."""

    #: The entry's name (not its path).
    name: str
    #: ``FILE``, ``DIRECTORY`` or ``SYMLINK``.
    type: str
    #: The size in bytes.
    size: int
    #: The modification time as the server sent it (ISO text or a timestamp).
    modified: Any
    #: The server's entry, with every field it sent.
    raw: Mapping[str, Any]

    @property
    def is_dir(self) -> bool:
        """Whether the entry is a directory."""
        return self.type == "DIRECTORY"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        # OverflowError: a size of Infinity.
        return 0


def session_entries(listing: Any) -> list[FileEntry]:
    """Type the answer of `Sessions.list_files`, whose ``files`` is JSON text.

    Each entry there is ``{filename, size, mode, ctime, mtime, atime}``, ``mode`` a
    ``ls -l``-style string or a number.
    """
    text = listing.get("files") if isinstance(listing, Mapping) else None
    if not text:
        return []
    try:
        items = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ResponseError(
            f"a session file listing (list_files) that is not JSON: {text!r:.100}"
        ) from exc
    except RecursionError:
        raise ResponseError(
            "a session file listing (list_files) nested too deeply to decode"
        ) from None
    entries = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        mode = item.get("mode")
        if isinstance(mode, int):
            kind = (
                "DIRECTORY" if stat.S_ISDIR(mode) else "SYMLINK" if stat.S_ISLNK(mode) else "FILE"
            )
        else:
            kind = {"d": "DIRECTORY", "l": "SYMLINK"}.get(str(mode or "-")[:1], "FILE")
        entries.append(
            FileEntry(
                str(item.get("filename", "")), kind, _int(item.get("size")), item.get("mtime"), item
            )
        )
    return entries


def vfolder_entries(listing: Any) -> list[FileEntry]:
    """Type the answer of `VFolder.list_files` (``{"items": [...]}``).

    A listing whose ``items`` is not a list raises [`ResponseError`][backendai_aio.ResponseError].
    """
    items = listing.get("items") if isinstance(listing, Mapping) else None
    if items is not None and not isinstance(items, list):
        raise ResponseError(
            f"a folder listing (list_files) whose items is not a list: {items!r:.100}",
            body=listing,
        )
    return [
        FileEntry(
            str(item.get("name", "")),
            str(item.get("type", "FILE")),
            _int(item.get("size")),
            item.get("modified"),
            item,
        )
        for item in items or ()
        if isinstance(item, Mapping)
    ]
