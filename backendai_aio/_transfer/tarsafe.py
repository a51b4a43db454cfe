"""Safe extraction of tar archives received from a server (blocking; run it in a thread).

The archive is checked whole before anything is written, by rules of this module's own
(the interpreter's extraction filters are neither used nor needed, so extraction behaves
the same on every Python this package supports):

- a member's name is relative and has no ``..`` component;
- only directories, regular files, symbolic links and hard links are accepted;
- nothing is written *through* a symbolic link, whether the archive makes it or it exists
  in the destination already: every parent of a member must be a real directory;
- a symbolic link's target is relative and, resolved step by step from where the link
  stands (never through another link), stays inside the destination;
- a hard link names a regular file of the same archive, and is written as a copy of it.

An archive breaking a rule is refused whole (`UnsafeArchiveError`) and leaves the
destination untouched. While writing, each parent folder is opened component by component
without following links (``O_NOFOLLOW`` relative to the folder above, no ``realpath``), so a
path longer than ``PATH_MAX`` or a link swapped in meanwhile cannot redirect a write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from .destination import temp_name
from .sizes import CHUNK_SIZE

__all__ = ["UnsafeArchiveError", "extract_safely"]

_DIR: Final = "directory"
_FILE: Final = "file"
_LINK: Final = "symlink"
# A directory opened to walk through, never following a link at its last component.
_WALK_FLAGS: Final = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_WRITE_FLAGS: Final = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the destination, or is not a plain file."""


def _refuse(member: tarfile.TarInfo, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"refused the archive: member {member.name!r} {why}")


def _parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    """The checked components of a member's name."""
    name = member.name
    if "\x00" in name:
        raise _refuse(member, "has a NUL character in its name")
    if name.startswith(("/", "\\")) or Path(name).is_absolute() or name[1:3] == ":\\":
        raise _refuse(member, "has an absolute path")
    raw = name.replace("\\", "/").split("/")
    if ".." in raw:
        # Checked by name, before anything exists: "link/../x" through a link the archive
        # itself makes could not be resolved until it is written.
        raise _refuse(member, "has a '..' component")
    parts = tuple(part for part in raw if part not in ("", "."))
    if not parts:
        raise _refuse(member, "names the destination itself")
    return parts


def _names_root(name: str) -> bool:
    return all(part in ("", ".") for part in name.replace("\\", "/").split("/"))


def _kind(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return _DIR
    if member.issym():
        return _LINK
    if member.isreg() or member.islnk():
        return _FILE
    raise _refuse(member, "is a device, pipe or other special file")


def _on_disk(root: Path, parts: tuple[str, ...]) -> str | None:
    """What already exists at *parts* under *root*, looked up one component at a time.

    Each folder is opened relative to the one above without following links, so no path
    longer than ``PATH_MAX`` is ever formed.
    """
    fd = os.open(root, _WALK_FLAGS)
    try:
        for index, part in enumerate(parts):
            try:
                info = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            except OSError as exc:
                # Unreadable, or an impossible name: nothing of the archive may go there.
                return f"unusable entry ({exc.strerror or exc})"
            if stat.S_ISLNK(info.st_mode):
                return _LINK
            if not stat.S_ISDIR(info.st_mode):
                return _FILE if index == len(parts) - 1 else "file"
            if index < len(parts) - 1:
                inner = os.open(part, _WALK_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = inner
        return _DIR
    finally:
        os.close(fd)


class _Plan:
    """What the archive makes, checked against itself and against the destination."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kinds: dict[tuple[str, ...], str] = {}
        # The regular member holding each file's bytes, a hard link resolved by this
        # module's own rules (tarfile's lookup normalises names differently).
        self.contents: dict[tuple[str, ...], tarfile.TarInfo] = {}

    def kind_at(self, parts: tuple[str, ...]) -> str | None:
        return self.kinds[parts] if parts in self.kinds else _on_disk(self.root, parts)

    def add(self, member: tarfile.TarInfo) -> tuple[tuple[str, ...], tarfile.TarInfo | None]:
        """Check *member*; return its name's parts and the member holding its bytes."""
        parts = _parts(member)
        kind = _kind(member)
        for depth in range(1, len(parts)):
            above = self.kind_at(parts[:depth])
            if above == _LINK:
                raise _refuse(
                    member, f"would be written through the link {'/'.join(parts[:depth])!r}"
                )
            if above not in (None, _DIR):
                raise _refuse(member, f"lies under {'/'.join(parts[:depth])!r}, not a directory")
            self.kinds.setdefault(parts[:depth], _DIR)
        existing = self.kind_at(parts)
        if existing is not None and existing != kind:
            # A folder replaced by a link (or the reverse) is how writes get redirected.
            raise _refuse(member, f"would replace a {existing} with a {kind}")
        content = member if member.isreg() else None
        if member.islnk():
            content = self.contents.get(_link_parts(member))
            if content is None:
                raise _refuse(member, "is a hard link to something other than a file before it")
        self.kinds[parts] = kind
        if content is not None:
            self.contents[parts] = content
        return parts, content

    def check_symlink(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        """Resolve a link's target step by step from its folder; it must stay inside."""
        target = member.linkname
        if not target or "\x00" in target:
            raise _refuse(member, "is a link without a usable target")
        if target.startswith(("/", "\\")) or Path(target).is_absolute() or target[1:3] == ":\\":
            raise _refuse(member, f"links to the absolute path {target!r}")
        place = list(parts[:-1])
        steps = [step for step in target.replace("\\", "/").split("/") if step not in ("", ".")]
        for index, step in enumerate(steps):
            if step == "..":
                if not place:
                    raise _refuse(member, f"links out of the destination ({target!r})")
                place.pop()
                continue
            place.append(step)
            if index < len(steps) - 1 and self.kind_at(tuple(place)) == _LINK:
                # Where a link through a link leads depends on both; some such chains lead
                # out although each looks harmless alone.
                raise _refuse(member, f"links through another link ({target!r})")


def _link_parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    steps = member.linkname.replace("\\", "/").split("/")
    return tuple(step for step in steps if step not in ("", "."))


@contextlib.contextmanager
def _folder(root_fd: int, parts: tuple[str, ...]) -> Iterator[int]:
    """Open (creating as needed) the folder *parts* below *root_fd*, following no link."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=fd)
            try:
                inner = os.open(part, _WALK_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise UnsafeArchiveError(
                    f"refused the archive: {part!r} is not a plain folder: {exc.strerror or exc}"
                ) from None
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def _write(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    parts: tuple[str, ...],
    content: tarfile.TarInfo | None,
    root_fd: int,
) -> None:
    kind = _kind(member)
    with _folder(root_fd, parts if kind == _DIR else parts[:-1]) as fd:
        if kind == _DIR:
            return
        name = parts[-1]
        if kind == _LINK:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
            os.symlink(member.linkname, name, dir_fd=fd)
            return
        # The checked plan gives every file (a hard link too) a regular member to copy, and
        # tarfile always has a reader for a regular member.
        assert content is not None
        source = tar.extractfile(content)
        assert source is not None
        # A fresh file, written beside its name and moved over it once complete (the
        # destination contract of every download): a failure never leaves a truncated file
        # under the name, and writing into an existing file would also write through its
        # other hard links, wherever they are.
        temp = temp_name(name)
        # Owner-executable files stay executable; the umask decides the rest.
        mode = 0o777 if member.mode & stat.S_IXUSR else 0o666
        out = os.open(temp, _WRITE_FLAGS, mode, dir_fd=fd)
        try:
            with source, os.fdopen(out, "wb") as sink:
                while block := source.read(CHUNK_SIZE):
                    sink.write(block)
            os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=fd)
            raise


def extract_safely(archive: Path, dest: Path) -> list[str]:
    """Extract *archive* into *dest*; return the member names; raise UnsafeArchiveError.

    Local failures (*dest* not writable, a platform without ``dir_fd``) raise ``OSError``.
    """
    # os.replace takes the same folder descriptors as os.rename, which is the one listed.
    if not {os.open, os.stat, os.mkdir, os.symlink, os.unlink, os.rename} <= os.supports_dir_fd:
        raise OSError(
            errno.ENOSYS, "extracting archives safely needs folder-relative file calls (POSIX)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.abspath(dest))
    try:
        with tarfile.open(archive) as tar:
            # A folder entry for the archive's root ("./", as `tar -C dir .` writes) is dest.
            members = [
                member
                for member in tar.getmembers()
                if not (member.isdir() and _names_root(member.name))
            ]
            plan = _Plan(root)
            placed = [(member, *plan.add(member)) for member in members]
            for member, parts, _ in placed:
                if member.issym():
                    plan.check_symlink(member, parts)
            root_fd = os.open(root, _WALK_FLAGS)
            try:
                for member, parts, content in placed:
                    _write(tar, member, parts, content, root_fd)
            finally:
                os.close(root_fd)
            return [member.name for member in members]
    except tarfile.TarError as exc:
        raise UnsafeArchiveError(f"not a readable tar archive: {exc}") from exc
