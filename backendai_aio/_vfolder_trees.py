"""Whole directories in and out of a virtual folder: `FolderTrees.upload_tree`, `download_tree`.

Each file goes through the handle's own single-file `upload` or `download`, so it is streamed,
resumed and (for downloads) written atomically as those calls do; these calls add the walk, the
directories, one progress total for the tree, and a pool of at most *concurrency* files in
flight at once (never one task per file: a tree of a million files holds *concurrency* open
files). Many small files are dominated by round trips (a token from the manager, then the
storage proxy), which the pool overlaps on the client's reused connections.

Links are never followed: a symbolic link in the local tree is skipped (listed in
`TreeResult.skipped`), and so is an entry the server lists as ``SYMLINK``. A listing entry
whose name is not a plain file name (``..``, ``a/b``) is refused before anything is written.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from ._apiversion import ApiVersion
from ._errors import (
    BackendError,
    InvalidArgumentError,
    LocalIOError,
    ResponseError,
)
from ._results import vfolder_entries
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transfer.policy import backoff, token_refused
from ._transfer.progress import ProgressCallback
from ._transfer.protocol import folder_path
from ._transfer.sizes import UPLOAD_CHUNK_SIZE
from ._transfer.trees import (
    TreeProgress,
    Walk,
    join,
    leaf_directories,
    local_root,
    make_local_dirs,
    pool,
    walk_local,
)
from ._transport import Transport
from ._vfolder_lifecycle import ARCHIVE_API_VERSION
from ._vfolder_types import VFolderFileListing, VFolderInfo

__all__ = ["FolderTrees", "TreeResult", "TreeTransferError"]

#: Files in flight at once by default: enough to hide the round trips of small files.
DEFAULT_TREE_CONCURRENCY = 8
_DEFAULT_MAX_ATTEMPTS = 5

PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class TreeResult:
    """What `upload_tree` or `download_tree` transferred; paths are relative to the tree."""

    #: The files transferred, as POSIX paths relative to the tree's root.
    files: tuple[str, ...]
    #: The directories created (or found), relative to the tree's root (``""`` is the root).
    directories: tuple[str, ...]
    #: The bytes of all the files.
    bytes: int
    #: Entries left out: symbolic links, and local special files (sockets, devices, FIFOs).
    skipped: tuple[str, ...] = ()


class TreeTransferError(BackendError):
    """A file (or directory) of a tree transfer failed; `path` names it.

    The files already transferred stay in place (`completed`), the ones in flight were let
    finish, and no new file was started. The original error is the ``__cause__`` (and in
    `errors`, with any other file's that failed meanwhile); `type` and `status` are its.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        completed: Sequence[str],
        errors: dict[str, BaseException],
        **fields: Any,
    ) -> None:
        super().__init__(message, **fields)
        #: The (first) file that failed, relative to the tree's root; for a directory that
        #: could not be listed or created, its path in the folder.
        self.path = path
        #: The tree-relative paths of the files transferred completely.
        self.completed = tuple(completed)
        #: Every failure, by tree-relative path.
        self.errors = dict(errors)


class _Folder(Protocol):
    """The single-file calls of `VFolder` that the tree calls are made of."""

    @property
    def name(self) -> str: ...

    _transport: Transport
    allow_http_storage_proxy: bool

    async def info(self, *, timeout: TimeoutArg = ...) -> VFolderInfo: ...

    async def upload(
        self,
        source: Any,
        target_path: PathArg | None = None,
        *,
        size: int | None = None,
        progress: ProgressCallback | None = None,
        chunk_size: int = ...,
        max_attempts: int = ...,
        timeout: TimeoutArg = ...,
    ) -> int: ...

    async def download(
        self,
        path: PathArg,
        dest: PathArg,
        *,
        progress: ProgressCallback | None = None,
        max_attempts: int = ...,
        timeout: TimeoutArg = ...,
    ) -> Path: ...

    async def list_files(
        self, path: PathArg = ".", *, timeout: TimeoutArg = ...
    ) -> VFolderFileListing: ...

    async def download_archive(
        self,
        paths: PathArg | Sequence[PathArg],
        dest: PathArg,
        *,
        progress: ProgressCallback | None = None,
        max_attempts: int = ...,
        timeout: TimeoutArg = ...,
    ) -> Path: ...

    async def mkdir(
        self,
        path: PathArg,
        *,
        parents: bool = False,
        exist_ok: bool = False,
        timeout: TimeoutArg = ...,
    ) -> Any: ...


#: The first API version whose folder paths take an id as well as a name (24.03).
_IDS_API_VERSION: Final = ApiVersion(8, "20240315")


async def _by_id(folder: _Folder, timeout: TimeoutArg) -> _Folder:
    """A handle naming *folder* by its id, for the per-file calls; *folder* itself if unknown.

    A manager resolves a folder's id with less work than its name (on 26.9.6 a
    ``request-download`` by id takes about two thirds of the time of one by name), and a
    tree makes one token request per file.
    """
    from ._vfolder import VFolder  # a cycle at import time: VFolder is built on this module

    transport = folder._transport  # noqa: SLF001 - the handle's own, for the same folder
    # 23.09 names folders in paths by name only (an id there is "No such virtual folder.").
    if await transport.negotiate(timeout) < _IDS_API_VERSION:
        return folder
    try:
        info = await folder.info(timeout=timeout)
        folder_id = uuid.UUID(str(info["id"]))
    except (BackendError, KeyError, TypeError, ValueError):
        # No id to be had (an older manager, or no right to the details): names work too.
        return folder
    return VFolder(transport, folder_id, allow_http_storage_proxy=folder.allow_http_storage_proxy)


async def _serves_archives(folder: _Folder, timeout: TimeoutArg) -> bool:
    """Whether the manager serves ``request-download-archive`` (the 26.9 line)."""
    transport = folder._transport  # noqa: SLF001 - the handle's own, for the same folder
    return await transport.negotiate(timeout) >= ARCHIVE_API_VERSION


def _check_concurrency(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(f"concurrency is a positive number of files: {value!r}")
    return value


def _raise_failure(what: str, completed: list[str], errors: dict[str, BaseException]) -> None:
    if not errors:
        return
    path, cause = next(iter(errors.items()))
    others = len(errors) - 1
    more = f" ({others} other file{'s' if others > 1 else ''} failed too)" if others else ""
    fields: dict[str, Any] = {}
    if isinstance(cause, BackendError):
        fields = {"status": cause.status, "method": cause.method, "url": cause.url}
    error = TreeTransferError(
        f"{what} {path!r} failed: {cause}{more}",
        path=path,
        completed=completed,
        errors=errors,
        **fields,
    )
    if isinstance(cause, BackendError):
        error.type = cause.type
        error.maybe_applied = cause.maybe_applied
    raise error from cause


class FolderTrees:
    """The whole-directory calls of a [`VFolder`][backendai_aio.VFolder] handle."""

    async def upload_tree(
        self: _Folder,
        local_dir: PathArg,
        remote_dir: PathArg = "",
        *,
        concurrency: int = DEFAULT_TREE_CONCURRENCY,
        progress: ProgressCallback | None = None,
        chunk_size: int = UPLOAD_CHUNK_SIZE,
        max_attempts: int = _DEFAULT_MAX_ATTEMPTS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> TreeResult:
        """Upload the directory *local_dir*, recursively, to *remote_dir* in the folder.

        The directories are created first (empty ones too), then the files go up at most
        *concurrency* at a time, each as `upload` sends one (resumed after a dropped
        connection, up to *max_attempts* tries without progress). Existing files are
        replaced. ``progress(done, total)`` follows the bytes of the whole tree. Symbolic links
        are skipped, never followed, as are sockets, devices and FIFOs (see
        `TreeResult.skipped`). A failure raises
        [`TreeTransferError`][backendai_aio.TreeTransferError] naming the file, once the files
        in flight are done; the files uploaded stay.
        """
        workers = _check_concurrency(concurrency)
        base = folder_path(remote_dir, what="remote directory", allow_root=True)
        root = local_root(local_dir)
        tree = await asyncio.to_thread(walk_local, root)
        handle = await _by_id(self, timeout)
        leaves = [leaf for leaf in leaf_directories(tree.directories) if join(base, leaf) != "."]
        reporter = TreeProgress(progress, sum(size for _, _, size in tree.files))

        async def make_dir(rel: str) -> None:
            path = join(base, rel)
            await handle.mkdir(path, parents=True, exist_ok=True, timeout=timeout)

        done, errors = await pool(leaves, workers, make_dir, lambda rel: join(base, rel))
        _raise_failure("creating the directory", [], errors)

        async def send(job: tuple[str, Path, int]) -> None:
            rel, path, size = job
            retry = 0
            while True:
                try:
                    await handle.upload(
                        path,
                        join(base, rel),
                        progress=reporter.for_file(rel),
                        chunk_size=chunk_size,
                        max_attempts=max_attempts,
                        timeout=timeout,
                    )
                    break
                except BackendError as exc:
                    if not token_refused(exc, retry):
                        raise
                    retry += 1
                    await asyncio.sleep(backoff(retry, random.random()))
            await reporter.advance(rel, size)

        done, errors = await pool(tree.files, workers, send, lambda job: job[0])
        _raise_failure("the upload of", done, errors)
        return TreeResult(
            files=tuple(rel for rel, _, _ in tree.files),
            directories=tuple(tree.directories),
            bytes=reporter.reporter.total or 0,
            skipped=tuple(tree.skipped),
        )

    async def download_tree(
        self: _Folder,
        remote_dir: PathArg,
        local_dir: PathArg,
        *,
        concurrency: int = DEFAULT_TREE_CONCURRENCY,
        progress: ProgressCallback | None = None,
        max_attempts: int = _DEFAULT_MAX_ATTEMPTS,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> TreeResult:
        """Download the directory *remote_dir* of the folder, recursively, into *local_dir*.

        The listing is read first (*concurrency* directories at a time), every directory is
        created under *local_dir* (empty ones too), then the files come down at most
        *concurrency* at a time, each as `download` writes one: beside its destination, moved
        into place once complete, resumed with ``Range``. On a manager of the 26.9 line the
        files of up to 1 MiB come in zip archives instead, each holding up to 16 MiB of them
        (one token for many files; the archive is spooled in *local_dir* under a hidden name
        and removed); a file missing from its archive, or an archive that fails, comes one by
        one as above. Existing files are replaced. ``progress(done, total)`` follows the
        bytes of the whole tree (the total is the listing's; a file from an archive counts
        once it is written). Entries the server lists as symbolic links are skipped; an entry
        whose name is not a plain file name raises
        [`TreeTransferError`][backendai_aio.TreeTransferError] (from a `ResponseError`) before
        any file is written, and so does a local symbolic link leading out of *local_dir*.
        A failed file raises it too, naming the file, once the files in flight are done; the
        files downloaded stay.
        """
        workers = _check_concurrency(concurrency)
        base = folder_path(remote_dir, what="remote directory", allow_root=True)
        root = local_root(local_dir)
        handle = await _by_id(self, timeout)
        tree = Walk()
        level = [""]
        while level:
            found: list[str] = []

            async def scan(rel: str, found: list[str] = found) -> None:
                listing = await handle.list_files(join(base, rel), timeout=timeout)
                for entry in vfolder_entries(listing):
                    name = entry.name
                    if not name or "/" in name or name in (".", "..") or "\x00" in name:
                        raise ResponseError(
                            f"the listing of {join(base, rel)!r} names {name!r}, "
                            "which is not a plain file name",
                            body=entry.raw,
                        )
                    child = f"{rel}/{name}" if rel else name
                    if entry.type == "DIRECTORY":
                        found.append(child)
                    elif entry.type == "FILE":
                        tree.files.append((child, root.joinpath(*child.split("/")), entry.size))
                    else:
                        tree.skipped.append(child)

            _, errors = await pool(level, workers, scan, lambda rel: join(base, rel))
            _raise_failure("listing the directory", [], errors)
            tree.directories.extend(found)
            level = found
        tree.files.sort()
        taken = await asyncio.to_thread(make_local_dirs, root, tree.directories, tree.files)
        reporter = TreeProgress(progress, sum(size for _, _, size in tree.files))
        jobs = tree.files
        landed: list[str] = []
        if await _serves_archives(handle, timeout):
            # Small files come in a few archives; a failed archive's files come one by one.
            archivable = [job for job in jobs if job[0] not in taken]
            # Imported on first use: the transfer machinery is slow to import.
            from ._vfolder_tree_archives import fetch_archives

            landed, errors, leftover = await fetch_archives(
                handle,
                archivable,
                [join(base, rel) for rel, _, _ in archivable],
                root,
                reporter,
                concurrency=workers,
                max_attempts=max_attempts,
                timeout=timeout,
            )
            _raise_failure("the download of", landed, errors)
            jobs = sorted(
                [job for job in jobs if job[0] in taken] + [archivable[i] for i in leftover]
            )

        async def fetch(job: tuple[str, Path, int]) -> None:
            rel, path, size = job
            if rel in taken:
                raise LocalIOError(
                    f"the destination {path} is a directory", errno=errno.EISDIR, filename=str(path)
                )
            await handle.download(
                join(base, rel),
                path,
                progress=reporter.for_file(rel),
                max_attempts=max_attempts,
                timeout=timeout,
            )
            await reporter.advance(rel, size)

        done, errors = await pool(jobs, workers, fetch, lambda job: job[0])
        _raise_failure("the download of", landed + done, errors)
        return TreeResult(
            files=tuple(rel for rel, _, _ in tree.files),
            directories=tuple(sorted(tree.directories)),
            bytes=reporter.reporter.total or 0,
            skipped=tuple(sorted(tree.skipped)),
        )
