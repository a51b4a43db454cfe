"""The pure and local parts of whole-directory transfers (`VFolder.upload_tree`, ...).

The walk of a local tree, the directories to create on either side, one progress total fed by
each file's own, and a pool of at most *concurrency* jobs in flight. Links are never followed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .._errors import InvalidArgumentError, LocalIOError
from .destination import local_error
from .progress import ProgressCallback, TransferProgress

__all__ = [
    "TreeProgress",
    "Walk",
    "join",
    "leaf_directories",
    "local_root",
    "make_local_dirs",
    "pool",
    "walk_local",
]

_Job = TypeVar("_Job")


def join(base: str, rel: str) -> str:
    """The folder path of *rel* (tree-relative, ``""`` the root) under *base* (``.`` root)."""
    if not rel:
        return base
    return rel if base == "." else f"{base}/{rel}"


def leaf_directories(directories: Iterable[str]) -> list[str]:
    """The directories no other one is inside: creating these (with parents) creates all."""
    every = set(directories)
    # A directory's parent: "a/b" is inside "a", and every one is inside the root, "".
    parents = {d.rpartition("/")[0] for d in every if d}
    return sorted(every - parents)


def local_root(local_dir: object) -> Path:
    raw = os.fspath(local_dir) if isinstance(local_dir, str | os.PathLike) else None
    if not isinstance(raw, str) or not raw:
        raise InvalidArgumentError(f"the local directory is a path, not {local_dir!r}")
    return Path(raw)


@dataclass
class Walk:
    """The files (tree-relative path, local path, size), directories and skipped entries."""

    files: list[tuple[str, Path, int]] = field(default_factory=list)
    directories: list[str] = field(default_factory=lambda: [""])
    skipped: list[str] = field(default_factory=list)


def walk_local(root: Path) -> Walk:
    """The files, directories and skipped entries under *root* (blocking: run in a thread)."""
    found = Walk()
    pending = [("", root)]
    try:
        if not root.is_dir():
            raise LocalIOError(f"{root} is not a directory", filename=str(root))
        while pending:
            rel, directory = pending.pop()
            with os.scandir(directory) as entries:
                for entry in sorted(entries, key=lambda item: item.name):
                    child = f"{rel}/{entry.name}" if rel else entry.name
                    if entry.is_symlink():
                        found.skipped.append(child)
                    elif entry.is_dir(follow_symlinks=False):
                        found.directories.append(child)
                        pending.append((child, Path(entry.path)))
                    elif entry.is_file(follow_symlinks=False):
                        size = entry.stat(follow_symlinks=False).st_size
                        found.files.append((child, Path(entry.path), size))
                    else:
                        found.skipped.append(child)
        # Sorted: the order of the transfers (and of the reports) does not depend on the walk.
        found.files.sort()
        found.directories.sort()
        found.skipped.sort()
    except OSError as exc:
        if isinstance(exc, LocalIOError):
            raise
        raise local_error(f"cannot read the directory {root}", exc) from exc
    return found


def make_local_dirs(
    root: Path, directories: Sequence[str], files: Sequence[tuple[str, Path, int]]
) -> set[str]:
    """Create *directories* (tree-relative) under *root*; none may lead outside it.

    Answers the *files* whose place a directory already takes: `download` would write into it.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        real_root = os.path.realpath(root)
        for rel in directories:
            target = root.joinpath(*rel.split("/")) if rel else root
            target.mkdir(parents=True, exist_ok=True)
            real = os.path.realpath(target)
            # A local symbolic link (``sub -> /etc``) would carry the files outside the tree.
            if os.path.commonpath([real_root, real]) != real_root:
                raise LocalIOError(
                    f"{target} leads outside {root} (a symbolic link); not writing there",
                    filename=str(target),
                )
        return {rel for rel, path, _ in files if path.is_dir()}
    except LocalIOError:
        raise
    except OSError as exc:
        raise local_error(f"cannot create a directory under {root}", exc) from exc


class TreeProgress:
    """One progress total for the tree, fed by each file's own progress."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.reporter = TransferProgress(callback, total)
        self._callback = callback
        self._counted: dict[str, int] = {}

    def for_file(self, rel: str) -> ProgressCallback | None:
        """The progress callback of the file *rel* (``None`` without a tree callback)."""
        if self._callback is None:
            return None

        async def report(done: int, total: int | None) -> None:
            await self.advance(rel, done)

        return report

    async def advance(self, rel: str, done: int) -> None:
        """Count the file *rel* as *done* bytes through (never less than before)."""
        # Each file's count only grows (a resumed transfer is not counted twice).
        counted = self._counted.get(rel, 0)
        if done > counted:
            self._counted[rel] = done
            await self.reporter.add(done - counted)


async def pool(
    jobs: Sequence[_Job],
    concurrency: int,
    run: Callable[[_Job], Awaitable[None]],
    key: Callable[[_Job], str],
) -> tuple[list[str], dict[str, BaseException]]:
    """Run *jobs* on at most *concurrency* workers; stop taking jobs after a failure.

    Answers the keys of the jobs done and the failures; the jobs in flight when a failure
    came are let finish. Cancelling the call cancels the workers (and their transfers).
    """
    done: list[str] = []
    errors: dict[str, BaseException] = {}
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            if errors:
                return
            try:
                await run(job)
            except Exception as exc:
                errors[key(job)] = exc
            else:
                done.append(key(job))

    workers = min(concurrency, len(jobs))
    if workers == 1:
        await worker()
    elif workers:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    return done, errors
