"""Safe extraction of tar archives received from a server (blocking; run it in a thread).

Every member passes Python's ``data`` extraction filter, and a check for absolute paths,
*before* anything is written, so an archive with an absolute path, a ``..`` escape, a link
pointing outside the destination or a device file is refused whole and leaves the
destination untouched.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

__all__ = ["UnsafeArchiveError", "extract_safely"]


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the destination, or is not a plain file."""


def extract_safely(archive: Path, dest: Path) -> list[str]:
    """Extract *archive* into *dest*; return the member names; raise UnsafeArchiveError."""
    dest.mkdir(parents=True, exist_ok=True)
    root = str(dest.resolve())
    try:
        with tarfile.open(archive) as tar:
            members = []
            for member in tar.getmembers():
                if member.name.startswith(("/", "\\")) or Path(member.name).is_absolute():
                    # The data filter would quietly strip the slash; a server sending an
                    # absolute path is misbehaving, so the archive is refused instead.
                    raise UnsafeArchiveError(
                        f"refused the archive: member {member.name!r} has an absolute path"
                    )
                if ".." in member.name.replace("\\", "/").split("/"):
                    # Checked by name, before anything exists: "link/../x" through a link the
                    # archive itself makes could not be resolved until it is written.
                    raise UnsafeArchiveError(
                        f"refused the archive: member {member.name!r} has a '..' component"
                    )
                try:
                    checked = tarfile.data_filter(member, root)
                except tarfile.FilterError as exc:
                    raise UnsafeArchiveError(
                        f"refused the archive: member {member.name!r}: {exc}"
                    ) from exc
                if checked is not None:
                    members.append(checked)
            # The filter runs again member by member as it writes (the links it checked
            # before now exist), so a crafted sequence cannot slip through either.
            tar.extractall(root, members=members, filter="data")
            return [member.name for member in members]
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"refused the archive: {exc}") from exc
    except tarfile.TarError as exc:
        raise UnsafeArchiveError(f"not a readable tar archive: {exc}") from exc
