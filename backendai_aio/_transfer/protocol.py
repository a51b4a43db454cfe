"""Pure helpers of virtual-folder transfers: folder paths, tus 1.0.0 headers, HTTP ranges.

No I/O here: `_vfolders` moves the bytes. The storage proxy speaks

- tus 1.0.0 for uploads (https://tus.io/protocols/resumable-upload): ``HEAD`` answers the
  bytes received so far in ``Upload-Offset`` (and the declared size in ``Upload-Length``);
  ``PATCH`` with ``Upload-Offset``, ``Content-Type: application/offset+octet-stream`` and
  ``Tus-Resumable: 1.0.0`` appends its body and answers ``204`` with the new offset;
- plain HTTP for downloads, with single byte ranges (RFC 9110 section 14): ``Range:
  bytes=<first>-`` answers ``206`` with ``Content-Range: bytes <first>-<last>/<length>``,
  and ``If-Range`` turns that into a full ``200`` when the file changed meanwhile.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from typing import Final, NamedTuple

from .._errors import InvalidArgumentError

__all__ = [
    "TUS_CONTENT_TYPE",
    "TUS_VERSION",
    "ContentRange",
    "FolderRef",
    "file_name",
    "folder_name",
    "folder_path",
    "parse_content_range",
    "parse_upload_offset",
    "range_headers",
    "resume_validator",
    "tus_head_headers",
    "tus_patch_headers",
]

#: The tus protocol version the storage proxy speaks (``Tus-Resumable``).
TUS_VERSION: Final = "1.0.0"
#: The media type of a tus ``PATCH`` body.
TUS_CONTENT_TYPE: Final = "application/offset+octet-stream"

# Byte counts of at most 19 digits (below 2**63): a longer number is no real size, and
# converting thousands of digits would raise (or take quadratic time).
_DIGITS = re.compile(r"[0-9]{1,19}")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)")


#: A virtual folder as calls name it: its name, or its id (text or ``uuid.UUID``).
FolderRef = str | uuid.UUID


def folder_name(name: object) -> str:
    """Check a virtual folder's name or id (text or ``uuid.UUID``): one non-empty path segment."""
    if isinstance(name, uuid.UUID):
        return str(name)
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"a virtual folder name is a non-empty string, not {name!r}")
    if "/" in name or name in (".", "..") or "\x00" in name:
        raise InvalidArgumentError(f"invalid virtual folder name {name!r}")
    return name


def folder_path(path: object, *, what: str = "path", allow_root: bool = False) -> str:
    """Normalise a path inside a virtual folder to ``a/b/c`` (``.`` for the root).

    Paths are POSIX and relative to the folder: empty and ``.`` segments are dropped, and an
    absolute path or a ``..`` segment is refused, since it would name something outside the
    folder (some storage proxies resolve such paths without checking where they lead).
    """
    raw = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(raw, str):
        raise InvalidArgumentError(f"the {what} is a string, not {path!r}")
    if "\x00" in raw:
        raise InvalidArgumentError(f"the {what} {raw!r} contains a NUL character")
    if raw.startswith("/"):
        raise InvalidArgumentError(f"the {what} {raw!r} must be relative to the folder")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidArgumentError(f"the {what} {raw!r} escapes the folder")
    if not parts:
        if allow_root:
            return "."
        raise InvalidArgumentError(f"the {what} {raw!r} names no file in the folder")
    return "/".join(parts)


def file_name(name: object, *, what: str = "name") -> str:
    """Check a bare file name (no directory part), as a rename's new name."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"the {what} is a non-empty string, not {name!r}")
    if "/" in name or name in (".", "..") or "\x00" in name:
        raise InvalidArgumentError(f"the {what} {name!r} must be a plain file name")
    return name


# -- tus -----------------------------------------------------------------------------------


def tus_head_headers() -> dict[str, str]:
    """Headers of the ``HEAD`` that asks how many bytes the server holds."""
    return {"Tus-Resumable": TUS_VERSION}


def tus_patch_headers(offset: int, length: int) -> dict[str, str]:
    """Headers of a ``PATCH`` sending *length* bytes from *offset*.

    The length is sent as ``Content-Length`` so that the body goes out as is, not chunked:
    tus servers locate the end of the chunk from it.
    """
    return {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(offset),
        "Content-Type": TUS_CONTENT_TYPE,
        "Content-Length": str(length),
    }


def parse_upload_offset(value: str | None) -> int | None:
    """The value of an ``Upload-Offset`` header; ``None`` when absent or malformed.

    Malformed covers anything but 1 to 19 decimal digits (a 5,000-digit number included).
    """
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


# -- ranges --------------------------------------------------------------------------------


class ContentRange(NamedTuple):
    """A parsed ``Content-Range: bytes first-last/length`` (*length* ``None`` for ``*``)."""

    first: int
    last: int
    length: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """Parse a ``206`` answer's ``Content-Range``; ``None`` when absent or malformed."""
    if value is None:
        return None
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first, last = int(match[1]), int(match[2])
    length = None if match[3] == "*" else int(match[3])
    if last < first or (length is not None and last >= length):
        return None
    return ContentRange(first, last, length)


def resume_validator(headers: Mapping[str, str]) -> str | None:
    """What ``If-Range`` should carry to resume this response's body: its date or ETag.

    ``Last-Modified`` comes first: the storage proxy serves files with aiohttp, which reads
    ``If-Range`` as a date only and would ignore an ETag there (honouring the range even for
    a changed file). A strong ETag serves when there is no date; a weak one never may
    (RFC 9110 section 13.1.5).
    """
    modified = headers.get("Last-Modified")
    if modified:
        return modified
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return None


def range_headers(first: int, validator: str | None) -> dict[str, str]:
    """Headers asking for the bytes from *first* on, unless the file changed since."""
    headers = {"Range": f"bytes={first}-"}
    if validator:
        headers["If-Range"] = validator
    return headers
