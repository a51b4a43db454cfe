"""Where a download lands: the destination path, and a file replaced only once complete.

The bytes go to a hidden temporary file beside the destination, moved over it with
``os.replace`` once complete, so a failed download never leaves a truncated file under the
destination's name. The file gets the mode a new file gets (the umask decides), or the mode
of the file it replaces. Blocking: run these in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import IO, Final

from .._errors import InvalidArgumentError, LocalIOError

__all__ = ["AtomicFile", "local_error", "resolve_destination", "temp_name"]

_NEW_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
# A temporary name keeps at most this many bytes of the final one: with the prefix and suffix
# it stays within the 255 bytes most file systems allow in one name.
_KEPT_NAME_BYTES: Final = 200


def temp_name(name: str) -> str:
    """The hidden name a file is written under beside *name*, before it replaces *name*.

    Random, so that concurrent downloads of one name never share a temporary file; a very
    long *name* is left out of it rather than making it too long for the file system.
    """
    kept = name if len(os.fsencode(name)) <= _KEPT_NAME_BYTES else ""
    return f".{kept}.{secrets.token_hex(4)}.part"


def local_error(what: str, exc: OSError) -> LocalIOError:
    """A [`LocalIOError`][backendai_aio.LocalIOError] for *exc*, raised while doing *what*."""
    filename = None if exc.filename is None else os.fsdecode(exc.filename)
    error = LocalIOError(f"{what}: {exc.strerror or exc}", errno=exc.errno, filename=filename)
    error.__cause__ = exc
    return error


def resolve_destination(dest: str | os.PathLike[str], remote: str) -> Path:
    """The file to write for a download of *remote* (a POSIX path) to *dest*.

    *dest* is a file path, or a folder to put the file in under its own name: an existing
    folder, or any path ending in ``/`` (created with its parents as needed).
    """
    raw = os.fspath(dest) if isinstance(dest, str | os.PathLike) else None
    if not isinstance(raw, str) or not raw:
        raise InvalidArgumentError(f"the destination is a path, not {dest!r}")
    target = Path(raw)
    name = remote.rstrip("/").rpartition("/")[2]
    if raw.endswith(("/", os.sep)):
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise local_error(f"cannot create the destination folder {target}", exc) from exc
    try:
        if target.is_dir():
            if not name:
                raise InvalidArgumentError(f"{remote!r} has no file name to store it under")
            target = target / name
        if target.is_dir():
            raise LocalIOError(
                f"the destination {target} is a folder", errno=errno.EISDIR, filename=str(target)
            )
        if not target.parent.is_dir():
            raise LocalIOError(
                f"the destination folder {target.parent} does not exist",
                errno=errno.ENOENT,
                filename=str(target.parent),
            )
    except LocalIOError:
        raise
    except OSError as exc:
        # A name too long, for one: is_dir() answers False only for a missing path.
        raise local_error(f"cannot write {target}", exc) from exc
    return target


class AtomicFile:
    """A temporary file beside *target*, moved over it by `commit`."""

    def __init__(self, target: Path) -> None:
        #: The path the file will have once committed.
        self.target = target
        try:
            info = os.stat(target)
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise local_error(f"cannot write {target}", exc) from exc
        else:
            if stat.S_ISDIR(info.st_mode):
                raise LocalIOError(
                    f"the destination {target} is a folder",
                    errno=errno.EISDIR,
                    filename=str(target),
                )
            mode = stat.S_IMODE(info.st_mode)
        while True:
            temp = target.parent / temp_name(target.name)
            try:
                # Created with 0o666: the kernel applies the umask, as for any new file.
                fd = os.open(temp, _NEW_FILE_FLAGS, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise local_error(f"cannot write to {target.parent}", exc) from exc
            break
        self._temp = temp
        try:
            if mode is not None:
                os.chmod(fd, mode)
            #: The open temporary file.
            self.file: IO[bytes] = os.fdopen(fd, "wb")
        except OSError as exc:
            os.close(fd)
            self._remove()
            raise local_error(f"cannot write {target}", exc) from exc

    def __repr__(self) -> str:
        return f"<AtomicFile target={str(self.target)!r}>"

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._temp)

    def commit(self) -> None:
        """Close the file and move it into place."""
        try:
            self.file.close()
            os.replace(self._temp, self.target)
        except OSError as exc:
            self._remove()
            raise local_error(f"cannot store the download as {self.target}", exc) from exc

    def abort(self) -> None:
        """Close and remove the file; the destination stays as it was."""
        with contextlib.suppress(OSError):
            self.file.close()
        self._remove()
