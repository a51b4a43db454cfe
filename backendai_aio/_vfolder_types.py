"""The shapes of the manager's virtual-folder answers, as ``TypedDict`` s.

Every key is optional (``total=False``): manager releases differ in what they add or drop,
and an answer is returned as the server sent it, not rebuilt. The keys listed are those the
releases this SDK speaks with send; others may be present.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "VFolderEntry",
    "VFolderFileItem",
    "VFolderFileListing",
    "VFolderHosts",
    "VFolderInfo",
    "VFolderInvitation",
    "VFolderInvitations",
]


class VFolderEntry(TypedDict, total=False):
    """A folder as ``GET /folders`` lists it and ``POST /folders`` answers it."""

    #: The folder's name.
    name: str
    #: Its id (hex).
    id: str
    #: ``user:<uuid>`` or ``project:<uuid>``.
    quota_scope_id: str
    #: The storage host (``local:volume1``).
    host: str
    #: ``ready``, ``delete-pending``, ...
    status: str
    #: ``general``, ``model`` or ``data``.
    usage_mode: str
    #: When it was created.
    created_at: str
    #: Whether the caller owns it.
    is_owner: bool
    #: The caller's permission: ``ro``, ``rw`` or ``wd``.
    permission: str
    #: The owning user's id, for a user folder.
    user: str | None
    #: The owning project's id, for a project folder.
    group: str | None
    #: The creator's email.
    creator: str
    #: The owning user's email.
    user_email: str | None
    #: The owning project's name.
    group_name: str | None
    #: ``user`` or ``group``.
    ownership_type: str
    #: ``user`` or ``group`` (older name of ``ownership_type``).
    type: str
    #: Whether it may be cloned.
    cloneable: bool
    #: The most files it may hold.
    max_files: int
    #: Its size limit (MiB), if any.
    max_size: int | None
    #: Its size as last measured.
    cur_size: int


class VFolderInfo(TypedDict, total=False):
    """A folder's details, ``GET /folders/{name}``."""

    #: The folder's name.
    name: str
    #: Its id (hex).
    id: str
    #: The storage host.
    host: str
    #: ``user:<uuid>`` or ``project:<uuid>``.
    quota_scope_id: str
    #: ``ready``, ...
    status: str
    #: The entries it holds (directories count too).
    num_files: int
    #: The same, as older managers name it.
    numFiles: int
    #: The bytes it uses.
    used_bytes: int
    #: When it was created.
    created: str
    #: The same, as newer managers name it.
    created_at: str
    #: When a session last mounted it.
    last_used: str
    #: The owning user's id.
    user: str | None
    #: The owning project's id.
    group: str | None
    #: ``user`` or ``group``.
    type: str
    #: Whether the caller owns it.
    is_owner: bool
    #: The caller's permission: ``ro``, ``rw`` or ``wd``.
    permission: str
    #: ``general``, ``model`` or ``data``.
    usage_mode: str
    #: Whether it may be cloned.
    cloneable: bool
    #: Its size limit (MiB), if any.
    max_size: int | None
    #: Its size as last measured.
    cur_size: int


class VFolderHosts(TypedDict, total=False):
    """The storage hosts a user may create folders on, ``GET /folders/_/hosts``."""

    #: The host a folder goes to by default.
    default: str
    #: The hosts allowed.
    allowed: list[str]
    #: Per host: its ``backend``, ``capabilities``, ``usage``, ...
    volume_info: dict[str, dict[str, Any]]


class VFolderFileItem(TypedDict, total=False):
    """One entry of a folder directory's listing."""

    #: The entry's name (no directory part).
    name: str
    #: ``FILE``, ``DIRECTORY`` or ``SYMLINK``.
    type: str
    #: Its size in bytes.
    size: int
    #: Its permission bits, in octal text (``644``).
    mode: str
    #: Its whole ``st_mode``.
    st_mode: int
    #: When it was created (ISO 8601).
    created: str
    #: When it was last modified (ISO 8601).
    modified: str


class VFolderFileListing(TypedDict, total=False):
    """A folder directory's listing, ``GET /folders/{name}/files``."""

    #: The entries.
    items: list[VFolderFileItem]
    #: A legacy JSON text of the entries, from older managers.
    files: str


class VFolderInvitation(TypedDict, total=False):
    """One invitation to share a folder."""

    #: The invitation's id (to accept or delete it).
    id: str
    #: The inviter's email.
    inviter: str
    #: The invitee's email.
    invitee: str
    #: The permission offered: ``ro``, ``rw`` or ``wd``.
    perm: str
    #: ``pending``, ...
    state: str
    #: The folder's id.
    vfolder_id: str
    #: The folder's name.
    vfolder_name: str


class VFolderInvitations(TypedDict, total=False):
    """Invitations, ``GET /folders/invitations/list`` (or ``list-sent``)."""

    #: The invitations.
    invitations: list[VFolderInvitation]
