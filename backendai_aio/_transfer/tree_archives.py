"""Many small files of a tree download in a few zip archives: the plan, and the extraction.

A manager of the 26.9 line serves ``request-download-archive``: one token, and one answer from
the storage proxy, for a list of files. A tree of many small files is dominated by the
per-file token (on 26.9.6 the manager spends 20-30 ms of CPU on each), so `plan_archives`
puts the small files in batches, one archive each, and leaves the large ones to the
single-file download (ranged and resumable, and not deflated by the proxy on the way).

`extract_listed` writes an archive's files where the listing says, each through a temporary
file moved into place. It never takes a path from the archive itself: each member is looked up
by the folder path the listing gave, and a member that is missing or not the listed size is
handed back for the single-file download, as are all the files of an archive that cannot be
read.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .._errors import LocalIOError
from .destination import AtomicFile, local_error

__all__ = ["ARCHIVE_MAX_FILE", "Extracted", "FileJob", "extract_listed", "plan_archives"]

#: A file of a tree: its tree-relative path, local destination and listed size.
FileJob = tuple[str, Path, int]

#: Files larger than this go one by one.
ARCHIVE_MAX_FILE: Final = 1 << 20
#: The bytes of one archive: few enough that a broken one costs little to fetch again, and
#: that *concurrency* archives in flight stay small on disk.
_ARCHIVE_BYTES: Final = 16 << 20
#: The bytes of folder paths in one archive. The 26.9.6 storage proxy's token carries the
#: list in the download URL, and an aiohttp server refuses a request line over 8 KiB.
_NAME_BUDGET: Final = 3000
#: Fewer files than this in a batch are not worth an archive (which cannot be resumed).
_MIN_FILES: Final = 8
_COPY_BLOCK: Final = 1 << 20


def plan_archives(
    files: Sequence[FileJob], folder_paths: Sequence[str]
) -> tuple[list[list[int]], list[int]]:
    """Batches of small files for archives, and the files to download one by one.

    *folder_paths* holds each file's path in the folder. Both answers hold indices into
    *files*, in order.
    """
    batches: list[list[int]] = []
    singles: list[int] = []
    batch: list[int] = []
    size = names = 0
    for index, (_, _, file_size) in enumerate(files):
        if file_size > ARCHIVE_MAX_FILE:
            singles.append(index)
            continue
        # A JSON string with its quotes and separator: about what the token carries.
        name = len(folder_paths[index].encode()) + 3
        if batch and (size + file_size > _ARCHIVE_BYTES or names + name > _NAME_BUDGET):
            batches.append(batch)
            batch, size, names = [], 0, 0
        batch.append(index)
        size += file_size
        names += name
    if batch:
        batches.append(batch)
    archived = [found for found in batches if len(found) >= _MIN_FILES]
    singles.extend(index for found in batches if len(found) < _MIN_FILES for index in found)
    return archived, sorted(singles)


@dataclass
class Extracted:
    """What `extract_listed` did with an archive's files."""

    #: The tree-relative paths written.
    landed: list[str] = field(default_factory=list)
    #: Indices (into the files given) to download one by one instead.
    leftover: list[int] = field(default_factory=list)
    #: The file whose writing failed, and why; nothing after it was written.
    failure: tuple[str, LocalIOError] | None = None


def extract_listed(
    archive: Path, files: Sequence[FileJob], folder_paths: Sequence[str], indices: Sequence[int]
) -> Extracted:
    """Write the files *indices* of *files* from *archive* (blocking: run it in a thread)."""
    result = Extracted()
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile):
        result.leftover.extend(indices)
        return result
    with zf:
        members = {info.filename: info for info in zf.infolist()}
        for position, index in enumerate(indices):
            rel, path, size = files[index]
            info = members.get(folder_paths[index])
            if info is None or info.is_dir() or info.file_size != size:
                result.leftover.append(index)  # changed since the listing, or left out
                continue
            try:
                _extract(zf, info, path)
            except LocalIOError as error:
                result.failure = (rel, error)
                return result
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
                result.leftover.extend(indices[position:])  # the rest cannot be trusted
                return result
            result.landed.append(rel)
    return result


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    sink = AtomicFile(path)
    try:
        with zf.open(info) as member:
            while block := member.read(_COPY_BLOCK):
                try:
                    sink.file.write(block)
                except OSError as exc:
                    raise local_error(f"cannot write {path}", exc) from exc
        sink.commit()
    except BaseException:
        sink.abort()
        raise
