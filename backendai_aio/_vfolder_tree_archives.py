"""`download_tree`'s small files in zip archives, on managers that serve them (26.9 and later).

Each batch that `plan_archives` makes is one ``request-download-archive`` and one download,
through the folder handle's own `download_archive` (resumed with ``Range`` where the proxy
allows it), spooled beside the tree and removed once its files are written. An archive that
cannot be had (an older manager, a failed request, a broken archive) is no failure: its files
go back to the single-file downloads. Only a local write failure ends the tree transfer, naming
its file.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import BackendError
from ._timeouts import TimeoutArg
from ._transfer.tree_archives import FileJob, extract_listed, plan_archives
from ._transfer.trees import TreeProgress, pool

if TYPE_CHECKING:
    from ._vfolder_trees import _Folder  # the folder calls the tree calls are made of

__all__ = ["fetch_archives"]

_log = logging.getLogger("backendai_aio")


async def fetch_archives(
    folder: _Folder,
    files: Sequence[FileJob],
    folder_paths: Sequence[str],
    root: Path,
    reporter: TreeProgress,
    *,
    concurrency: int,
    max_attempts: int,
    timeout: TimeoutArg,
) -> tuple[list[str], dict[str, BaseException], list[int]]:
    """Fetch what `plan_archives` batches of *files*; the rest is left to the caller.

    Answers the tree-relative paths written, the failures (by tree-relative path), and the
    indices of the files to download one by one (too large, or their archive failed).
    """
    batches, singles = plan_archives(files, folder_paths)
    landed: list[str] = []
    leftover = list(singles)
    named: dict[str, BaseException] = {}

    async def fetch(batch: list[int]) -> None:
        spool = root / f".backendai-archive-{secrets.token_hex(8)}.zip"
        try:
            try:
                await folder.download_archive(
                    [folder_paths[index] for index in batch],
                    spool,
                    max_attempts=max_attempts,
                    timeout=timeout,
                )
            except BackendError as exc:
                _log.info(
                    "an archive of %d files failed; fetching them one by one: %s", len(batch), exc
                )
                leftover.extend(batch)
                return
            extracted = await asyncio.to_thread(extract_listed, spool, files, folder_paths, batch)
        finally:
            await asyncio.to_thread(spool.unlink, missing_ok=True)
        landed.extend(extracted.landed)
        sizes = {files[index][0]: files[index][2] for index in batch}
        for rel in extracted.landed:
            await reporter.advance(rel, sizes[rel])
        leftover.extend(extracted.leftover)
        if extracted.failure is not None:
            rel, error = extracted.failure
            named[rel] = error
            raise error  # no new archive is started

    _, errors = await pool(batches, concurrency, fetch, lambda batch: files[batch[0]][0])
    failures = dict(named)
    for key, error in errors.items():
        if not any(error is known for known in named.values()):
            failures.setdefault(key, error)
    return landed, failures, sorted(leftover)
