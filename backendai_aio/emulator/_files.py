"""File transfer with a session's work folder: upload, download, download_single, list files.

Inside a real session the work folder is ``/home/work``, the kernel's working directory; here
it is the session's own temporary folder (`EmulatedSession.workdir`). Paths are taken
relative to it; absolute paths are accepted when they lie under ``/home/work``, like the
agent's. ``..`` is folded first, as the container folds it (``a/../b`` is ``b``); a path that
then leads outside the folder (``../x``, another absolute path, a symbolic link pointing
outside) is refused with 400 ``invalid-api-params`` in the agent's words: ``malformed upload
filename and path.`` (also for the folder itself, or a target that cannot be written), ``You
cannot download files outside /home/work`` or ``You cannot list files outside /home/work``;
a missing file is ``The file is not found.``.

A transfer with a session that is not running is refused with 400 ``generic-bad-request``, and
so is an upload whose session is destroyed while it arrives: destroying a session waits for
its transfers (for a short while, then cancels them) before it removes the work folder, and an
upload never recreates a removed one.

The wire formats are described in docs/emulator.md.

The manager reads whole files into memory and refuses files of 1 MiB or more; the emulator
streams every transfer through the disk instead, so transfers of any size work and memory use
stays constant.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import tarfile
import tempfile
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

from aiohttp import BodyPartReader, hdrs, web

from ._download_methods import gate_download_method
from ._params import read_api_params
from ._problems import InternalServerError, InvalidAPIParameters, Problem
from ._releases import RELEASE_KEY
from ._sessions import (
    EmulatedSession,
    check_running,
    ensure_running,
    request_session,
)
from ._validation import check_params

__all__ = ["CONTAINER_WORKDIR", "SessionPath", "add_file_routes", "resolve_session_path"]

#: The file transfer routes of ``/session/{name}``.
routes = web.RouteTableDef()

#: Where a session's work folder is mounted inside a real session's container.
CONTAINER_WORKDIR: Final = PurePosixPath("/home/work")

# The manager's limits on the number of files per call. Both releases refuse the 21st upload
# part with 400 invalid-api-params "Too many files". Each part is handed to the agent as it
# arrives: 23.09 lets the first 20 finish, 26.9 cancels those still in progress (its task
# scope ends with the error); the emulator stores them, as 23.09 does. Six download paths:
# 26.9 answers 400 vfolder-operation-failed; 23.09 checks them with an ``assert``, which its
# handler turns into a 500 internal-server-error.
_MAX_UPLOAD_FILES: Final = 20
_MAX_DOWNLOAD_FILES: Final = 5


class _TooManyDownloads(Problem):
    """26.9's answer to more than five download paths (``VFolderBadRequest``)."""

    status, slug = 400, "vfolder-operation-failed"
    title = "Virtual folder operation has failed due to bad request."
    error_code = "vfolder_generic_bad-request"


_CHUNK_SIZE: Final = 1 << 20
_CRLF: Final = b"\r\n"

# The agent's own words for refused paths.
_BAD_UPLOAD_PATH: Final = "malformed upload filename and path."
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OUTSIDE_DOWNLOAD: Final = f"You cannot download files outside {CONTAINER_WORKDIR}"
_OUTSIDE_LIST: Final = f"You cannot list files outside {CONTAINER_WORKDIR}"
_NOT_FOUND: Final = "The file is not found."


@dataclass(frozen=True)
class SessionPath:
    """A path of a session's work folder, as the container sees it and as it lies on disk."""

    #: The absolute path inside the container, normalised (e.g. ``/home/work/data/a.csv``).
    container: PurePosixPath
    #: The same path in the emulator's work folder.
    local: Path

    @property
    def is_workdir(self) -> bool:
        """Whether this is the work folder itself."""
        return self.container == CONTAINER_WORKDIR


def resolve_session_path(workdir: Path, raw: str) -> SessionPath | None:
    """Map *raw* (relative to ``/home/work`` or absolute under it) into *workdir*.

    Returns None when the path leaves the work folder, lexically (``..``, another absolute
    path) or through a symbolic link.
    """
    if "\0" in raw:
        return None
    requested = PurePosixPath(raw)
    # normpath folds "a/../b" lexically, like the container's own path resolution does
    # before any symbolic link is looked at.
    container = PurePosixPath(os.path.normpath(CONTAINER_WORKDIR / requested))
    if not container.is_relative_to(CONTAINER_WORKDIR):
        return None
    local = workdir.joinpath(*container.relative_to(CONTAINER_WORKDIR).parts)
    # A symbolic link inside the folder may point anywhere; follow it before trusting it.
    if not local.resolve().is_relative_to(workdir.resolve()):
        return None
    return SessionPath(container=container, local=local)


def _session_path(session: EmulatedSession, raw: Any, refusal: str) -> SessionPath:
    if not isinstance(raw, str):
        raise InvalidAPIParameters(refusal)
    path = resolve_session_path(session.workdir, raw)
    if path is None:
        raise InvalidAPIParameters(refusal)
    return path


# -- upload -------------------------------------------------------------------------------


def _create_temp(workdir: Path, target: Path) -> tuple[int, Path]:
    """Create a hidden temporary file next to *target*, and the folders up to it (blocking).

    Only folders below *workdir* are made: a work folder removed meanwhile stays removed.
    """
    folder = workdir
    for name in target.parent.relative_to(workdir).parts:
        folder = folder / name
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
    temp = target.with_name(f".{target.name}.upload-{uuid.uuid4().hex}")
    # Created like any new file (mode 0666 less the umask), not 0600 as mkstemp would.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return fd, temp


def _stripped_prefix(header: str | None) -> str:
    """What aiohttp's parser dropped from the start of a quoted ``filename`` parameter.

    aiohttp strips every leading slash and backslash of a quoted value, so that
    ``filename="/etc/x"`` reads as ``etc/x``; the raw header still tells.
    """
    if not header:
        return ""
    items = [item.partition("=") for item in header.split(";")[1:]]
    keys = [key.strip().lower() for key, _, _ in items]
    if "filename*" in keys:
        return ""  # aiohttp takes the RFC 5987 form, which it does not strip
    for key, (_, sep, value) in zip(keys, items, strict=True):
        if sep and key == "filename":
            value = value.lstrip()
            if value.startswith('"'):
                inner = value[1:]
                return inner[: len(inner) - len(inner.lstrip("/\\"))]
    return ""


def _upload_filename(part: BodyPartReader) -> str | None:
    """The path a part names, as its client sent it (None: not one the emulator takes).

    An absolute name stays absolute (so it is refused unless it lies under ``/home/work``);
    one that started with a backslash is refused.
    """
    name = part.filename
    prefix = _stripped_prefix(part.headers.get(hdrs.CONTENT_DISPOSITION))
    if name is None or not prefix:
        return name
    if "\\" in prefix:
        return None
    return "/" + name


async def _receive_file(session: EmulatedSession, part: BodyPartReader, target: Path) -> None:
    """Stream one part into *target*, through a temporary file so no half file is left.

    The session is checked again after every wait: one destroyed meanwhile ends the upload.
    """
    try:
        fd, temp = await asyncio.to_thread(_create_temp, session.workdir, target)
    except OSError:
        check_running(session)
        raise InvalidAPIParameters(_BAD_UPLOAD_PATH) from None
    try:
        with os.fdopen(fd, "wb") as sink:
            while chunk := await part.read_chunk(_CHUNK_SIZE):
                check_running(session)
                try:
                    data = part.decode(chunk)
                except (RuntimeError, ValueError):
                    # An unknown or broken Content-Transfer-Encoding.
                    raise InvalidAPIParameters("Malformed body") from None
                await asyncio.to_thread(sink.write, data)
        check_running(session)
        try:
            await asyncio.to_thread(os.replace, temp, target)
        except OSError:
            # The target is an existing folder, or the like.
            check_running(session)
            raise InvalidAPIParameters(_BAD_UPLOAD_PATH) from None
    except BaseException:
        # Synchronous on purpose: this also runs when the handler is cancelled, and removing a
        # file is quick.
        _discard(temp)
        raise


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@routes.post("/session/{name}/upload")
async def _upload(request: web.Request) -> web.Response:
    session = await ensure_running(request_session(request))
    if not request.content_type.startswith("multipart/"):
        raise InvalidAPIParameters("Malformed body")
    with session.transfer():
        try:
            reader = await request.multipart()
        except (KeyError, ValueError):
            raise InvalidAPIParameters("Malformed body") from None
        count = 0
        while True:
            try:
                part = await reader.next()
            except ValueError:
                raise InvalidAPIParameters("Malformed body") from None
            check_running(session)
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                # A nested multipart: not a file.
                raise InvalidAPIParameters("Malformed body")
            if count == _MAX_UPLOAD_FILES:
                raise InvalidAPIParameters("Too many files")
            count += 1
            path = _session_path(session, _upload_filename(part), _BAD_UPLOAD_PATH)
            if path.is_workdir:
                raise InvalidAPIParameters(_BAD_UPLOAD_PATH)
            await _receive_file(session, part, path.local)
    return web.Response(status=204)


# -- download -----------------------------------------------------------------------------


def _archive(path: SessionPath) -> IO[bytes]:
    """Write a tar archive of *path* to an anonymous temporary file (blocking; a thread's job).

    Like ``docker cp``: the archive holds the path under its base name, a folder with its
    whole content (symbolic links are stored as links, never followed).
    """
    # Closed by the caller once sent (it owns the file from here).
    sink = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        with tarfile.open(fileobj=sink, mode="w") as archive:
            archive.add(
                path.local, arcname=path.container.name, recursive=True, filter=_whole_seconds
            )
        sink.seek(0)
    except BaseException:
        sink.close()
        raise
    return sink


def _whole_seconds(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Container archives keep whole-second times; a fractional one would make tarfile add a
    # PAX header to every member.
    info.mtime = int(info.mtime)
    return info


def _size(stream: IO[bytes]) -> int:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    return size


async def _send_file(response: web.StreamResponse, source: IO[bytes], size: int) -> None:
    """Copy *size* bytes of *source* into *response*, a chunk at a time."""
    remaining = size
    while remaining > 0:
        chunk = await asyncio.to_thread(source.read, min(_CHUNK_SIZE, remaining))
        if not chunk:
            raise OSError("the file shrank while it was being sent")
        remaining -= len(chunk)
        await response.write(chunk)


def _part_head(boundary: bytes, size: int) -> bytes:
    # The manager appends each archive to an aiohttp MultipartWriter with
    # Content-Encoding: identity; these are the headers the writer then sends.
    lines = [
        b"--" + boundary,
        b"Content-Type: application/octet-stream",
        b"Content-Encoding: identity",
        b"Content-Length: %d" % size,
        b"",
        b"",
    ]
    return _CRLF.join(lines)


async def _download(request: web.Request) -> web.StreamResponse:
    session = request_session(request)
    params = await read_api_params(request)
    files = params.get("files")
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        check_params({"files": "is required" if files is None else "value is not a list"})
    assert isinstance(files, list)
    await ensure_running(session)
    if len(files) > _MAX_DOWNLOAD_FILES:
        if request.app[RELEASE_KEY].name == "23.09":
            raise InternalServerError()
        raise _TooManyDownloads(f"Too many files (maximum {_MAX_DOWNLOAD_FILES} files allowed)")
    paths = [_session_path(session, raw, _OUTSIDE_DOWNLOAD) for raw in files]
    with session.transfer():
        return await _send_archives(request, paths)


async def _send_archives(request: web.Request, paths: list[SessionPath]) -> web.StreamResponse:
    """Answer a ``multipart/mixed`` body of one tar archive per path."""
    for path in paths:
        if not await asyncio.to_thread(path.local.exists):
            raise InvalidAPIParameters(_NOT_FOUND)
    with contextlib.ExitStack() as open_files:
        archives: list[IO[bytes]] = []
        for path in paths:
            try:
                archive = await asyncio.to_thread(_archive, path)
            except FileNotFoundError:
                # Removed meanwhile.
                raise InvalidAPIParameters(_NOT_FOUND) from None
            archives.append(open_files.enter_context(archive))
        sizes = [_size(archive) for archive in archives]
        boundary = uuid.uuid4().hex.encode("ascii")
        closing = b"--" + boundary + b"--" + _CRLF
        length = len(closing) + sum(
            len(_part_head(boundary, size)) + size + len(_CRLF) for size in sizes
        )
        response = web.StreamResponse(status=200)
        response.headers["Content-Type"] = f"multipart/mixed; boundary={boundary.decode()}"
        response.content_length = length
        await response.prepare(request)
        for archive, size in zip(archives, sizes, strict=True):
            await response.write(_part_head(boundary, size))
            await _send_file(response, archive, size)
            await response.write(_CRLF)
        await response.write(closing)
        await response.write_eof()
        return response


async def _download_single(request: web.Request) -> web.StreamResponse:
    session = request_session(request)
    params = await read_api_params(request)
    raw = params.get("file")
    if not isinstance(raw, str):
        check_params({"file": "is required" if raw is None else "value is not a string"})
    await ensure_running(session)
    path = _session_path(session, raw, _OUTSIDE_DOWNLOAD)
    with session.transfer():
        return await _send_single(request, path)


async def _send_single(request: web.Request, path: SessionPath) -> web.StreamResponse:
    """Answer the raw bytes of the file at *path*."""
    try:
        source = await asyncio.to_thread(path.local.open, "rb")
    except OSError:
        # Missing, or a folder: the agent finds no file to extract from the archive.
        raise InvalidAPIParameters(_NOT_FOUND) from None
    with source:
        info = os.fstat(source.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InvalidAPIParameters(_NOT_FOUND)
        response = web.StreamResponse(status=200)
        response.content_type = "application/octet-stream"
        response.content_length = info.st_size
        await response.prepare(request)
        await _send_file(response, source, info.st_size)
        await response.write_eof()
        return response


# -- list files ---------------------------------------------------------------------------


def _listing(folder: Path) -> tuple[str, str]:
    """Describe the entries of *folder* as the agent's listing script prints them.

    Returns (stdout, stderr): the JSON text and a newline, or nothing and the error.
    """
    try:
        entries = []
        with os.scandir(folder) as scan:
            for entry in scan:
                info = entry.stat(follow_symlinks=False)
                entries.append(
                    {
                        "mode": stat.filemode(info.st_mode),
                        "size": info.st_size,
                        "ctime": info.st_ctime,
                        "mtime": info.st_mtime,
                        "atime": info.st_atime,
                        "filename": entry.name,
                    }
                )
    except OSError as exc:
        # The script dies with a traceback on its stderr; its last line names the error.
        return "", "".join(traceback.format_exception_only(exc))
    return json.dumps(entries) + "\n", ""


@routes.get("/session/{name}/files")
async def _list_files(request: web.Request) -> web.Response:
    session = request_session(request)
    params = await read_api_params(request)
    raw = params.get("path", ".")
    if not isinstance(raw, str):
        check_params({"path": "value is not a string"})
    await ensure_running(session)
    path = _session_path(session, raw, _OUTSIDE_LIST)
    files, errors = await asyncio.to_thread(_listing, path.local)
    return web.json_response({"files": files, "errors": errors, "abspath": raw})


# Managers up to 24.03 route the downloads as GET (with a JSON body, which the official client
# sends); newer ones route them as POST. Each release profile lets its own method through (see
# _download_methods).
for _method in ("GET", "POST"):
    routes.route(_method, "/session/{name}/download")(gate_download_method(_download))
    routes.route(_method, "/session/{name}/download_single")(gate_download_method(_download_single))


def add_file_routes(app: web.Application) -> None:
    """Install the file transfer routes of ``/session/{name}``."""
    app.add_routes(routes)
