"""The shapes of the manager's virtual-folder answers, as ``TypedDict`` s.

An answer is returned as the server sent it, not rebuilt. The keys marked ``NotRequired``
are those some manager releases leave out (``num_files`` on 26.9, which says ``numFiles``;
``volume_info`` before 22.09); other keys than those listed may be present.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "VFolderClone",
    "VFolderEntry",
    "VFolderFileItem",
    "VFolderFileListing",
    "VFolderHosts",
    "VFolderInfo",
    "VFolderInvitation",
    "VFolderInvitations",
    "VFolderShared",
    "VFolderSharedEntry",
    "VFolderSharedUser",
]


class VFolderEntry(TypedDict):
    """A folder as ``GET /folders`` lists it and ``POST /folders`` answers it."""

    #: The folder's name.
    name: str
    #: Its id (hex).
    id: str
    #: ``user:<uuid>`` or ``project:<uuid>``.
    quota_scope_id: NotRequired[str]
    #: The storage host (``local:volume1``).
    host: str
    #: ``ready``, ``delete-pending``, ...
    status: str
    #: ``general``, ``model`` or ``data``.
    usage_mode: str
    #: When it was created.
    created_at: NotRequired[str]
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
    user_email: NotRequired[str | None]
    #: The owning project's name.
    group_name: NotRequired[str | None]
    #: ``user`` or ``group``.
    ownership_type: str
    #: ``user`` or ``group`` (older name of ``ownership_type``).
    type: NotRequired[str]
    #: Whether it may be cloned.
    cloneable: NotRequired[bool]
    #: The most files it may hold.
    max_files: NotRequired[int]
    #: Its size limit (MiB), if any.
    max_size: NotRequired[int | None]
    #: Its size as last measured.
    cur_size: NotRequired[int]


class VFolderInfo(TypedDict):
    """A folder's details, ``GET /folders/{name}``."""

    #: The folder's name.
    name: str
    #: Its id (hex).
    id: str
    #: The storage host.
    host: str
    #: ``user:<uuid>`` or ``project:<uuid>``.
    quota_scope_id: NotRequired[str]
    #: ``ready``, ...
    status: str
    #: The entries it holds (directories count too).
    num_files: NotRequired[int]
    #: The same, as older managers name it.
    numFiles: NotRequired[int]
    #: The bytes it uses.
    used_bytes: int
    #: When it was created.
    created: NotRequired[str]
    #: The same, as newer managers name it.
    created_at: NotRequired[str]
    #: When a session last mounted it.
    last_used: NotRequired[str]
    #: The owning user's id.
    user: NotRequired[str | None]
    #: The owning project's id.
    group: NotRequired[str | None]
    #: ``user`` or ``group``.
    type: NotRequired[str]
    #: Whether the caller owns it.
    is_owner: bool
    #: The caller's permission: ``ro``, ``rw`` or ``wd``.
    permission: str
    #: ``general``, ``model`` or ``data``.
    usage_mode: str
    #: Whether it may be cloned.
    cloneable: NotRequired[bool]
    #: Its size limit (MiB), if any.
    max_size: NotRequired[int | None]
    #: Its size as last measured.
    cur_size: NotRequired[int]


class VFolderHosts(TypedDict):
    """The storage hosts a user may create folders on, ``GET /folders/_/hosts``."""

    #: The host a folder goes to by default.
    default: str
    #: The hosts allowed.
    allowed: list[str]
    #: Per host: its ``backend``, ``capabilities``, ``usage``, ...
    volume_info: NotRequired[dict[str, dict[str, Any]]]


class VFolderFileItem(TypedDict):
    """One entry of a folder directory's listing."""

    #: The entry's name (no directory part).
    name: str
    #: ``FILE``, ``DIRECTORY`` or ``SYMLINK``.
    type: str
    #: Its size in bytes.
    size: int
    #: Its permission bits, in octal text (``644``).
    mode: NotRequired[str]
    #: Its whole ``st_mode``.
    st_mode: NotRequired[int]
    #: When it was created (ISO 8601).
    created: NotRequired[str]
    #: When it was last modified (ISO 8601).
    modified: NotRequired[str]


class VFolderFileListing(TypedDict):
    """A folder directory's listing, ``GET /folders/{name}/files``."""

    #: The entries.
    items: list[VFolderFileItem]
    #: A legacy JSON text of the entries, from older managers.
    files: NotRequired[str]


class VFolderInvitation(TypedDict):
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


class VFolderInvitations(TypedDict):
    """Invitations, ``GET /folders/invitations/list`` (or ``list-sent``)."""

    #: The invitations.
    invitations: list[VFolderInvitation]


class VFolderClone(TypedDict):
    """A folder made by `clone`, ``POST /folders/{name}/clone``."""

    #: The new folder's id (hex).
    id: str
    #: The new folder's name.
    name: str
    #: Its storage host.
    host: str
    #: ``general``, ``model`` or ``data``.
    usage_mode: str
    #: ``ro``, ``rw`` or ``wd``.
    permission: str
    #: Whether it can be cloned in turn.
    cloneable: bool
    #: The background task copying the files (when the manager copies in the background).
    bgtask_id: NotRequired[str]


class VFolderSharedUser(TypedDict):
    """Whom a folder is shared with."""

    #: The user's id.
    uuid: str
    #: The user's email.
    email: str


class VFolderSharedEntry(TypedDict):
    """One folder shared with one user, in ``GET /folders/_/shared``."""

    #: The folder's id.
    vfolder_id: str
    #: The folder's name.
    vfolder_name: str
    #: The folder's status (``ready``, ...).
    status: str
    #: The owner's email (a user folder) or the project's name.
    owner: str
    #: ``user`` or ``project`` (``group`` on older managers).
    type: str
    #: The user it is shared with.
    shared_to: VFolderSharedUser
    #: The permission granted: ``ro``, ``rw`` or ``wd``.
    perm: str


class VFolderShared(TypedDict):
    """``GET /folders/_/shared``: the shares the caller can see."""

    #: One entry per folder and user it is shared with.
    shared: list[VFolderSharedEntry]
